// PostgreSQL's binary COPY stream, with pgvector's vector/halfvec and jsonb field encodings.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace c2p {

// How much encoded COPY data a sink gathers before handing it to libpq. Small enough that the
// server is fed while we encode the next piece (4 MB left it idle for whole chunks: a bare load
// took ~10% longer), large enough that syscalls stay rare.
constexpr size_t kCopyChunkBytes = 256 << 10;

class CopyBinaryBuffer {
public:
    void header();
    void trailer();
    void begin_tuple(int16_t fields) { put16(fields); }
    void null_field() { put32(-1); }
    void text_field(std::string_view s) {
        put32(static_cast<int32_t>(s.size()));
        buf_.append(s);
    }
    void bytea_field(const void *p, size_t n) {
        put32(static_cast<int32_t>(n));
        buf_.append(static_cast<const char *>(p), n);
    }
    // jsonb binary = version byte 1 + JSON text.
    void jsonb_field(std::string_view json) {
        put32(static_cast<int32_t>(json.size() + 1));
        buf_.push_back(1);
        buf_.append(json);
    }
    // pgvector `vector`: int16 dim, int16 unused (0), dim big-endian float4.
    void vector_field(const float *v, uint32_t dim);
    // pgvector `halfvec`: int16 dim, int16 unused (0), dim big-endian IEEE binary16.
    void halfvec_field(const float *v, uint32_t dim);

    const std::string &data() const { return buf_; }
    size_t size() const { return buf_.size(); }
    void clear() { buf_.clear(); }

private:
    void put16(int16_t v) {
        uint16_t b = __builtin_bswap16(static_cast<uint16_t>(v));
        buf_.append(reinterpret_cast<const char *>(&b), 2);
    }
    void put32(int32_t v) {
        uint32_t b = __builtin_bswap32(static_cast<uint32_t>(v));
        buf_.append(reinterpret_cast<const char *>(&b), 4);
    }
    std::string buf_;
};

// IEEE binary16 with round-to-nearest-even; overflow becomes infinity (callers check range).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

} // namespace c2p
