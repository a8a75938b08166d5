#include <gtest/gtest.h>

#include <string>

#include "backup/pickle_writer.hpp"
#include "util/error.hpp"

using namespace c2p;

namespace {
std::string hex(const std::string &s) {
    static const char *h = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out.push_back(h[c >> 4]);
        out.push_back(h[c & 15]);
    }
    return out;
}
template <class F> std::string bytes(F f) {
    std::string s;
    f(s);
    return hex(s);
}
} // namespace

TEST(BackupPickle, Integers) {
    EXPECT_EQ(bytes([](auto &s) { pickle::put_int(s, 0); }), "4b00");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_int(s, 255); }), "4bff");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_int(s, 256); }), "4a00010000");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_int(s, -1); }), "4affffffff");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_int(s, INT32_MIN); }), "4a00000080");
    // 2^31 needs 5 bytes with a zero sign byte; -2^31-1 five bytes too.
    EXPECT_EQ(bytes([](auto &s) { pickle::put_int(s, 2147483648LL); }), "8a050000008000");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_int(s, -2147483649LL); }), "8a05ffffff7fff");
    // 2^53 + 5
    EXPECT_EQ(bytes([](auto &s) { pickle::put_int(s, 9007199254740997LL); }), "8a0705000000000020");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_int(s, INT64_MIN); }), "8a080000000000000080");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_int(s, INT64_MAX); }), "8a08ffffffffffffff7f");
}

TEST(BackupPickle, FloatsStringsAndSingletons) {
    EXPECT_EQ(bytes([](auto &s) { pickle::put_float(s, 1.5); }), "473ff8000000000000");
    // The float32 value 0.1f, widened exactly to a double.
    EXPECT_EQ(bytes([](auto &s) { pickle::put_float(s, static_cast<double>(0.1f)); }), "473fb99999a0000000");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_float(s, -0.0); }), "478000000000000000");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_str(s, "é"); }), "5802000000c3a9");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_str(s, ""); }), "5800000000");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_none(s); }), "4e");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_bool(s, true); }), "88");
    EXPECT_EQ(bytes([](auto &s) { pickle::put_bool(s, false); }), "89");
    EXPECT_THROW(bytes([](auto &s) { pickle::put_float(s, std::nan("")); }), DataError);
    EXPECT_THROW(bytes([](auto &s) { pickle::put_str(s, std::string("\xff\xfe", 2)); }), DataError);
}

TEST(BackupPickle, MetadataAndJson) {
    // None for no metadata; a dict with MARK ... SETITEMS otherwise, types kept.
    EXPECT_EQ(bytes([](auto &s) { pickle::put_metadata(s, Metadata{}); }), "4e");
    Metadata m{{"a", int64_t{1}}, {"b", 1.0}, {"c", false}, {"d", std::vector<MetaScalar>{int64_t{2}}}};
    EXPECT_EQ(bytes([&](auto &s) { pickle::put_metadata(s, m); }),
              "7d28"                               // {  MARK
              "580100000061" "4b01"                // 'a': 1
              "580100000062" "473ff0000000000000"  // 'b': 1.0
              "580100000063" "89"                  // 'c': False
              "580100000064" "5d28" "4b02" "65"    // 'd': [2]
              "75");                               // SETITEMS
    nlohmann::ordered_json j = {{"x", nullptr}, {"y", nlohmann::ordered_json::array()}, {"z", nlohmann::ordered_json::object()}};
    EXPECT_EQ(bytes([&](auto &s) { pickle::put_json(s, j); }), "7d28" "580100000078" "4e" "580100000079" "5d"
                                                                "58010000007a" "7d" "75");
}

TEST(BackupPickle, Record) {
    RecordBatch b;
    b.dim = 2;
    float v[2] = {1.0f, -2.5f};
    b.push("x", v, std::nullopt, std::string("u"), Metadata{});
    EXPECT_EQ(bytes([&](auto &s) { pickle::put_proto(s); pickle::put_record(s, b, 0); }),
              "8002" "7d28"
              "58020000006964" "580100000078"                                               // 'id': 'x'
              "5809000000656d62656464696e67" "5d28" "473ff0000000000000" "47c004000000000000" "65" // 'embedding'
              "5808000000646f63756d656e74" "4e"                                              // 'document': None
              "5803000000757269" "580100000075"                                             // 'uri': 'u'
              "58080000006d65746164617461" "4e"                                              // 'metadata': None
              "75");
}
