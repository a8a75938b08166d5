// Writing a backup directory atomically: everything goes into DIR/.chroma_backup_<ts>.partial-<pid>/,
// manifest.json last, then fsync and rename to DIR/chroma_backup_<ts>/. Leftovers of killed runs
// keep their .partial name (never mistaken for a backup) and are removed by the next run.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backup/backup_format.hpp"
#include "backup/manifest.hpp"
#include "core/sink.hpp"

namespace c2p {

// Removes DIR/.chroma_backup_*.partial-<pid> directories whose process is gone; returns how many.
size_t clean_partial_backups(const std::string &out_dir);

// True for a name a backup run uses while it is being written.
bool is_partial_backup_name(const std::string &dir_name);

class BackupDirectory {
public:
    // Creates `out_dir` if needed, cleans dead leftovers, creates the partial directory.
    explicit BackupDirectory(const std::string &out_dir);
    // Removes the partial directory unless commit() succeeded.
    ~BackupDirectory();
    BackupDirectory(const BackupDirectory &) = delete;
    BackupDirectory &operator=(const BackupDirectory &) = delete;

    const std::string &partial_path() const { return partial_; }
    std::time_t started_at() const { return started_; }
    // Writes manifest.json, fsyncs, renames to chroma_backup_<ts> (suffix -N if taken); returns the final path.
    std::string commit(const Manifest &m);

private:
    std::string out_dir_, partial_, ts_;
    std::time_t started_;
    bool committed_ = false;
};

// The sink that writes one collection into every requested format at once.
class BackupSink : public Sink {
public:
    BackupSink(std::string dir, std::vector<BackupFormat> formats, int zstd_level);
    void begin(const CollectionInfo &c) override;
    void write(const RecordBatch &batch) override;
    void finish() override;
    void abort() noexcept override;
    // Valid after finish(): the manifest entry (record_count and dimension as written).
    const ManifestCollection &result() const { return result_; }
    uint64_t bytes_written() const;

private:
    std::string dir_;
    std::vector<BackupFormat> formats_;
    int zstd_level_;
    std::vector<std::unique_ptr<FormatWriter>> writers_;
    std::vector<std::string> names_;
    ManifestCollection result_;
    uint64_t records_ = 0;
    uint32_t dim_seen_ = 0;
};

} // namespace c2p
