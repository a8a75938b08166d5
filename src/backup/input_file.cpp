#include "backup/input_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <zstd.h>

#include "util/error.hpp"

namespace c2p {
namespace {
constexpr size_t kChunk = 1 << 20;
}

InputFile::InputFile(std::string path, bool zstd) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw EnvError("cannot open " + path_ + ": " + std::strerror(errno));
    if (zstd) {
        dctx_ = ZSTD_createDCtx();
        if (!dctx_) throw EnvError("zstd: cannot create a decompression context");
    }
}

InputFile::~InputFile() {
    if (dctx_) ZSTD_freeDCtx(static_cast<ZSTD_DCtx *>(dctx_));
    if (fd_ >= 0) ::close(fd_);
}

bool InputFile::fill() {
    // Drop consumed bytes so the buffer stays O(chunk).
    if (pos_ > 0) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    for (;;) {
        if (raw_pos_ >= raw_.size() && !raw_eof_) {
            raw_.resize(kChunk);
            ssize_t n;
            do n = ::read(fd_, raw_.data(), kChunk);
            while (n < 0 && errno == EINTR);
            if (n < 0) throw EnvError("cannot read " + path_ + ": " + std::strerror(errno));
            raw_.resize(static_cast<size_t>(n));
            raw_pos_ = 0;
            if (n == 0) raw_eof_ = true;
            sha_.update(raw_.data(), raw_.size());
            disk_bytes_ += static_cast<uint64_t>(n);
        }
        if (raw_pos_ >= raw_.size()) {
            if (dctx_ && frame_open_)
                throw DataError(fmt::format("{}: the zstd stream ends early (file truncated at {} bytes)", path_,
                                            disk_bytes_));
            return false;
        }
        if (!dctx_) {
            buf_.append(raw_, raw_pos_, std::string::npos);
            raw_pos_ = raw_.size();
            return true;
        }
        size_t before = buf_.size();
        buf_.resize(before + ZSTD_DStreamOutSize());
        ZSTD_inBuffer in{raw_.data(), raw_.size(), raw_pos_};
        ZSTD_outBuffer out{buf_.data() + before, buf_.size() - before, 0};
        size_t rc = ZSTD_decompressStream(static_cast<ZSTD_DCtx *>(dctx_), &out, &in);
        if (ZSTD_isError(rc))
            throw DataError(fmt::format("{}: damaged zstd data near disk byte {}: {}", path_,
                                        disk_bytes_ - (raw_.size() - raw_pos_), ZSTD_getErrorName(rc)));
        raw_pos_ = in.pos;
        frame_open_ = rc != 0;
        buf_.resize(before + out.pos);
        if (out.pos > 0) return true;
    }
}

bool InputFile::read_line(std::string &line) {
    line.clear();
    size_t scan = pos_;
    for (;;) {
        size_t nl = buf_.find('\n', scan);
        if (nl != std::string::npos) {
            line.assign(buf_, pos_, nl - pos_);
            consumed_ += nl + 1 - pos_;
            pos_ = nl + 1;
            return true;
        }
        size_t have = buf_.size() - pos_;
        if (!fill()) {
            if (buf_.size() == pos_) return false;
            line.assign(buf_, pos_, std::string::npos);
            consumed_ += buf_.size() - pos_;
            pos_ = buf_.size();
            unterminated_ = true;
            return true;
        }
        scan = pos_ + have; // fill() moved pos_ to 0
    }
}

void InputFile::read_exact(char *dst, size_t n) {
    while (buf_.size() - pos_ < n) {
        if (!fill())
            throw DataError(fmt::format("{}: ends early (needed {} more bytes at decoded offset {})", path_, n,
                                        consumed_));
    }
    std::memcpy(dst, buf_.data() + pos_, n);
    pos_ += n;
    consumed_ += n;
}

bool InputFile::at_end() {
    if (pos_ < buf_.size()) return false;
    return !fill();
}

void InputFile::drain() {
    while (fill()) {
        consumed_ += buf_.size() - pos_;
        pos_ = buf_.size();
    }
}

} // namespace c2p
