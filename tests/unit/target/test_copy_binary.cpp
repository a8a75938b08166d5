#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "target/copy_binary.hpp"

using namespace c2p;

TEST(CopyBinary, VectorFieldIsPgvectorRecvFormat) {
    CopyBinaryBuffer b;
    float v[3] = {1.0f, -2.5f, 0.1f};
    b.vector_field(v, 3);
    const std::string &d = b.data();
    ASSERT_EQ(d.size(), 4u + 4u + 12u);
    // length prefix: 4 + 4*3 = 16
    EXPECT_EQ(std::string(d.data(), 4), std::string("\x00\x00\x00\x10", 4));
    // int16 dim = 3, int16 unused = 0
    EXPECT_EQ(std::string(d.data() + 4, 4), std::string("\x00\x03\x00\x00", 4));
    // 1.0f big-endian = 3f 80 00 00
    EXPECT_EQ(std::string(d.data() + 8, 4), std::string("\x3f\x80\x00\x00", 4));
    // -2.5f = c0 20 00 00
    EXPECT_EQ(std::string(d.data() + 12, 4), std::string("\xc0\x20\x00\x00", 4));
    uint32_t bits;
    std::memcpy(&bits, d.data() + 16, 4);
    float back;
    bits = __builtin_bswap32(bits);
    std::memcpy(&back, &bits, 4);
    EXPECT_EQ(back, 0.1f);
}

TEST(CopyBinary, HeaderAndTrailer) {
    CopyBinaryBuffer b;
    b.header();
    b.begin_tuple(2);
    b.null_field();
    b.jsonb_field("{}");
    b.trailer();
    const std::string &d = b.data();
    EXPECT_EQ(d.substr(0, 11), std::string("PGCOPY\n\377\r\n\0", 11));
    EXPECT_EQ(d.size(), 19u + 2 + 4 + 4 + 3 + 2);
    EXPECT_EQ(d.substr(d.size() - 2), std::string("\xff\xff", 2));
    // jsonb: version byte 1 before the text
    EXPECT_EQ(d.substr(19 + 2 + 4, 4), std::string("\x00\x00\x00\x03", 4));
    EXPECT_EQ(d[19 + 2 + 4 + 4], 1);
}

TEST(CopyBinary, HalfFloatRoundTrip) {
    EXPECT_EQ(float_to_half(1.0f), 0x3C00);
    EXPECT_EQ(float_to_half(-2.0f), 0xC000);
    EXPECT_EQ(float_to_half(65504.0f), 0x7BFF);
    EXPECT_EQ(float_to_half(1e6f), 0x7C00); // overflow → inf
    EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
    for (uint32_t h = 0; h < 0x7C00; ++h) EXPECT_EQ(float_to_half(half_to_float(static_cast<uint16_t>(h))), h);
}
