// A backup data file being written: optional streaming zstd, SHA-256 and size of the bytes on disk, fsync on finish.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/sha256.hpp"

namespace c2p {

struct WrittenFile {
    uint64_t bytes = 0;  // on disk (compressed when zstd)
    std::string sha256;  // of the bytes on disk
};

class OutputFile {
public:
    // Creates `path` (must not exist). `zstd_level` 0 = no compression.
    OutputFile(std::string path, int zstd_level);
    ~OutputFile();
    OutputFile(const OutputFile &) = delete;
    OutputFile &operator=(const OutputFile &) = delete;

    void write(std::string_view data);
    // Ends the zstd frame, flushes, fsyncs and closes.
    WrittenFile finish();
    const std::string &path() const { return path_; }

private:
    void write_raw(const char *p, size_t n);
    std::string path_;
    int fd_ = -1;
    void *cctx_ = nullptr;
    std::string zbuf_;
    Sha256 sha_;
    uint64_t bytes_ = 0;
};

// fsyncs a directory so a rename or new entry in it is durable.
void fsync_dir(const std::string &dir);

} // namespace c2p
