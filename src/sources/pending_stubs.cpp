// Temporary: replaced by the persistent-directory and backup readers as they land.
#include <filesystem>
#include "sources/source.hpp"
#include "util/error.hpp"
namespace c2p {
bool is_persistent_dir(const std::string &p) { return std::filesystem::exists(std::filesystem::path(p) / "chroma.sqlite3"); }
std::unique_ptr<Source> open_persistent_source(const std::string &d, const SourceOptions &) {
    throw UsageError("reading persistent directories is not built yet: " + d);
}
bool is_backup_dir(const std::string &p) { return std::filesystem::exists(std::filesystem::path(p) / "manifest.json"); }
std::unique_ptr<Source> open_backup_source(const std::string &d, const SourceOptions &) {
    throw UsageError("reading backups is not built yet: " + d);
}
}
