// libFuzzer target: header.bin parsing plus element iteration over a data_level0.bin /
// length.bin buffer. Input layout: 100 header bytes, 1 byte choosing flags, then the remainder is
// split between data_level0 and length.bin at a point taken from 2 more bytes.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sources/persistent/hnsw_segment_reader.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace c2p::hnsw;
    if (size < kHeaderSize) {
        try {
            parse_header(data, size, "fuzz");
        } catch (const c2p::DataError &) {
        }
        return 0;
    }
    try {
        Header h = parse_header(data, kHeaderSize, "fuzz");
        const uint8_t *rest = data + kHeaderSize;
        size_t n = size - kHeaderSize;
        uint8_t flags = n ? rest[0] : 0;
        size_t split = n >= 3 ? (size_t(rest[1]) | size_t(rest[2]) << 8) : 0;
        const uint8_t *body = n >= 3 ? rest + 3 : rest + n;
        size_t bn = n >= 3 ? n - 3 : 0;
        if (split > bn) split = bn;
        // Copy into exact-size buffers so ASan sees any overread.
        std::vector<uint8_t> d(body, body + split), l(body + split, body + bn);
        View v(h, d.empty() ? nullptr : d.data(), d.size(), l.empty() ? nullptr : l.data(), l.size(), "fuzz", flags & 1,
               flags & 2);
        std::vector<float> vec(v.dim());
        float acc = 0;
        for (uint64_t i = 0; i < v.usable(); ++i) {
            if (v.deleted(i)) continue;
            acc += float(v.label(i) & 1);
            v.vector(i, vec.data());
            acc += v.length(i);
        }
        (void)acc;
    } catch (const c2p::DataError &) {
    }
    return 0;
}
