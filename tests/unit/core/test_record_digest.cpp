#include <gtest/gtest.h>

#include <algorithm>

#include "core/record_digest.hpp"

using namespace c2p;

namespace {
RecordBatch golden_records() {
    RecordBatch b;
    b.dim = 3;
    float v1[3] = {0.25f, -1.5f, 3.0e-8f};
    float v2[3] = {-0.0f, 1.0f, 65504.0f};
    b.push("doc-1", v1, std::string("h\xc3\xa9llo"), std::string("s3://x"),
           Metadata{{"s", std::string("t")}, {"i", int64_t{-7}}, {"f", 1.0}, {"b", true},
                    {"arr", std::vector<MetaScalar>{int64_t{1}, 2.5, std::string("x"), false}}});
    b.push("", v2, std::nullopt, std::nullopt, Metadata{});
    b.push("doc-3", v2, std::string(""), std::nullopt, Metadata{{"a", std::string("")}});
    return b;
}
} // namespace

// The digests are stored in migrated tables (native `digest` column) and compared by later verify and
// sync runs: a new build must compute exactly what earlier ones stored. The values are those of the
// one-shot XXH3-128 over the canonical encoding that every release so far has used.
TEST(RecordDigest, StableAcrossVersions) {
    RecordBatch b = golden_records();
    EXPECT_EQ(digest_hex(record_digest(b, 0)), "809d578c8db5f58c1b6dee872e4a0690");
    EXPECT_EQ(digest_hex(record_digest(b, 1)), "a6038c581b08bb3a6086efdaee071157");
    EXPECT_EQ(digest_hex(record_digest(b, 2)), "8324f5704ce7e7825cb741fa869408b0");
}

TEST(RecordDigest, MetadataKeyOrderDoesNotMatterButEverythingElseDoes) {
    RecordBatch b = golden_records();
    RecordBatch r;
    r.dim = 3;
    Metadata m = b.metadatas[0];
    std::reverse(m.begin(), m.end());
    r.push(b.ids[0], b.embedding(0), b.documents[0], b.uris[0], m);
    EXPECT_EQ(record_digest(r, 0), record_digest(b, 0));
    // An absent document is not an empty one; an int is not the same number as a float.
    r.push(b.ids[2], b.embedding(2), std::nullopt, std::nullopt, b.metadatas[2]);
    EXPECT_NE(record_digest(r, 1), record_digest(b, 2));
    r.push(b.ids[0], b.embedding(0), b.documents[0], b.uris[0],
           Metadata{{"s", std::string("t")}, {"i", -7.0}, {"f", 1.0}, {"b", true},
                    {"arr", std::vector<MetaScalar>{int64_t{1}, 2.5, std::string("x"), false}}});
    EXPECT_NE(record_digest(r, 2), record_digest(b, 0));
}
