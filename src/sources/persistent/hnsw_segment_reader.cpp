#include "sources/persistent/hnsw_segment_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "util/error.hpp"

namespace c2p::hnsw {

namespace {

template <class T> T rd(const uint8_t *p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t &out) { return __builtin_mul_overflow(a, b, &out); }

} // namespace

Header parse_header(const uint8_t *p, size_t size, const std::string &what) {
    if (size < kHeaderSize)
        throw DataError(fmt::format("{}: header.bin truncated: expected {} bytes, found {}", what, kHeaderSize, size));
    if (size > kHeaderSize)
        throw DataError(fmt::format("{}: header.bin has unexpected size: expected {} bytes, found {}", what, kHeaderSize, size));
    Header h;
    h.version = rd<int32_t>(p + 0);
    h.offset_level0 = rd<uint64_t>(p + 4);
    h.max_elements = rd<uint64_t>(p + 12);
    h.cur_element_count = rd<uint64_t>(p + 20);
    h.size_data_per_element = rd<uint64_t>(p + 28);
    h.label_offset = rd<uint64_t>(p + 36);
    h.offset_data = rd<uint64_t>(p + 44);
    h.maxlevel = rd<int32_t>(p + 52);
    h.enterpoint_node = rd<uint32_t>(p + 56);
    h.maxM = rd<uint64_t>(p + 60);
    h.maxM0 = rd<uint64_t>(p + 68);
    h.M = rd<uint64_t>(p + 76);
    h.mult = rd<double>(p + 84);
    h.ef_construction = rd<uint64_t>(p + 92);

    auto bad = [&](const std::string &why) { throw DataError(fmt::format("{}: header.bin invalid: {}", what, why)); };
    if (h.version != 1) bad(fmt::format("persistence version {} (expected 1)", h.version));
    if (h.offset_level0 != 0) bad(fmt::format("offsetLevel0 {} (expected 0)", h.offset_level0));
    if (h.maxM0 == 0 || h.maxM0 > 0xFFFF) bad(fmt::format("maxM0 {} out of range 1..65535", h.maxM0));
    if (h.offset_data != 4 + h.maxM0 * 4)
        bad(fmt::format("offsetData {} does not match maxM0 {} (expected {})", h.offset_data, h.maxM0, 4 + h.maxM0 * 4));
    if (h.label_offset <= h.offset_data || (h.label_offset - h.offset_data) % 4 != 0)
        bad(fmt::format("label_offset {} inconsistent with offsetData {}", h.label_offset, h.offset_data));
    uint64_t dim = (h.label_offset - h.offset_data) / 4;
    if (dim > kMaxDim) bad(fmt::format("dimension {} exceeds {}", dim, kMaxDim));
    h.dim = uint32_t(dim);
    if (h.size_data_per_element != h.label_offset + 8)
        bad(fmt::format("size_data_per_element {} (expected label_offset {} + 8)", h.size_data_per_element, h.label_offset));
    if (h.cur_element_count > h.max_elements)
        bad(fmt::format("cur_element_count {} exceeds max_elements {}", h.cur_element_count, h.max_elements));
    uint64_t total;
    if (mul_overflows(h.max_elements, h.size_data_per_element, total) || total > (uint64_t(1) << 50))
        bad(fmt::format("max_elements {} × size_data_per_element {} is not a plausible file size", h.max_elements,
                        h.size_data_per_element));
    if (h.cur_element_count > 0 && h.enterpoint_node >= h.cur_element_count)
        bad(fmt::format("enterpoint_node {} not below cur_element_count {}", h.enterpoint_node, h.cur_element_count));
    return h;
}

View::View(const Header &h, const uint8_t *data, size_t data_size, const uint8_t *lengths, size_t lengths_size,
           const std::string &what, bool need_lengths, bool allow_truncated)
    : h_(h), data_(data), data_size_(data ? data_size : 0), lengths_(lengths), lengths_size_(lengths ? lengths_size : 0) {
    uint64_t need = h.cur_element_count * h.size_data_per_element; // cannot overflow: checked in parse_header
    if (data_size_ < need) {
        if (!allow_truncated)
            throw DataError(fmt::format("{}: data_level0.bin truncated: expected {} bytes for {} elements, found {}", what, need,
                                        h.cur_element_count, data_size_));
        usable_ = h.size_data_per_element ? data_size_ / h.size_data_per_element : 0;
    } else {
        usable_ = h.cur_element_count;
    }
    if (need_lengths && lengths_size_ / 4 < usable_) {
        if (!allow_truncated)
            throw DataError(fmt::format("{}: length.bin truncated: expected {} bytes for {} elements, found {}", what,
                                        usable_ * 4, usable_, lengths_size_));
        usable_ = lengths_size_ / 4;
    }
    if (!need_lengths) {
        lengths_ = nullptr;
        lengths_size_ = 0;
    }
}

bool View::deleted(uint64_t i) const { return deleted_of(data_ + i * h_.size_data_per_element); }

uint64_t View::label(uint64_t i) const { return label_of(data_ + i * h_.size_data_per_element); }

// hnswlib's deleted mark: bit 0 of the third byte of the element's level-0 link list header.
bool View::deleted_of(const uint8_t *element) const { return (element[2] & 0x01) != 0; }

uint64_t View::label_of(const uint8_t *element) const { return rd<uint64_t>(element + h_.label_offset); }

void View::vector(uint64_t i, float *out) const {
    std::memcpy(out, data_ + i * h_.size_data_per_element + h_.offset_data, size_t(h_.dim) * 4);
}

float View::length(uint64_t i) const {
    if (!lengths_ || (i + 1) * 4 > lengths_size_) return 1.0f;
    return rd<float>(lengths_ + i * 4);
}

MappedFile::MappedFile(const std::string &path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw EnvError(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        throw EnvError(fmt::format("cannot stat {}: {}", path, std::strerror(e)));
    }
    size_ = size_t(st.st_size);
    if (size_ > 0) {
        void *m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            throw EnvError(fmt::format("cannot map {}: {}", path, std::strerror(e)));
        }
        data_ = static_cast<const uint8_t *>(m);
    }
    fd_ = fd; // kept for read_at: the same inode as the map, whatever happens to the path
}

MappedFile::MappedFile(MappedFile &&o) noexcept : data_(o.data_), size_(o.size_), fd_(o.fd_) {
    o.data_ = nullptr;
    o.size_ = 0;
    o.fd_ = -1;
}

MappedFile &MappedFile::operator=(MappedFile &&o) noexcept {
    if (this != &o) {
        if (data_) ::munmap(const_cast<uint8_t *>(data_), size_);
        if (fd_ >= 0) ::close(fd_);
        data_ = o.data_;
        size_ = o.size_;
        fd_ = o.fd_;
        o.data_ = nullptr;
        o.size_ = 0;
        o.fd_ = -1;
    }
    return *this;
}

void MappedFile::read_at(uint64_t offset, uint8_t *out, size_t len, const std::string &what) const {
    if (fd_ < 0) throw EnvError(fmt::format("{}: read after the file was closed", what));
    size_t got = 0;
    while (got < len) {
        ssize_t r = ::pread(fd_, out + got, len - got, off_t(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw EnvError(fmt::format("{}: cannot read at byte {}: {}", what, offset + got, std::strerror(errno)));
        if (r == 0)
            throw DataError(fmt::format("{}: the file ends at byte {} while it was read (it was {} bytes when opened)", what,
                                        offset + got, size_));
        got += size_t(r);
    }
}

void MappedFile::close_file() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void MappedFile::release_pages() const {
    if (data_ && size_ > 0) ::madvise(const_cast<uint8_t *>(data_), size_, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t *>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
}

namespace {

// A file that is not there is damage the plan reports; one that cannot be looked at (permissions) is
// the environment, never "missing".
bool exists(const std::string &p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) return S_ISREG(st.st_mode);
    if (errno == ENOENT || errno == ENOTDIR) return false;
    throw EnvError(
        fmt::format("cannot read {}: {} (it may exist; give this user read access)", p, std::strerror(errno)));
}

// One read of the file's size (an istreambuf_iterator copy went byte by byte: 10 ms for a 4 MB pickle).
std::vector<uint8_t> slurp(const std::string &p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw EnvError(fmt::format("cannot open {}: {}", p, std::strerror(errno)));
    struct stat st {};
    std::vector<uint8_t> out;
    if (::fstat(fd, &st) == 0) out.resize(size_t(st.st_size) + 1); // + 1: the read that sees the end needs room
    size_t got = 0;
    for (;;) {
        if (got == out.size()) out.resize(got + 65536); // grown while we read, or not a regular file
        ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            ::close(fd);
            throw EnvError(fmt::format("cannot read {}: {}", p, std::strerror(e)));
        }
        if (n == 0) break;
        got += size_t(n);
    }
    ::close(fd);
    out.resize(got);
    return out;
}

} // namespace

SegmentFiles SegmentFiles::open(const std::string &dir) {
    SegmentFiles s;
    s.dir = dir;
    if (::access(dir.c_str(), R_OK | X_OK) != 0 && errno == EACCES)
        throw EnvError(fmt::format("cannot read the HNSW segment folder {}: {} (its files may all be there; give this "
                                   "user read access to it)",
                                   dir, std::strerror(errno)));
    std::string hp = dir + "/header.bin", dp = dir + "/data_level0.bin", lp = dir + "/length.bin",
                pp = dir + "/index_metadata.pickle";
    s.has_header = exists(hp);
    s.has_data = exists(dp);
    s.has_lengths = exists(lp);
    s.has_pickle = exists(pp);
    if (s.has_data) s.data = MappedFile(dp);
    if (s.has_lengths) s.lengths = MappedFile(lp);
    if (s.has_pickle) s.pickle = slurp(pp);
    return s;
}

} // namespace c2p::hnsw
