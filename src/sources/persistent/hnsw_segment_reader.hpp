// Reads one HNSW vector segment folder written by Chroma's hnswlib fork:
// header.bin (100 bytes), data_level0.bin (elements), length.bin (one float32 norm per element).
// link_lists.bin (upper levels of the graph) is not needed to export and is never read.
//
// Layout of an element i in data_level0.bin, at i * size_data_per_element:
//   u32 link header (low 16 bits = neighbour count, byte 2 bit 0 = deleted mark),
//   maxM0 u32 neighbour ids, `dim` float32 at offsetData, u64 label at label_offset.
// Every header field is validated against the others and against the file sizes before any
// element is touched; arbitrary bytes never read out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace c2p::hnsw {

inline constexpr size_t kHeaderSize = 100;
inline constexpr uint32_t kMaxDim = 65536;

struct Header {
    int32_t version = 0;
    uint64_t offset_level0 = 0;
    uint64_t max_elements = 0;
    uint64_t cur_element_count = 0;
    uint64_t size_data_per_element = 0;
    uint64_t label_offset = 0;
    uint64_t offset_data = 0;
    int32_t maxlevel = 0;
    uint32_t enterpoint_node = 0;
    uint64_t maxM = 0;
    uint64_t maxM0 = 0;
    uint64_t M = 0;
    double mult = 0.0;
    uint64_t ef_construction = 0;
    uint32_t dim = 0; // (label_offset - offset_data) / 4
};

// Decodes and validates the 100 header bytes (internal consistency only).
// Throws DataError "<what>: header.bin ...": wrong size, version, offsets that do not add up.
Header parse_header(const uint8_t *data, size_t size, const std::string &what);

// A validated view over in-memory (or mmapped) data_level0.bin and length.bin bytes.
// `usable` is the number of elements that can be read: cur_element_count, or fewer when the
// data file is truncated and the view was built with `allow_truncated` (salvage).
class View {
public:
    // Throws DataError when data_level0.bin is shorter than cur_element_count elements
    // (unless allow_truncated), or length.bin is needed (`need_lengths`) and too short.
    View(const Header &h, const uint8_t *data, size_t data_size, const uint8_t *lengths, size_t lengths_size,
         const std::string &what, bool need_lengths, bool allow_truncated);

    const Header &header() const { return h_; }
    uint64_t usable() const { return usable_; }
    uint32_t dim() const { return h_.dim; }
    bool deleted(uint64_t i) const;
    uint64_t label(uint64_t i) const;
    // The same from an element's bytes read elsewhere (MappedFile::read_at).
    bool deleted_of(const uint8_t *element) const;
    uint64_t label_of(const uint8_t *element) const;
    // Copies element i's stored vector into out[0..dim).
    void vector(uint64_t i, float *out) const;
    // The norm stored in length.bin for element i (1.0 if the file has none for i).
    float length(uint64_t i) const;
    bool has_lengths() const { return lengths_ != nullptr; }

private:
    Header h_;
    const uint8_t *data_;
    size_t data_size_;
    const uint8_t *lengths_;
    size_t lengths_size_;
    uint64_t usable_ = 0;
};

// A read-only memory map of a file (never written; MAP_PRIVATE + PROT_READ).
class MappedFile {
public:
    MappedFile() = default;
    // Throws EnvError when the file exists but cannot be opened or mapped.
    explicit MappedFile(const std::string &path);
    MappedFile(MappedFile &&o) noexcept;
    MappedFile &operator=(MappedFile &&o) noexcept;
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;
    ~MappedFile();
    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }
    // Drops the pages read so far from this process's resident set (the page cache keeps them), so
    // peak RSS stays flat however large the index file is. The mapping stays valid.
    void release_pages() const;
    // Copies bytes [offset, offset + len) of the mapped file (the same inode) into out with pread.
    // Throws EnvError on an I/O error or after close_file(), DataError when the file has become shorter.
    void read_at(uint64_t offset, uint8_t *out, size_t len, const std::string &what) const;
    // Closes the descriptor read_at uses; the map stays (a plan is kept per collection: no
    // descriptor is held for each of thousands of collections).
    void close_file();

private:
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
    int fd_ = -1;
};

// A segment folder opened from disk. Missing files are reported, not thrown, so the caller can
// decide (a never-persisted index needs none of them).
struct SegmentFiles {
    std::string dir;
    bool has_header = false, has_data = false, has_lengths = false, has_pickle = false;
    std::optional<Header> header;
    MappedFile data;
    MappedFile lengths;
    std::vector<uint8_t> pickle;

    // Reads what exists under `dir`. Throws EnvError on an unreadable file.
    static SegmentFiles open(const std::string &dir);
};

} // namespace c2p::hnsw
