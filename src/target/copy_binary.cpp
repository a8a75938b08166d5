#include "target/copy_binary.hpp"

#include <cmath>

namespace c2p {

void CopyBinaryBuffer::header() {
    static const char sig[] = "PGCOPY\n\377\r\n\0";
    buf_.append(sig, 11);
    put32(0); // flags
    put32(0); // header extension length
}

void CopyBinaryBuffer::trailer() { put16(-1); }

void CopyBinaryBuffer::vector_field(const float *v, uint32_t dim) {
    put32(static_cast<int32_t>(4 + 4 * dim));
    put16(static_cast<int16_t>(dim));
    put16(0);
    size_t at = buf_.size();
    buf_.resize(at + 4 * size_t(dim));
    char *out = buf_.data() + at;
    for (uint32_t i = 0; i < dim; ++i) {
        uint32_t bits;
        std::memcpy(&bits, v + i, 4);
        bits = __builtin_bswap32(bits);
        std::memcpy(out + 4 * i, &bits, 4);
    }
}

void CopyBinaryBuffer::halfvec_field(const float *v, uint32_t dim) {
    put32(static_cast<int32_t>(4 + 2 * dim));
    put16(static_cast<int16_t>(dim));
    put16(0);
    for (uint32_t i = 0; i < dim; ++i) {
        uint16_t h = __builtin_bswap16(float_to_half(v[i]));
        buf_.append(reinterpret_cast<const char *>(&h), 2);
    }
}

uint16_t float_to_half(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = static_cast<int32_t>((x >> 23) & 0xFF) - 127 + 15;
    uint32_t mant = x & 0x7FFFFF;
    if (((x >> 23) & 0xFF) == 0xFF) return static_cast<uint16_t>(sign | 0x7C00 | (mant ? 0x200 : 0));
    if (exp >= 31) return static_cast<uint16_t>(sign | 0x7C00);
    if (exp <= 0) {
        if (exp < -10) return static_cast<uint16_t>(sign);
        mant |= 0x800000;
        uint32_t shift = static_cast<uint32_t>(14 - exp);
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) ++half;
        return static_cast<uint16_t>(sign | half);
    }
    uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half; // may carry into the exponent: correct
    return static_cast<uint16_t>(half);
}

float half_to_float(uint16_t h) {
    uint32_t sign = (h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    uint32_t x;
    if (exp == 0) {
        if (mant == 0) x = sign;
        else {
            float f = std::ldexp(static_cast<float>(mant), -24);
            std::memcpy(&x, &f, 4);
            x |= sign;
        }
    } else if (exp == 31) x = sign | 0x7F800000 | (mant << 13);
    else x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}

} // namespace c2p
