#include <filesystem>

#include "sources/http/chroma_http_source.hpp"
#include "sources/source.hpp"
#include "util/error.hpp"

namespace c2p {

// Defined by the persistent-directory and backup readers.
bool is_persistent_dir(const std::string &path);
std::unique_ptr<Source> open_persistent_source(const std::string &dir, const SourceOptions &opts);
bool is_backup_dir(const std::string &path);
std::unique_ptr<Source> open_backup_source(const std::string &dir, const SourceOptions &opts);

std::unique_ptr<Source> open_source(const std::string &spec, const SourceOptions &opts) {
    if (spec.rfind("http://", 0) == 0 || spec.rfind("https://", 0) == 0)
        return std::make_unique<ChromaHttpSource>(spec, opts);
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(spec, ec))
        throw UsageError("--from " + spec + ": no such directory, and not an http(s):// URL");
    if (!fs::is_directory(spec, ec))
        throw UsageError("--from " + spec + ": not a directory (give the Chroma persistent directory that holds "
                         "chroma.sqlite3, a chroma2pg backup directory, or a server URL)");
    if (is_backup_dir(spec)) return open_backup_source(spec, opts);
    if (is_persistent_dir(spec)) return open_persistent_source(spec, opts);
    throw UsageError("--from " + spec + ": neither a Chroma persistent directory (no chroma.sqlite3) nor a chroma2pg "
                     "backup (no manifest.json)");
}

std::unique_ptr<Source> open_worker_source(Source &main, const std::string &spec, SourceOptions opts) {
    if (auto shared = main.share()) return shared;
    opts.plan_ahead = false;
    return open_source(spec, opts);
}

} // namespace c2p
