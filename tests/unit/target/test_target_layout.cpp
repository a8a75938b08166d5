// Reading framework layouts back (the reverse of their mapping), halfvec values as pgvector makes
// them, and where each layout's rows are read from.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/metadata_json.hpp"
#include "core/record_digest.hpp"
#include "target/copy_binary.hpp"
#include "target/halfvec.hpp"
#include "target/layout_sink.hpp"
#include "target/target_layout.hpp"
#include "target/native_layout.hpp"
#include "target/pg_table_reader.hpp"
#include "util/error.hpp"

using namespace c2p;

namespace {
float from_bits(uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}
uint16_t f16_bits(_Float16 h) {
    uint16_t b;
    std::memcpy(&b, &h, 2);
    return b;
}
} // namespace

// pgvector converts with F16C (_cvtss_sh(x, 0)), _Float16 or a portable routine: all IEEE
// round-to-nearest-even. The compiler's _Float16 conversion is the reference here.
TEST(Halfvec, ConversionIsRoundToNearestEvenLikePgvector) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> bits;
    size_t checked = 0;
    for (int i = 0; i < 2000000; ++i) {
        float f = from_bits(bits(rng));
        if (!std::isfinite(f) || std::fabs(f) >= 65520.0f) continue;
        ASSERT_EQ(float_to_half(f), f16_bits(static_cast<_Float16>(f))) << f;
        ++checked;
    }
    EXPECT_GT(checked, 500000u);
    // Ties and edges: exact halves between two float16 values, subnormals, the largest finite value.
    for (float f : {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 0.33325195f, 5.9604645e-08f, 2.9802322e-08f,
                    2.9802326e-08f, 8.940697e-08f, 6.097555e-05f, 6.1035156e-05f, 65504.0f, 65519.996f, -65519.996f,
                    -0.0f, 0.0f, 1e-30f})
        EXPECT_EQ(float_to_half(f), f16_bits(static_cast<_Float16>(f))) << f;
}

TEST(Halfvec, WhatFitsIsWhatPgvectorAccepts) {
    RecordBatch b;
    b.dim = 2;
    float ok[2] = {65519.0f, -1.0f}, big[2] = {1.0f, -65520.0f};
    b.push("ok", ok, std::nullopt, std::nullopt, {});
    b.push("big", big, std::nullopt, std::nullopt, {});
    EXPECT_EQ(halfvec_problem(b, 0), "");
    std::string p = halfvec_problem(b, 1);
    EXPECT_NE(p.find("embedding[1]"), std::string::npos) << p;
    EXPECT_NE(p.find("halfvec"), std::string::npos) << p;
}

TEST(Halfvec, DigestIsOfTheStoredValues) {
    RecordBatch b;
    b.dim = 3;
    float v[3] = {0.1f, 1.5f, -2.0f};
    b.push("a", v, std::string("d"), std::nullopt, {{"k", int64_t(1)}});
    RecordBatch rounded = b;
    round_to_halfvec(rounded);
    EXPECT_NE(rounded.embeddings[0], 0.1f);
    EXPECT_EQ(rounded.embeddings[1], 1.5f); // representable values stay
    EXPECT_EQ(record_digest_halfvec(b, 0), record_digest(rounded, 0));
    EXPECT_NE(record_digest_halfvec(b, 0), record_digest(b, 0));
}

TEST(Halfvec, DecodesPgvectorBinary) {
    CopyBinaryBuffer buf;
    float v[3] = {1.0f, -0.333f, 65504.0f};
    buf.halfvec_field(v, 3);
    const std::string &d = buf.data();
    std::vector<float> out;
    decode_halfvec_binary(d.data() + 4, d.size() - 4, 3, out);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0], 1.0f);
    EXPECT_EQ(out[1], half_to_float(float_to_half(-0.333f)));
    EXPECT_EQ(out[2], 65504.0f);
    EXPECT_THROW(decode_halfvec_binary(d.data() + 4, d.size() - 4, 4, out), DataError);
    EXPECT_THROW(decode_halfvec_binary(d.data() + 4, d.size() - 5, 3, out), DataError);
}

TEST(Halfvec, NativeIndexOnTheColumn) {
    CollectionInfo c;
    c.name = "c";
    c.space = Space::ip;
    c.dimension = 768;
    IndexOptions o;
    EXPECT_EQ(create_vector_index_sql("public", "t", "i", c, o, 10, true),
              "CREATE INDEX \"i\" ON \"public\".\"t\" USING hnsw (embedding halfvec_ip_ops) WITH (m = 16, "
              "ef_construction = 100)");
    EXPECT_EQ(create_vector_index_sql("public", "t", "i", c, o, 10, false),
              "CREATE INDEX \"i\" ON \"public\".\"t\" USING hnsw (embedding vector_ip_ops) WITH (m = 16, "
              "ef_construction = 100)");
    c.dimension = 3072; // halfvec column: no expression needed
    EXPECT_NE(create_vector_index_sql("public", "t", "i", c, o, 10, true).find("(embedding halfvec_ip_ops)"),
              std::string::npos);
    EXPECT_NE(create_vector_index_sql("public", "t", "i", c, o, 10, false).find("((embedding::halfvec(3072)) halfvec_ip_ops)"),
              std::string::npos);
}

// The framework mapping and its reverse give back exactly the Chroma record.
TEST(FrameworkMapping, UriAndNullDocumentRoundTrip) {
    RecordBatch b;
    b.dim = 1;
    float v = 1;
    b.push("a", &v, std::nullopt, std::string("s3://b/k?v=1"), {});
    b.push("b", &v, std::string(""), std::nullopt, {{"k", int64_t(1)}});
    b.push("c", &v, std::nullopt, std::nullopt, {{"k", 1.0}, {"s", std::string("x")}});
    b.push("d", &v, std::string("text"), std::string("u\"q"), {{"b", true}});
    b.push("e", &v, std::string("text"), std::nullopt, {});
    EXPECT_EQ(framework_metadata_json(b, 0), "{\"_chroma_document_null\":true,\"_chroma_uri\":\"s3://b/k?v=1\"}");
    EXPECT_EQ(framework_metadata_json(b, 1), "{\"k\":1}");
    EXPECT_EQ(framework_metadata_json(b, 3), "{\"b\":true,\"_chroma_uri\":\"u\\\"q\"}");
    EXPECT_EQ(framework_metadata_json(b, 4), "");
    for (size_t i = 0; i < b.size(); ++i) {
        std::string j = framework_metadata_json(b, i);
        // What the framework table holds: '' for a null document, the JSON (or NULL) as metadata.
        std::optional<std::string> doc = b.documents[i] ? *b.documents[i] : std::string();
        std::optional<std::string> uri;
        Metadata meta = j.empty() ? Metadata{} : metadata_from_json(j);
        framework_row_to_record(doc, uri, meta);
        EXPECT_EQ(doc, b.documents[i]) << i;
        EXPECT_EQ(uri, b.uris[i]) << i;
        EXPECT_EQ(meta, b.metadatas[i]) << i;
    }
}

TEST(FrameworkMapping, ReservedKeysAreRefusedOrLeftAlone) {
    RecordBatch b;
    b.dim = 1;
    float v = 1;
    b.push("a", &v, std::string("x"), std::nullopt, {{kUriKey, std::string("mine")}});
    b.push("b", &v, std::string("x"), std::nullopt, {{kDocumentNullKey, false}});
    EXPECT_THROW(framework_metadata_json(b, 0), DataError);
    EXPECT_THROW(framework_metadata_json(b, 1), DataError);
    // Read back, a marker that does not match (tampered: text not '') stays visible as metadata.
    std::optional<std::string> doc = std::string("not empty"), uri;
    Metadata meta = {{kDocumentNullKey, true}, {kUriKey, int64_t(3)}};
    framework_row_to_record(doc, uri, meta);
    EXPECT_EQ(doc, std::string("not empty"));
    EXPECT_EQ(uri, std::nullopt);
    EXPECT_EQ(meta.size(), 2u);
}

TEST(TargetLayout, ReadOptionsPerLayout) {
    TargetCollection t;
    t.layout = Layout::langchain;
    t.schema = "s";
    t.table = "langchain_pg_embedding";
    t.where = "collection_id = 'u'::uuid";
    t.id_prefix = "docs:";
    t.column = VectorColumn{true, 8};
    auto o = target_layout(t.layout).read_options(t, 8);
    EXPECT_EQ(o.metadata_column, "cmetadata");
    EXPECT_EQ(o.document_column, "document");
    EXPECT_EQ(o.uri_column, "");
    EXPECT_EQ(o.digest_column, "");
    EXPECT_EQ(o.where, t.where);
    EXPECT_EQ(o.id_prefix, "docs:");
    EXPECT_TRUE(o.halfvec);
    EXPECT_TRUE(o.framework_markers);
    EXPECT_EQ(target_row_id(t, "a:1"), "docs:a:1");

    t.layout = Layout::llamaindex;
    t.id_prefix.clear();
    t.where.clear();
    t.id_column = "node_id";
    t.metadata_type = "json";
    t.column = VectorColumn{false, 8};
    o = target_layout(t.layout).read_options(t, 8);
    EXPECT_EQ(o.id_column, "node_id");
    EXPECT_EQ(o.document_column, "text");
    EXPECT_EQ(o.metadata_column, "metadata_");
    EXPECT_TRUE(o.metadata_json);
    EXPECT_FALSE(o.halfvec);

    t.layout = Layout::native;
    t.id_column = "id";
    t.has_digest = true;
    o = target_layout(t.layout).read_options(t, 8);
    EXPECT_EQ(o.uri_column, "uri");
    EXPECT_EQ(o.digest_column, "digest");
    EXPECT_FALSE(o.framework_markers);
}

TEST(TargetLayout, OnePerLayoutValue) {
    for (const auto &n : layout_names()) {
        const TargetLayout &l = target_layout(parse_layout(n));
        EXPECT_EQ(l.layout(), parse_layout(n));
        EXPECT_EQ(std::string(l.name()), n);
    }
}

TEST(TargetLayout, SearchShapePerLayout) {
    TargetCollection t;
    t.schema = "s";
    t.table = "docs";
    t.column = VectorColumn{false, 8};
    SearchShape s = target_layout(Layout::native).search_shape(t);
    EXPECT_EQ(s.id_expr, "id");
    EXPECT_EQ(s.metadata_expr, "metadata");
    EXPECT_EQ(s.filter, "");
    EXPECT_EQ(s.index_space, std::nullopt);
    EXPECT_EQ(target_layout(Layout::native).index_opclass(t, Space::ip, 8), "vector_ip_ops");
    EXPECT_EQ(target_layout(Layout::native).index_opclass(t, Space::l2, 3072), "halfvec_l2_ops");

    t.layout = Layout::langchain;
    t.where = "collection_id = 'u'::uuid";
    t.id_prefix = "docs:";
    s = target_layout(Layout::langchain).search_shape(t);
    EXPECT_EQ(s.metadata_expr, "cmetadata");
    EXPECT_EQ(s.filter, t.where);
    EXPECT_EQ(s.id_expr, "CASE WHEN starts_with(id, 'docs:') THEN substr(id, 6) ELSE id END");

    // LlamaIndex always orders by cosine distance: its index must be cosine whatever the collection's space,
    // and the client's constant column is left out of the query.
    t = TargetCollection{};
    t.layout = Layout::llamaindex;
    t.id_column = "node_id";
    t.where = "x = 1";
    t.column = VectorColumn{false, 8};
    const TargetLayout &li = target_layout(Layout::llamaindex);
    s = li.search_shape(t);
    EXPECT_EQ(s.id_expr, "\"node_id\"");
    EXPECT_EQ(s.metadata_expr, "\"metadata_\"");
    EXPECT_EQ(s.filter, "");
    EXPECT_EQ(s.index_space, Space::cosine);
    EXPECT_EQ(li.index_opclass(t, Space::l2, 8), "vector_cosine_ops");
    EXPECT_EQ(li.not_found("s", CollectionInfo{"id1", "My Docs"}), "no table s.data_my docs");
}
