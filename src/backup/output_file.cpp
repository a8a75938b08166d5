#include "backup/output_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <zstd.h>

#include "util/error.hpp"

namespace c2p {
namespace {

[[noreturn]] void io_fail(const std::string &what, const std::string &path) {
    throw EnvError(what + " " + path + ": " + std::strerror(errno));
}

} // namespace

OutputFile::OutputFile(std::string path, int zstd_level) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) io_fail("cannot create", path_);
    if (zstd_level > 0) {
        auto *c = ZSTD_createCCtx();
        if (!c) throw EnvError("zstd: cannot create a compression context");
        cctx_ = c;
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, zstd_level);
        // A content checksum lets `verify` and `zstd -t` catch damage inside the frame.
        ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
        zbuf_.resize(ZSTD_CStreamOutSize());
    }
}

OutputFile::~OutputFile() {
    if (cctx_) ZSTD_freeCCtx(static_cast<ZSTD_CCtx *>(cctx_));
    if (fd_ >= 0) ::close(fd_);
}

void OutputFile::write_raw(const char *p, size_t n) {
    sha_.update(p, n);
    bytes_ += n;
    while (n > 0) {
        ssize_t w = ::write(fd_, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            io_fail("cannot write", path_);
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
}

void OutputFile::write(std::string_view data) {
    if (!cctx_) {
        write_raw(data.data(), data.size());
        return;
    }
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer out{zbuf_.data(), zbuf_.size(), 0};
        size_t rc = ZSTD_compressStream2(static_cast<ZSTD_CCtx *>(cctx_), &out, &in, ZSTD_e_continue);
        if (ZSTD_isError(rc)) throw EnvError("zstd compression of " + path_ + ": " + ZSTD_getErrorName(rc));
        write_raw(zbuf_.data(), out.pos);
    }
}

WrittenFile OutputFile::finish() {
    if (cctx_) {
        ZSTD_inBuffer in{nullptr, 0, 0};
        for (;;) {
            ZSTD_outBuffer out{zbuf_.data(), zbuf_.size(), 0};
            size_t left = ZSTD_compressStream2(static_cast<ZSTD_CCtx *>(cctx_), &out, &in, ZSTD_e_end);
            if (ZSTD_isError(left)) throw EnvError("zstd compression of " + path_ + ": " + ZSTD_getErrorName(left));
            write_raw(zbuf_.data(), out.pos);
            if (left == 0) break;
        }
    }
    if (::fsync(fd_) != 0) io_fail("cannot fsync", path_);
    if (::close(fd_) != 0) {
        fd_ = -1;
        io_fail("cannot close", path_);
    }
    fd_ = -1;
    return WrittenFile{bytes_, sha_.hex_final()};
}

void fsync_dir(const std::string &dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) io_fail("cannot open directory", dir);
    int rc = ::fsync(fd);
    int e = errno;
    ::close(fd);
    errno = e;
    if (rc != 0) io_fail("cannot fsync directory", dir);
}

} // namespace c2p
