#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fixture_dir.hpp"
#include "sources/persistent/pickle_reader.hpp"
#include "util/error.hpp"

namespace fs = std::filesystem;
using namespace c2p;
using namespace c2p::unpickle;

namespace {

std::vector<uint8_t> B(std::initializer_list<int> v) {
    std::vector<uint8_t> o;
    for (int x : v) o.push_back(uint8_t(x));
    return o;
}
void add(std::vector<uint8_t> &o, const std::string &s) { o.insert(o.end(), s.begin(), s.end()); }
void short_str(std::vector<uint8_t> &o, const std::string &s) {
    o.push_back(0x8c);
    o.push_back(uint8_t(s.size()));
    add(o, s);
}
void bin_str(std::vector<uint8_t> &o, const std::string &s) {
    o.push_back('X');
    uint32_t n = uint32_t(s.size());
    for (int i = 0; i < 4; ++i) o.push_back(uint8_t(n >> (8 * i)));
    add(o, s);
}
void binint(std::vector<uint8_t> &o, int32_t v) {
    o.push_back('J');
    for (int i = 0; i < 4; ++i) o.push_back(uint8_t(uint32_t(v) >> (8 * i)));
}

Value P(const std::vector<uint8_t> &b) { return parse(b.data(), b.size(), "t.pickle"); }

std::string err(const std::vector<uint8_t> &b) {
    try {
        P(b);
    } catch (const DataError &e) {
        return e.what();
    }
    return "";
}


std::vector<uint8_t> slurp(const fs::path &p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// A Python-style PersistentData pickle, protocol 4/5 shape, with every memo opcode.
std::vector<uint8_t> python_pickle(bool with_max_seq) {
    std::vector<uint8_t> o = B({0x80, 5});
    short_str(o, "chromadb.segment.impl.vector.local_persistent_hnsw");
    o.push_back(0x94);
    short_str(o, "PersistentData");
    o.push_back(0x94);
    o.push_back(0x93); // STACK_GLOBAL
    o.push_back(0x94);
    o.push_back(')');
    o.push_back(0x81); // NEWOBJ
    o.push_back(0x94);
    o.push_back('}');
    o.push_back(0x94);
    o.push_back('(');
    short_str(o, "dimensionality");
    o.push_back('M'); o.push_back(0x80); o.push_back(0x01); // 384
    short_str(o, "total_elements_added");
    o.push_back('K'); o.push_back(2);
    if (with_max_seq) {
        short_str(o, "max_seq_id");
        o.push_back(0x8a); o.push_back(2); o.push_back(0xe8); o.push_back(0x03); // LONG1 1000
    }
    short_str(o, "id_to_label");
    o.push_back('}');
    o.push_back('q'); o.push_back(50); // BINPUT 50
    o.push_back('(');
    short_str(o, "a");
    o.push_back('q'); o.push_back(51);
    o.push_back('K'); o.push_back(1);
    short_str(o, "b");
    o.push_back('r'); for (int i : {52, 0, 0, 0}) o.push_back(uint8_t(i)); // LONG_BINPUT 52
    o.push_back('K'); o.push_back(2);
    o.push_back('u');
    short_str(o, "label_to_id");
    o.push_back('}');
    o.push_back('(');
    o.push_back('K'); o.push_back(1);
    o.push_back('h'); o.push_back(51); // BINGET 51 -> "a"
    o.push_back('K'); o.push_back(2);
    o.push_back('j'); for (int i : {52, 0, 0, 0}) o.push_back(uint8_t(i)); // LONG_BINGET 52 -> "b"
    o.push_back('u');
    short_str(o, "id_to_seq_id");
    o.push_back('}');
    short_str(o, "a");
    o.push_back('K'); o.push_back(7);
    o.push_back('s'); // SETITEM
    o.push_back('u'); // SETITEMS of the state dict
    o.push_back('b'); // BUILD
    o.push_back('.');
    return o;
}

} // namespace

TEST(PickleReader, ScalarsAndContainers) {
    std::vector<uint8_t> o = B({0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0}); // FRAME of 0 is fine
    o.resize(3);
    o = B({0x80, 4});
    o.push_back(']');        // EMPTY_LIST
    o.push_back('(');        // MARK
    o.push_back('N');        // None
    o.push_back(0x88);       // True
    o.push_back(0x89);       // False
    binint(o, -5);
    o.push_back('M'); o.push_back(0xff); o.push_back(0xff); // 65535
    o.push_back(0x8a); o.push_back(1); o.push_back(0xff);   // LONG1 -1
    o.push_back(0x8a); o.push_back(0);                      // LONG1 0
    o.push_back('G'); for (int b : {0x3f, 0xf8, 0, 0, 0, 0, 0, 0}) o.push_back(uint8_t(b)); // 1.5
    bin_str(o, "héllo");
    o.push_back(0x8d); for (int b : {2, 0, 0, 0, 0, 0, 0, 0}) o.push_back(uint8_t(b)); add(o, "xy"); // BINUNICODE8
    o.push_back(')');                                       // ()
    o.push_back('K'); o.push_back(1); o.push_back(0x85);    // (1,)
    o.push_back('K'); o.push_back(1); o.push_back('K'); o.push_back(2); o.push_back(0x86);
    o.push_back('K'); o.push_back(1); o.push_back('K'); o.push_back(2); o.push_back('K'); o.push_back(3); o.push_back(0x87);
    o.push_back('('); o.push_back('K'); o.push_back(9); o.push_back('t'); // TUPLE
    o.push_back('e');        // APPENDS
    o.push_back('K'); o.push_back(4); o.push_back('a'); // APPEND
    o.push_back('.');
    Value v = P(o);
    Ref r = v.root();
    ASSERT_EQ(v.kind(r), Kind::list);
    const auto &it = v.items(r);
    ASSERT_EQ(it.size(), 16u);
    EXPECT_EQ(v.kind(it[0]), Kind::none);
    EXPECT_EQ(v.integer(it[1]), 1);
    EXPECT_EQ(v.kind(it[1]), Kind::boolean);
    EXPECT_EQ(v.integer(it[2]), 0);
    EXPECT_EQ(v.integer(it[3]), -5);
    EXPECT_EQ(v.integer(it[4]), 65535);
    EXPECT_EQ(v.integer(it[5]), -1);
    EXPECT_EQ(v.integer(it[6]), 0);
    EXPECT_EQ(v.floating(it[7]), 1.5);
    EXPECT_EQ(v.str(it[8]), "héllo");
    EXPECT_EQ(v.str(it[9]), "xy");
    EXPECT_EQ(v.items(it[10]).size(), 0u);
    EXPECT_EQ(v.items(it[11]).size(), 1u);
    EXPECT_EQ(v.items(it[12]).size(), 2u);
    EXPECT_EQ(v.items(it[13]).size(), 3u);
    EXPECT_EQ(v.kind(it[14]), Kind::tuple);
}

TEST(PickleReader, PythonPersistentData) {
    auto b = python_pickle(true);
    auto m = read_index_metadata(b.data(), b.size(), "t.pickle");
    EXPECT_EQ(m.shape, "PersistentData");
    EXPECT_EQ(m.protocol, 5);
    EXPECT_EQ(m.dimensionality, 384);
    EXPECT_EQ(m.total_elements_added, 2);
    EXPECT_EQ(m.max_seq_id, 1000);
    ASSERT_EQ(m.by_label.size(), 2u);
    EXPECT_EQ(m.find_label(1)->id, "a");
    EXPECT_EQ(m.find_label(2)->id, "b");
    EXPECT_EQ(m.find_label(3), nullptr);
    EXPECT_EQ(m.id_to_seq_id_entries, 1u);
    auto b2 = python_pickle(false);
    EXPECT_FALSE(read_index_metadata(b2.data(), b2.size(), "t").max_seq_id.has_value());
}

TEST(PickleReader, GlobalAndReduce) {
    std::vector<uint8_t> o = B({0x80, 2, 'c'});
    add(o, "chromadb.segment.impl.vector.local_persistent_hnsw\nPersistentData\n");
    o.push_back(')');
    o.push_back('R'); // REDUCE
    o.push_back('}');
    o.push_back('(');
    short_str(o, "id_to_label"); o.push_back('}');
    short_str(o, "label_to_id"); o.push_back('}');
    o.push_back('u');
    o.push_back('b');
    o.push_back('.');
    auto m = read_index_metadata(o.data(), o.size(), "t");
    EXPECT_EQ(m.shape, "PersistentData");
    EXPECT_TRUE(m.by_label.empty());
    EXPECT_EQ(m.find_label(1), nullptr);
}

TEST(PickleReader, RustDict) {
    std::vector<uint8_t> o = B({0x80, 3, '}', '('});
    bin_str(o, "dimensionality"); o.push_back('N');
    bin_str(o, "total_elements_added"); binint(o, 1);
    bin_str(o, "max_seq_id"); o.push_back('N');
    bin_str(o, "id_to_label"); o.push_back('}'); o.push_back('('); bin_str(o, "x"); binint(o, 1); o.push_back('u');
    bin_str(o, "label_to_id"); o.push_back('}'); o.push_back('('); binint(o, 1); bin_str(o, "x"); o.push_back('u');
    o.push_back('u');
    o.push_back('.');
    auto m = read_index_metadata(o.data(), o.size(), "t");
    EXPECT_EQ(m.shape, "dict");
    EXPECT_FALSE(m.dimensionality);
    EXPECT_FALSE(m.max_seq_id);
    ASSERT_NE(m.find_label(1), nullptr);
    EXPECT_EQ(m.find_label(1)->id, "x");
}

// Values beyond the inline ranges (60-bit ints, strings past 16 MB are covered by the offsets)
// round-trip through the side tables; sparse BINPUT indexes use the map.
TEST(PickleReader, WideValuesAndSparseMemo) {
    std::vector<uint8_t> o = B({0x80, 4, ']', '('});
    o.push_back(0x8a); o.push_back(8); for (int i = 0; i < 7; ++i) o.push_back(0xff); o.push_back(0x7f); // INT64_MAX
    o.push_back(0x8a); o.push_back(8); for (int i = 0; i < 7; ++i) o.push_back(0); o.push_back(0x80);    // INT64_MIN
    short_str(o, "k");
    o.push_back('r'); for (int i : {0x00, 0x00, 0x00, 0x10}) o.push_back(uint8_t(i)); // LONG_BINPUT 2^28
    o.push_back('j'); for (int i : {0x00, 0x00, 0x00, 0x10}) o.push_back(uint8_t(i)); // LONG_BINGET 2^28
    o.push_back('e');
    o.push_back('.');
    Value v = P(o);
    const auto &it = v.items(v.root());
    ASSERT_EQ(it.size(), 4u);
    EXPECT_EQ(v.integer(it[0]), INT64_MAX);
    EXPECT_EQ(v.integer(it[1]), INT64_MIN);
    EXPECT_EQ(v.str(it[2]), "k");
    EXPECT_EQ(it[3], it[2]);
}

TEST(PickleReader, MapsMustAgree) {
    auto build = [](std::vector<std::pair<std::string, int>> il, std::vector<std::pair<int, std::string>> li) {
        std::vector<uint8_t> o = B({0x80, 3, '}', '('});
        bin_str(o, "id_to_label"); o.push_back('}'); o.push_back('(');
        for (auto &[k, v] : il) { bin_str(o, k); binint(o, v); }
        o.push_back('u');
        bin_str(o, "label_to_id"); o.push_back('}'); o.push_back('(');
        for (auto &[k, v] : li) { binint(o, k); bin_str(o, v); }
        o.push_back('u');
        o.push_back('u');
        o.push_back('.');
        return o;
    };
    auto ok = build({{"a", 5}, {"b", 9}, {"c", 7}}, {{9, "b"}, {5, "a"}, {7, "c"}});
    auto m = read_index_metadata(ok.data(), ok.size(), "t");
    ASSERT_EQ(m.by_label.size(), 3u);
    EXPECT_EQ(m.find_label(7)->id, "c");
    EXPECT_EQ(m.find_label(9)->id, "b");
    EXPECT_EQ(m.find_label(6), nullptr);
    // Dense labels in hash order (Chroma 1.x) are placed, not sorted: the same result.
    auto dense = build({{"c", 3}, {"a", 1}, {"d", 4}, {"b", 2}}, {{2, "b"}, {4, "d"}, {1, "a"}, {3, "c"}});
    auto md = read_index_metadata(dense.data(), dense.size(), "t");
    ASSERT_EQ(md.by_label.size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(md.by_label[i].label, i + 1);
        EXPECT_EQ(md.by_label[i].id, std::string(1, char('a' + i)));
    }
    auto e = [&](const std::vector<uint8_t> &b) {
        try {
            read_index_metadata(b.data(), b.size(), "t");
        } catch (const DataError &x) {
            return std::string(x.what());
        }
        return std::string();
    };
    EXPECT_NE(e(build({{"a", 1}, {"b", 2}}, {{1, "a"}, {2, "c"}})).find("maps disagree for id 'b' (label 2)"), std::string::npos);
    EXPECT_NE(e(build({{"a", 1}, {"b", 2}}, {{1, "a"}})).find("maps disagree: 2 ids vs 1 labels"), std::string::npos);
    EXPECT_NE(e(build({{"a", 1}, {"b", 1}}, {{1, "a"}})).find("2 ids share 1 labels"), std::string::npos);
    EXPECT_NE(e(build({{"a", 2}, {"b", 1}, {"c", 2}}, {{1, "b"}, {2, "c"}})).find("3 ids share 2 labels"), std::string::npos);
}

TEST(PickleReader, RefusesUnknownOpcode) {
    auto e = err(B({0x80, 4, 'I', '1', '\n', '.'}));
    EXPECT_NE(e.find("t.pickle: unsupported pickle opcode 0x49 at offset 2"), std::string::npos) << e;
    e = err(B({0x80, 4, 'K', 1, 0x8b, 0, 0, 0, 0, '.'})); // LONG4
    EXPECT_NE(e.find("unsupported pickle opcode 0x8b at offset 4"), std::string::npos) << e;
}

TEST(PickleReader, Truncated) {
    auto full = python_pickle(true);
    for (size_t n = 0; n < full.size(); ++n) {
        std::vector<uint8_t> part(full.begin(), full.begin() + std::ptrdiff_t(n));
        auto e = err(part);
        EXPECT_NE(e.find("truncated at offset"), std::string::npos) << n << ": " << e;
    }
    auto e = err(B({0x80, 4, 0x8c, 10, 'a', 'b'}));
    EXPECT_NE(e.find("truncated at offset 2"), std::string::npos) << e;
    e = err(B({0x80, 4, 0x95, 100, 0, 0, 0, 0, 0, 0, 0, 'N', '.'}));
    EXPECT_NE(e.find("truncated at offset 2 (frame of 100 bytes"), std::string::npos) << e;
}

TEST(PickleReader, BadShapes) {
    EXPECT_NE(err(B({'a', '.'})).find("APPEND on an empty stack"), std::string::npos);
    EXPECT_NE(err(B({'N', 'N', '.'})).find("2 values on the stack"), std::string::npos);
    EXPECT_NE(err(B({'h', 3, '.'})).find("memo key 3 not defined"), std::string::npos);
    EXPECT_NE(err(B({'N', 'u', '.'})).find("SETITEMS without MARK"), std::string::npos);
    EXPECT_NE(err(B({'N', '(', 'N', 'u', '.'})).find("SETITEMS on a None"), std::string::npos);
    EXPECT_NE(err(B({'N', ')', 0x81, '.'})).find("NEWOBJ on a None"), std::string::npos);
    EXPECT_NE(err(B({0x80, 9, '.'})).find("unsupported pickle protocol 9"), std::string::npos);
    EXPECT_NE(err(B({0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, '.'})).find("does not fit 64 bits"), std::string::npos);
    // A list appended to itself: a cycle is harmless.
    Value v = P(B({']', 0x94, 'h', 0, 'a', '.'}));
    EXPECT_EQ(v.items(v.root()).size(), 1u);
    EXPECT_EQ(v.items(v.root())[0], v.root());
    // The extractor refuses wrong shapes.
    auto l = B({']', '.'});
    try {
        read_index_metadata(l.data(), l.size(), "x");
        FAIL();
    } catch (const DataError &e) {
        EXPECT_NE(std::string(e.what()).find("expected dict or PersistentData, found list"), std::string::npos) << e.what();
    }
    std::vector<uint8_t> o = B({'}', '('});
    short_str(o, "id_to_label"); o.push_back(']');
    short_str(o, "label_to_id"); o.push_back('}');
    o.push_back('u'); o.push_back('.');
    try {
        read_index_metadata(o.data(), o.size(), "x");
        FAIL();
    } catch (const DataError &e) {
        EXPECT_NE(std::string(e.what()).find("id_to_label: expected dict, found list"), std::string::npos) << e.what();
    }
}

TEST(PickleReader, LimitsHold) {
    Limits lim;
    lim.max_nodes = 10;
    std::vector<uint8_t> o = B({']', '('});
    for (int i = 0; i < 20; ++i) o.push_back('N');
    o.push_back('e');
    o.push_back('.');
    EXPECT_THROW(parse(o.data(), o.size(), "x", lim), DataError);
}

// Random opcode soup: the parser never crashes, and every refusal is a DataError that names the file and says
// what is wrong where, consistently with the bytes it points at.
TEST(PickleReader, GarbageNeverCrashes) {
    std::map<std::string, int> seen; // outcome -> count
    uint32_t x = 12345;
    for (int round = 0; round < 3000; ++round) {
        std::vector<uint8_t> b(size_t(round % 64) + 1);
        for (auto &c : b) {
            x = x * 1664525u + 1013904223u;
            static const uint8_t ops[] = {'(', '.', 'J', 'K', 'M', 'N', 'X', 'a', 'b', 'e', 'h', 'j', ']', 'q', 'r', 's', 't', 'u', '}', ')', 'G', 'R',
                                          0x80, 0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x93, 0x94, 0x95, 0, 1, 2, 255};
            c = ops[(x >> 16) % sizeof ops];
        }
        std::optional<Value> v;
        try {
            v = parse(b.data(), b.size(), "g");
        } catch (const DataError &e) {
            const std::string m = e.what();
            const char *s = m.c_str();
            size_t off = 0;
            unsigned op = 0;
            int n = -1;
            if (std::sscanf(s, "g: pickle truncated at offset %zu (%n", &off, &n) == 1 && n > 0) {
                // "... (<why>; file is N bytes)" with <why> consistent with the offset
                size_t at = m.rfind("; file is ");
                ASSERT_NE(at, std::string::npos) << m;
                ASSERT_EQ(m.substr(at), fmt::format("; file is {} bytes)", b.size())) << m;
                std::string why = m.substr(size_t(n), at - size_t(n));
                if (why == "no STOP opcode") {
                    ASSERT_EQ(off, b.size()) << m;
                } else if (std::sscanf(why.c_str(), "opcode 0x%2x needs", &op) == 1) { // its argument runs past the end
                    ASSERT_LT(off, b.size()) << m;
                    ASSERT_EQ(op, b[off]) << m;
                } else {
                    ASSERT_EQ(why.rfind("frame of ", 0), 0u) << m;
                }
                ++seen["truncated"];
            } else if (std::sscanf(s, "g: unsupported pickle opcode 0x%2x at offset %zu%n", &op, &off, &n) == 2 &&
                       size_t(n) == m.size()) {
                ASSERT_LT(off, b.size()) << m;
                ASSERT_EQ(op, b[off]) << m;
                ++seen["unsupported"];
            } else if (std::sscanf(s, "g: bad pickle at offset %zu: %n", &off, &n) == 1 && n > 0 && size_t(n) < m.size()) {
                ASSERT_LT(off, b.size()) << m;
                ++seen["bad"];
            } else {
                FAIL() << "round " << round << ": unexpected message: " << m;
            }
            continue;
        }
        // Only a STOP opcode ends a pickle.
        ASSERT_NE(std::find(b.begin(), b.end(), uint8_t('.')), b.end()) << "round " << round << " parsed without a STOP";
        ++seen["parsed"];
        try {
            extract_index_metadata(*v, "g");
            ++seen["metadata"];
        } catch (const DataError &e) {
            ASSERT_EQ(std::string(e.what()).rfind("g: unexpected pickle shape: ", 0), 0u) << e.what();
            ++seen["shape"];
        }
    }
    for (const char *o : {"truncated", "unsupported", "bad", "parsed", "shape"})
        EXPECT_GT(seen[o], 0) << "no garbage input gave \"" << o << "\"";
}

TEST(PickleReader, FixturePickles) {
    fs::path root = fixtures();
    ASSERT_FIXTURES();
    int n = 0;
    for (auto &e : fs::recursive_directory_iterator(root)) {
        if (e.path().filename() != "index_metadata.pickle") continue;
        auto b = slurp(e.path());
        auto m = read_index_metadata(b.data(), b.size(), e.path().string());
        ++n;
        EXPECT_GT(m.by_label.size(), 0u) << e.path();
        for (size_t i = 1; i < m.by_label.size(); ++i) ASSERT_LT(m.by_label[i - 1].label, m.by_label[i].label);
        if (m.shape == "dict") {
            EXPECT_EQ(m.protocol, 3);
            EXPECT_FALSE(m.dimensionality);
        } else {
            EXPECT_EQ(m.shape, "PersistentData");
            EXPECT_GE(m.protocol, 4);
            EXPECT_TRUE(m.dimensionality);
        }
        // The 0.4-era pickle still carries max_seq_id.
        if (e.path().string().find("07721914") != std::string::npos) {
            EXPECT_EQ(m.max_seq_id, 2000);
        }
        // Every truncation is reported as such.
        for (size_t cut : {size_t(1), b.size() / 3, b.size() / 2, b.size() - 1}) {
            try {
                read_index_metadata(b.data(), cut, "cut");
                ADD_FAILURE() << "cut at " << cut << " accepted";
            } catch (const DataError &ex) {
                EXPECT_NE(std::string(ex.what()).find("truncated at offset"), std::string::npos) << ex.what();
            }
        }
    }
    EXPECT_EQ(n, 5);
}
