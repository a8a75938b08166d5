#include "backup/backup_writer.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "backup/output_file.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/utc_time.hpp"

namespace c2p {
namespace fs = std::filesystem;

namespace {

constexpr const char *kPartialPrefix = ".chroma_backup_";
constexpr const char *kPartialMarker = ".partial-";

bool pid_alive(long pid) {
    if (pid <= 0) return false;
    if (::kill(static_cast<pid_t>(pid), 0) == 0) return true;
    return errno == EPERM;
}

} // namespace

bool is_partial_backup_name(const std::string &n) {
    return n.rfind(kPartialPrefix, 0) == 0 && n.find(kPartialMarker) != std::string::npos;
}

size_t clean_partial_backups(const std::string &out_dir) {
    size_t removed = 0;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(out_dir, ec)) {
        std::string name = e.path().filename().string();
        if (!is_partial_backup_name(name) || !e.is_directory()) continue;
        std::string pid_text = name.substr(name.rfind(kPartialMarker) + std::strlen(kPartialMarker));
        long pid = std::strtol(pid_text.c_str(), nullptr, 10);
        if (pid_alive(pid) && pid != static_cast<long>(::getpid())) {
            log::info("partial_in_use", fmt::format("{}: a backup by process {} is still being written; left alone",
                                                    e.path().string(), pid), {{"path", e.path().string()}});
            continue;
        }
        std::error_code rec;
        fs::remove_all(e.path(), rec);
        if (rec) {
            log::warn("partial_cleanup_failed", fmt::format("cannot remove the leftover {}: {}", e.path().string(),
                                                            rec.message()), {{"path", e.path().string()}});
            continue;
        }
        ++removed;
        log::info("partial_removed",
                  fmt::format("removed {}: the leftover of an interrupted backup (process {} is gone)",
                              e.path().string(), pid),
                  {{"path", e.path().string()}, {"pid", pid}});
    }
    return removed;
}

BackupDirectory::BackupDirectory(const std::string &out_dir) : out_dir_(out_dir), started_(std::time(nullptr)) {
    std::error_code ec;
    fs::create_directories(out_dir_, ec);
    if (ec) throw EnvError("cannot create the backup directory " + out_dir_ + ": " + ec.message());
    if (!fs::is_directory(out_dir_)) throw UsageError("--out " + out_dir_ + " is not a directory");
    clean_partial_backups(out_dir_);
    ts_ = utc_compact(started_);
    partial_ = (fs::path(out_dir_) / fmt::format("{}{}{}{}", kPartialPrefix, ts_, kPartialMarker, ::getpid())).string();
    if (::mkdir(partial_.c_str(), 0755) != 0)
        throw EnvError("cannot create " + partial_ + ": " + std::strerror(errno));
}

BackupDirectory::~BackupDirectory() {
    if (committed_) return;
    std::error_code ec;
    fs::remove_all(partial_, ec);
}

std::string BackupDirectory::commit(const Manifest &m) {
    {
        OutputFile mf(partial_ + "/" + kManifestName, 0);
        std::string text = manifest_to_json(m).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
        text.push_back('\n');
        mf.write(text);
        mf.finish();
    }
    fsync_dir(partial_);
    for (int n = 0; n < 1000; ++n) {
        std::string final_path =
            (fs::path(out_dir_) / (n == 0 ? "chroma_backup_" + ts_ : fmt::format("chroma_backup_{}-{}", ts_, n))).string();
        // RENAME_NOREPLACE: never replace (or merge into) an existing backup.
        if (::renameat2(AT_FDCWD, partial_.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) == 0) {
            committed_ = true;
            fsync_dir(out_dir_);
            return final_path;
        }
        if (errno != EEXIST && errno != ENOTEMPTY)
            throw EnvError("cannot rename " + partial_ + " to " + final_path + ": " + std::strerror(errno));
    }
    throw EnvError("cannot find a free backup name in " + out_dir_);
}

BackupSink::BackupSink(std::string dir, std::vector<BackupFormat> formats, int zstd_level)
    : dir_(std::move(dir)), formats_(std::move(formats)), zstd_level_(zstd_level) {}

void BackupSink::begin(const CollectionInfo &c) {
    result_ = ManifestCollection{};
    result_.info = c;
    result_.info.warnings.clear();
    writers_.clear();
    names_.clear();
    records_ = 0;
    dim_seen_ = 0;
    std::string stem = safe_file_stem(c.name, c.id);
    for (auto f : formats_) {
        std::string name = stem + "." + format_extension(f) + (zstd_level_ > 0 ? ".zst" : "");
        names_.push_back(name);
        writers_.push_back(make_format_writer(f, dir_ + "/" + name, zstd_level_));
        writers_.back()->begin(c);
    }
}

void BackupSink::write(const RecordBatch &b) {
    if (b.empty()) return;
    if (dim_seen_ == 0) dim_seen_ = b.dim;
    else if (b.dim != dim_seen_)
        throw DataError(fmt::format("collection '{}': a batch has {} dimensions, earlier ones {}", result_.info.name,
                                    b.dim, dim_seen_));
    for (auto &w : writers_) w->write(b);
    records_ += b.size();
}

void BackupSink::finish() {
    for (size_t i = 0; i < writers_.size(); ++i) {
        WrittenFile wf = writers_[i]->finish();
        result_.files.push_back(ManifestFile{names_[i], format_name(formats_[i]),
                                             zstd_level_ > 0 ? "zstd" : "none", wf.bytes, wf.sha256,
                                             writers_[i]->records()});
    }
    writers_.clear();
    result_.info.record_count = records_;
    if (dim_seen_) result_.info.dimension = dim_seen_;
}

void BackupSink::abort() noexcept { writers_.clear(); }

uint64_t BackupSink::bytes_written() const {
    uint64_t n = 0;
    for (const auto &f : result_.files) n += f.bytes;
    return n;
}

} // namespace c2p
