// A backup data file being read: streaming zstd decompression, SHA-256 and size of the bytes on disk.
#pragma once

#include <cstdint>
#include <string>

#include "util/sha256.hpp"

namespace c2p {

class InputFile {
public:
    // `zstd`: decompress (the file is one or more zstd frames). Throws EnvError if it cannot be opened.
    InputFile(std::string path, bool zstd);
    ~InputFile();
    InputFile(const InputFile &) = delete;
    InputFile &operator=(const InputFile &) = delete;

    // Next line without its '\n'. False at the end. A final line with no '\n' is returned and
    // flagged by last_line_unterminated(). Damage in the zstd stream throws DataError.
    bool read_line(std::string &line);
    bool last_line_unterminated() const { return unterminated_; }
    // Exactly n bytes or a DataError ("ends early").
    void read_exact(char *dst, size_t n);
    // True when every decoded byte has been consumed.
    bool at_end();
    // Reads (and hashes) whatever is left on disk; then the totals of the bytes on disk.
    void drain();
    uint64_t disk_bytes() const { return disk_bytes_; }
    std::string sha256_hex() { return sha_.hex_final(); }
    uint64_t decoded_offset() const { return consumed_; }
    const std::string &path() const { return path_; }

private:
    bool fill(); // false when nothing more can be decoded
    std::string path_;
    int fd_ = -1;
    void *dctx_ = nullptr;
    bool raw_eof_ = false;
    bool frame_open_ = false;
    std::string raw_, buf_;
    size_t raw_pos_ = 0, pos_ = 0;
    uint64_t consumed_ = 0, disk_bytes_ = 0;
    bool unterminated_ = false;
    Sha256 sha_;
};

} // namespace c2p
