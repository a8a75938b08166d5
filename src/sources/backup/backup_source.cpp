#include "sources/backup/backup_source.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "backup/backup_file_reader.hpp"
#include "backup/backup_writer.hpp"
#include "util/error.hpp"

namespace c2p {
namespace fs = std::filesystem;

namespace {

// Streams a file of the backup; at the end, checks size, SHA-256 and counts (a damaged backup fails the run).
class BackupBatchReader : public BatchReader {
public:
    BackupBatchReader(const std::string &dir, const ManifestFile &f, const CollectionInfo &c, size_t batch)
        : reader_(dir, f, c), batch_(batch), expected_(c.record_count), name_(c.name), path_(dir + "/" + f.path) {}

    bool next(RecordBatch &out) override {
        if (reader_.next(out, batch_)) return true;
        if (!finished_) {
            finished_ = true;
            reader_.finish();
            if (reader_.records() != expected_)
                throw DataError(fmt::format("{}: holds {} records, collection '{}' has {} in the manifest", path_,
                                            reader_.records(), name_, expected_));
        }
        return false;
    }

private:
    BackupFileReader reader_;
    size_t batch_;
    uint64_t expected_;
    std::string name_, path_;
    bool finished_ = false;
};

int preference(const std::string &format) {
    if (format == "jsonl") return 0;
    if (format == "json") return 1;
    return 2;
}

} // namespace

BackupSource::BackupSource(std::string dir) : dir_(std::move(dir)) {
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
    if (is_partial_backup_name(fs::path(dir_).filename().string()))
        throw DataError(dir_ + ": an unfinished backup (interrupted before it completed); it cannot be read");
    manifest_ = read_manifest(dir_);
}

nlohmann::ordered_json BackupSource::details() const {
    return {{"kind", "chroma2pg-backup"},
            {"path", dir_},
            {"created_at", manifest_.created_at},
            {"tool_version", manifest_.tool_version},
            {"backed_up_from", manifest_.source},
            {"original_source", manifest_.source_details}};
}

std::vector<CollectionInfo> BackupSource::list_collections() {
    std::vector<CollectionInfo> out;
    for (const auto &mc : manifest_.collections) {
        CollectionInfo c = mc.info;
        nlohmann::ordered_json d = c.details;
        c.details = {{"source", "chroma2pg-backup"}, {"backup", dir_}, {"backup_created_at", manifest_.created_at},
                     {"original", d}};
        out.push_back(std::move(c));
    }
    return out;
}

std::unique_ptr<BatchReader> BackupSource::read(const CollectionInfo &c, size_t batch_size) {
    for (const auto &mc : manifest_.collections) {
        if (mc.info.id != c.id || mc.info.name != c.name) continue;
        const ManifestFile *best = nullptr;
        for (const auto &f : mc.files)
            if (!best || preference(f.format) < preference(best->format)) best = &f;
        if (!best) throw DataError(fmt::format("{}: collection '{}' has no data file in the manifest", dir_, c.name));
        return std::make_unique<BackupBatchReader>(dir_, *best, mc.info, batch_size);
    }
    throw DataError(fmt::format("{}: collection '{}' ({}) is not in this backup", dir_, c.name, c.id));
}

bool is_backup_dir(const std::string &path) {
    std::error_code ec;
    return fs::is_regular_file(fs::path(path) / kManifestName, ec);
}

std::unique_ptr<Source> open_backup_source(const std::string &dir, const SourceOptions &) {
    return std::make_unique<BackupSource>(dir);
}

} // namespace c2p
