// The size model against pg_total_relation_size figures measured on PostgreSQL 15 + pgvector 0.8
// (2,000 rows of tests/integration/support.py's varied_records, migrated by chroma2pg).
#include <gtest/gtest.h>

#include <string>

#include "target/size_estimate.hpp"

using namespace c2p;

namespace {

// A native-layout row: id "r-000000", vector(dim), a ~23-byte document, no uri, ~153-byte jsonb.
SampledRow native_row(uint32_t dim) {
    return {varlena_value(8), external_value(4 * dim + 4), varlena_value(22), null_value(), varlena_value(149),
            varlena_value(16)};
}

} // namespace

TEST(SizeEstimate, HnswPagesMatchPgvector) {
    // Measured: index sizes of CREATE INDEX ... USING hnsw (m = 16) on 2,000 rows.
    EXPECT_EQ(estimate_hnsw(2000, 384, false, 16), 4104192u);   // 4 elements a page
    EXPECT_EQ(estimate_hnsw(2000, 768, false, 16), 8200192u);   // 2 a page
    EXPECT_EQ(estimate_hnsw(2000, 1536, false, 16), 16392192u); // 1 a page
    EXPECT_EQ(estimate_hnsw(2000, 3072, true, 16), 16392192u);  // halfvec expression index: as 1536 floats
}

TEST(SizeEstimate, IvfflatAndBtree) {
    EXPECT_NEAR(double(estimate_ivfflat(2000, 384, false, 2)), 3301376.0, 8192.0);
    // id "r-000000" primary key, 2,000 rows: 10 pages.
    EXPECT_EQ(estimate_btree({9}, 2000), 81920u);
}

TEST(SizeEstimate, HeapInlineAndToasted) {
    // 384 dimensions: rows of ~1.8 kB stay inline, 4 a page: 500 pages.
    auto h = estimate_heap({native_row(384)}, 2000);
    EXPECT_EQ(h.heap_bytes, 500u * 8192u);
    EXPECT_EQ(h.toast_bytes, 8192u); // the empty TOAST index
    // 1,536 dimensions: the vector goes to TOAST (4 chunks), one vector a TOAST page.
    h = estimate_heap({native_row(1536)}, 2000);
    EXPECT_LT(h.heap_bytes, 600000u);
    EXPECT_NEAR(double(h.toast_bytes), 16605184.0, 16605184.0 * 0.02);
}

TEST(SizeEstimate, PglzModel) {
    EXPECT_EQ(pglz_compressed_size("short"), 0u);
    std::string repetitive;
    for (int i = 0; i < 200; ++i) repetitive += "the same words again and again ";
    uint32_t z = pglz_compressed_size(repetitive);
    EXPECT_GT(z, 0u);
    EXPECT_LT(z, repetitive.size() / 10);
    std::string noise;
    uint32_t x = 12345;
    for (int i = 0; i < 4000; ++i) {
        x = x * 1103515245u + 12345u;
        noise.push_back(char(x >> 24));
    }
    EXPECT_EQ(pglz_compressed_size(noise), 0u); // incompressible: stored as is
}

TEST(SizeEstimate, GinEntries) {
    EXPECT_EQ(normalized_numeric(1.0), "1");
    EXPECT_EQ(normalized_numeric(2.5), "2.5");
    EXPECT_EQ(normalized_numeric(-0.0), "0");
    GinSample g;
    add_gin_entries(g, Metadata{{"a", int64_t(1)}, {"b", std::string("x")}}, false);
    add_gin_entries(g, Metadata{{"a", 1.0}, {"b", std::string("y")}}, false);
    add_gin_entries(g, Metadata{}, false);
    EXPECT_EQ(g.rows, 3u);
    EXPECT_EQ(g.entries.at("Ka"), 2u);
    EXPECT_EQ(g.entries.at("N1"), 2u); // 1 and 1.0 are the same numeric key
    EXPECT_EQ(g.entries.size(), 5u);   // Ka, Kb, N1, Sx, Sy
    EXPECT_GE(estimate_gin(g, 3, 40, false), 2u * 8192u);
}
