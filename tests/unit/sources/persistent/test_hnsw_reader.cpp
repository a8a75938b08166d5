#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "fixture_dir.hpp"
#include "sources/persistent/hnsw_segment_reader.hpp"
#include "sources/persistent/pickle_reader.hpp"
#include "util/error.hpp"

namespace fs = std::filesystem;
using namespace c2p;
using namespace c2p::hnsw;

namespace {

std::vector<uint8_t> slurp(const fs::path &p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
template <class T> void put(std::vector<uint8_t> &b, size_t off, T v) { std::memcpy(b.data() + off, &v, sizeof v); }

// A synthetic index: dim 3, maxM0 4, `n` elements, labels 100+i, element 1 deleted.
struct Synthetic {
    std::vector<uint8_t> header = std::vector<uint8_t>(100), data, lengths;
    Synthetic(uint64_t n, uint64_t max = 8) {
        uint64_t maxM0 = 4, dim = 3, offData = 4 + maxM0 * 4, labelOff = offData + dim * 4, size = labelOff + 8;
        put<int32_t>(header, 0, 1);
        put<uint64_t>(header, 4, 0);
        put<uint64_t>(header, 12, max);
        put<uint64_t>(header, 20, n);
        put<uint64_t>(header, 28, size);
        put<uint64_t>(header, 36, labelOff);
        put<uint64_t>(header, 44, offData);
        put<int32_t>(header, 52, 0);
        put<uint32_t>(header, 56, 0);
        put<uint64_t>(header, 60, 2);
        put<uint64_t>(header, 68, maxM0);
        put<uint64_t>(header, 76, 2);
        put<double>(header, 84, 0.5);
        put<uint64_t>(header, 92, 100);
        data.assign(size * max, 0xAB); // garbage beyond the element count
        for (uint64_t i = 0; i < n; ++i) {
            uint8_t *e = data.data() + i * size;
            std::memset(e, 0, offData);
            if (i == 1) e[2] = 1;
            for (uint64_t k = 0; k < dim; ++k) {
                float f = float(i * 10 + k) * 0.5f;
                std::memcpy(e + offData + k * 4, &f, 4);
            }
            uint64_t label = 100 + i;
            std::memcpy(e + labelOff, &label, 8);
        }
        lengths.assign(max * 4, 0);
        for (uint64_t i = 0; i < n; ++i) put<float>(lengths, i * 4, 2.0f + float(i));
    }
};

std::string err_header(std::vector<uint8_t> h) {
    try {
        parse_header(h.data(), h.size(), "seg");
    } catch (const DataError &e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST(HnswReader, SyntheticElements) {
    Synthetic s(3);
    Header h = parse_header(s.header.data(), s.header.size(), "seg");
    EXPECT_EQ(h.dim, 3u);
    View v(h, s.data.data(), s.data.size(), s.lengths.data(), s.lengths.size(), "seg", true, false);
    ASSERT_EQ(v.usable(), 3u);
    EXPECT_FALSE(v.deleted(0));
    EXPECT_TRUE(v.deleted(1));
    EXPECT_EQ(v.label(2), 102u);
    float out[3];
    v.vector(2, out);
    EXPECT_EQ(out[1], 10.5f);
    EXPECT_EQ(v.length(2), 4.0f);
}

// The label pass reads elements with pread (MappedFile::read_at): the same bytes as through the map,
// the element accessors agree on them, and a file cut short while it is read is named, not faulted on.
TEST(HnswReader, ReadAtMatchesTheMap) {
    Synthetic s(5);
    Header h = parse_header(s.header.data(), s.header.size(), "seg");
    const fs::path path = fs::temp_directory_path() / ("c2p-read-at-" + std::to_string(::getpid()) + ".bin");
    {
        std::ofstream f(path, std::ios::binary);
        f.write(reinterpret_cast<const char *>(s.data.data()), std::streamsize(s.data.size()));
    }
    MappedFile m(path.string());
    ASSERT_EQ(m.size(), s.data.size());
    View v(h, m.data(), m.size(), nullptr, 0, "seg", false, false);
    std::vector<uint8_t> el(h.size_data_per_element);
    for (uint64_t i = 0; i < v.usable(); ++i) {
        m.read_at(i * h.size_data_per_element, el.data(), el.size(), "seg/data_level0.bin");
        EXPECT_EQ(0, std::memcmp(el.data(), m.data() + i * h.size_data_per_element, el.size())) << i;
        EXPECT_EQ(v.label_of(el.data()), v.label(i));
        EXPECT_EQ(v.deleted_of(el.data()), v.deleted(i));
    }
    EXPECT_TRUE(v.deleted_of(m.data() + h.size_data_per_element));
    fs::resize_file(path, h.size_data_per_element * 2);
    try {
        m.read_at(h.size_data_per_element, el.data(), el.size() * 2, "seg/data_level0.bin");
        ADD_FAILURE() << "a read past the shortened file must throw";
    } catch (const DataError &e) {
        EXPECT_NE(std::string(e.what()).find("seg/data_level0.bin: the file ends at byte"), std::string::npos) << e.what();
    }
    m.close_file();
    EXPECT_THROW(m.read_at(0, el.data(), el.size(), "seg/data_level0.bin"), EnvError);
    fs::remove(path);
}

TEST(HnswReader, HeaderValidation) {
    Synthetic s(3);
    EXPECT_NE(err_header(std::vector<uint8_t>(s.header.begin(), s.header.begin() + 40)).find("header.bin truncated: expected 100 bytes, found 40"),
              std::string::npos);
    auto h = s.header;
    put<int32_t>(h, 0, 7);
    EXPECT_NE(err_header(h).find("persistence version 7"), std::string::npos);
    h = s.header;
    put<uint64_t>(h, 20, 9);
    EXPECT_NE(err_header(h).find("cur_element_count 9 exceeds max_elements 8"), std::string::npos);
    h = s.header;
    put<uint64_t>(h, 28, 999);
    EXPECT_NE(err_header(h).find("size_data_per_element 999"), std::string::npos);
    h = s.header;
    put<uint64_t>(h, 36, 21);
    EXPECT_NE(err_header(h).find("label_offset 21 inconsistent"), std::string::npos);
    h = s.header;
    put<uint64_t>(h, 12, uint64_t(1) << 60);
    EXPECT_NE(err_header(h).find("not a plausible file size"), std::string::npos);
}

TEST(HnswReader, TruncatedData) {
    Synthetic s(3);
    Header h = parse_header(s.header.data(), s.header.size(), "seg");
    size_t short_size = size_t(h.size_data_per_element * 2 + 5);
    try {
        View v(h, s.data.data(), short_size, nullptr, 0, "collection 'c' (x)", false, false);
        FAIL();
    } catch (const DataError &e) {
        EXPECT_NE(std::string(e.what()).find("data_level0.bin truncated: expected 120 bytes for 3 elements, found 85"), std::string::npos)
            << e.what();
    }
    View salv(h, s.data.data(), short_size, nullptr, 0, "c", false, true);
    EXPECT_EQ(salv.usable(), 2u);
    try {
        View v(h, s.data.data(), s.data.size(), s.lengths.data(), 4, "c", true, false);
        FAIL();
    } catch (const DataError &e) {
        EXPECT_NE(std::string(e.what()).find("length.bin truncated"), std::string::npos);
    }
}

// The complaint parse_header + View must make about header `h` over `data_size` bytes of data_level0.bin and
// `lengths_size` of length.bin: the first rule of the on-disk format it breaks, or "" when it is valid. Written from
// hnswlib's layout, independently of the reader, so a check the reader stops making shows up here.
std::string expected_complaint(const std::vector<uint8_t> &h, size_t data_size, size_t lengths_size) {
    auto u64 = [&](size_t o) {
        uint64_t v;
        std::memcpy(&v, h.data() + o, 8);
        return v;
    };
    int32_t version;
    std::memcpy(&version, h.data(), 4);
    uint32_t enter;
    std::memcpy(&enter, h.data() + 56, 4);
    uint64_t off0 = u64(4), max = u64(12), cur = u64(20), size = u64(28), label_off = u64(36), off_data = u64(44),
             maxM0 = u64(68);
    if (version != 1) return "header.bin invalid: persistence version";
    if (off0 != 0) return "header.bin invalid: offsetLevel0";
    if (maxM0 == 0 || maxM0 > 0xFFFF) return "header.bin invalid: maxM0";
    if (off_data != 4 + maxM0 * 4) return "header.bin invalid: offsetData";
    if (label_off <= off_data || (label_off - off_data) % 4 != 0) return "header.bin invalid: label_offset";
    if ((label_off - off_data) / 4 > kMaxDim) return "header.bin invalid: dimension";
    if (size != label_off + 8) return "header.bin invalid: size_data_per_element";
    if (cur > max) return "header.bin invalid: cur_element_count";
    unsigned __int128 total = (unsigned __int128)max * size;
    if (total > ((unsigned __int128)1 << 50)) return "is not a plausible file size";
    if (cur > 0 && enter >= cur) return "header.bin invalid: enterpoint_node";
    if ((unsigned __int128)cur * size > data_size) return "data_level0.bin truncated";
    if (lengths_size / 4 < cur) return "length.bin truncated";
    return "";
}

TEST(HnswReader, GarbageHeadersNeverCrash) {
    uint32_t x = 7;
    Synthetic s(3);
    std::map<std::string, int> seen; // complaint -> how many headers drew it
    for (int r = 0; r < 20000; ++r) {
        auto h = s.header;
        for (int k = 0; k < 3; ++k) {
            x = x * 1664525u + 1013904223u;
            h[(x >> 8) % 100] = uint8_t(x >> 24);
        }
        std::string want = expected_complaint(h, s.data.size(), s.lengths.size());
        std::string got;
        std::optional<Header> hh;
        try {
            hh = parse_header(h.data(), h.size(), "g");
            View strict(*hh, s.data.data(), s.data.size(), s.lengths.data(), s.lengths.size(), "g", true, false);
        } catch (const DataError &e) {
            got = e.what();
            ASSERT_EQ(got.rfind("g: ", 0), 0u) << "the error does not name the segment: " << got;
        }
        if (hh) { // the salvaging view reads whatever whole elements there are, and never out of bounds
            View v(*hh, s.data.data(), s.data.size(), s.lengths.data(), s.lengths.size(), "g", true, true);
            float buf[70000];
            for (uint64_t i = 0; i < v.usable(); ++i) {
                (void)v.deleted(i);
                (void)v.label(i);
                if (v.dim() <= 70000) v.vector(i, buf);
            }
        }
        if (want.empty())
            ASSERT_EQ(got, "") << "header " << r << " is valid but was refused";
        else
            ASSERT_NE(got.find(want), std::string::npos) << "header " << r << ": expected \"" << want << "\", got \"" << got << "\"";
        ++seen[want];
    }
    // The mutations reach the reader's checks: valid headers and the common corruptions each occur.
    for (const char *c : {"", "header.bin invalid: persistence version", "header.bin invalid: offsetLevel0",
                          "header.bin invalid: maxM0", "header.bin invalid: offsetData", "header.bin invalid: label_offset",
                          "header.bin invalid: size_data_per_element", "header.bin invalid: cur_element_count",
                          "is not a plausible file size", "data_level0.bin truncated"})
        EXPECT_GT(seen[c], 0) << "no mutated header drew \"" << c << "\"";
}

TEST(HnswReader, FixtureHeadersAndFlushedIndex) {
    fs::path root = fixtures();
    ASSERT_FIXTURES();
    int n = 0;
    for (auto &e : fs::recursive_directory_iterator(root)) {
        if (e.path().filename() != "header.bin") continue;
        auto b = slurp(e.path());
        Header h = parse_header(b.data(), b.size(), e.path().string());
        EXPECT_EQ(h.maxM0, 32u);
        EXPECT_TRUE(h.dim == 384 || h.dim == 768 || h.dim == 512 || h.dim == 1536 || h.dim == 3072) << h.dim;
        ++n;
        fs::path dir = e.path().parent_path();
        if (!fs::exists(dir / "data_level0.bin") || !fs::exists(dir / "index_metadata.pickle")) continue;
        // A flushed index: every pickle label has a live element, every live element a pickle id.
        auto f = SegmentFiles::open(dir.string());
        View v(h, f.data.data(), f.data.size(), f.lengths.data(), f.lengths.size(), dir.string(), true, false);
        auto md = unpickle::read_index_metadata(f.pickle.data(), f.pickle.size(), "p");
        size_t live = 0;
        for (uint64_t i = 0; i < v.usable(); ++i) {
            if (v.deleted(i)) continue;
            ++live;
            EXPECT_NE(md.find_label(v.label(i)), nullptr) << v.label(i);
        }
        EXPECT_EQ(live, md.by_label.size()) << dir;
    }
    EXPECT_GE(n, 30);
}
