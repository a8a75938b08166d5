#include <gtest/gtest.h>

#include "core/record.hpp"
#include "target/langchain_layout.hpp"
#include "target/table_layout.hpp"
#include "target/layout_sink.hpp"
#include "util/error.hpp"

using namespace c2p;

TEST(Layouts, ParseLayout) {
    EXPECT_EQ(parse_layout("native"), Layout::native);
    EXPECT_EQ(parse_layout("langchain"), Layout::langchain);
    EXPECT_EQ(parse_layout("llamaindex"), Layout::llamaindex);
    EXPECT_THROW(parse_layout("LangChain"), UsageError);
}

TEST(Layouts, LlamaindexNamesFollowPGVectorStore) {
    const TableLayout &l = table_layout_named("llamaindex");
    EXPECT_EQ(table_layout_table(l, "Paul_Graham"), "data_paul_graham");
    EXPECT_EQ(table_layout_table(l, "my-docs.v2"), "data_my-docs.v2");
    EXPECT_EQ(l.vector_index_name(table_layout_table(l, "Docs")), "data_docs_embedding_idx");
    // PostgreSQL cuts identifiers to 63 bytes, for the app and for us alike.
    std::string longname(100, 'A');
    EXPECT_EQ(table_layout_table(l, longname), "data_" + std::string(58, 'a'));
    EXPECT_EQ(l.vector_index_name(table_layout_table(l, longname)), "data_" + std::string(58, 'a'));
    EXPECT_EQ(l.vector_index_name(table_layout_table(l, std::string(50, 'A'))),
              "data_" + std::string(50, 'a') + "_embeddi"); // what PostgreSQL makes of the store's own name
}

TEST(Layouts, LlamaindexDdl) {
    const TableLayout &l = table_layout_named("llamaindex");
    EXPECT_EQ(l.create_table_sql("public", "data_docs", VectorColumn{false, 768}.sql()),
              "CREATE TABLE IF NOT EXISTS \"public\".\"data_docs\" (id BIGSERIAL NOT NULL, text VARCHAR NOT NULL, "
              "metadata_ JSONB, node_id VARCHAR, embedding vector(768), PRIMARY KEY (id))");
    EXPECT_NE(l.create_table_sql("public", "data_docs", VectorColumn{true, 3072}.sql()).find("embedding halfvec(3072)"),
              std::string::npos);
    EXPECT_EQ(l.secondary_index_sql("public", "data_docs", "Docs"),
              std::vector<std::string>{
                  "CREATE INDEX IF NOT EXISTS \"docs_idx_1\" ON \"public\".\"data_docs\" ((metadata_ ->> 'ref_doc_id'))"});
    EXPECT_EQ(l.copy_columns(), "\"node_id\", \"text\", \"metadata_\", \"embedding\"");
    EXPECT_TRUE(l.cosine_only);
}

TEST(Layouts, LangchainDdl) {
    EXPECT_EQ(langchain_collection_table_sql("public"),
              "CREATE TABLE IF NOT EXISTS \"public\".\"langchain_pg_collection\" (uuid UUID NOT NULL, name VARCHAR NOT "
              "NULL, cmetadata JSON, PRIMARY KEY (uuid), UNIQUE (name))");
    EXPECT_EQ(langchain_embedding_table_sql("public", VectorColumn{false, 384}),
              "CREATE TABLE IF NOT EXISTS \"public\".\"langchain_pg_embedding\" (id VARCHAR NOT NULL, collection_id "
              "UUID, embedding vector(384), document VARCHAR, cmetadata JSONB, PRIMARY KEY (id), FOREIGN KEY "
              "(collection_id) REFERENCES \"public\".\"langchain_pg_collection\" (uuid) ON DELETE CASCADE)");
    EXPECT_EQ(langchain_gin_index_sql("public"), "CREATE INDEX IF NOT EXISTS ix_cmetadata_gin ON "
                                                 "\"public\".\"langchain_pg_embedding\" USING gin (cmetadata jsonb_path_ops)");
    EXPECT_EQ(langchain_vector_index_name("0f8e3c4a-1b2c-4d5e-8f90-123456789abc"),
              "ix_c2p_0f8e3c4a1b2c4d5e8f90123456789abc_embedding");
    EXPECT_LE(langchain_vector_index_name("0f8e3c4a-1b2c-4d5e-8f90-123456789abc").size(), 63u);
    EXPECT_EQ(langchain_row_id("docs", "a:1", false), "a:1");
    EXPECT_EQ(langchain_row_id("docs", "a:1", true), "docs:a:1");
}

TEST(Layouts, VectorTypes) {
    auto v = parse_vector_type("vector(768)");
    ASSERT_TRUE(v);
    EXPECT_FALSE(v->halfvec);
    EXPECT_EQ(v->dim, 768u);
    auto h = parse_vector_type("halfvec(3072)");
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->halfvec);
    EXPECT_EQ(h->sql(), "halfvec(3072)");
    auto u = parse_vector_type("vector");
    ASSERT_TRUE(u);
    EXPECT_FALSE(u->dim);
    EXPECT_EQ(u->sql(), "vector");
    EXPECT_FALSE(parse_vector_type("jsonb"));
    EXPECT_FALSE(parse_vector_type("sparsevec(10)"));
}

TEST(Layouts, IndexPlans) {
    IndexOptions o;
    // A typed column within 2,000 dims: on the column, with the space's operator class.
    auto p = plan_vector_index("t", "i", VectorColumn{false, 768}, 768, Space::l2, o, 10, "", "c");
    EXPECT_EQ(p.sql, "CREATE INDEX \"i\" ON t USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 100)");
    EXPECT_TRUE(p.on_column);
    // Above 2,000: an expression index through halfvec, and a query that uses it.
    p = plan_vector_index("t", "i", VectorColumn{false, 3072}, 3072, Space::cosine, o, 10, "", "c");
    EXPECT_EQ(p.sql, "CREATE INDEX \"i\" ON t USING hnsw ((embedding::halfvec(3072)) halfvec_cosine_ops) WITH (m = 16, "
                     "ef_construction = 100)");
    EXPECT_FALSE(p.on_column);
    EXPECT_EQ(layout_search_sql("t", p, Space::cosine, "id", ""),
              "SELECT id, (embedding::halfvec(3072)) <=> $1::halfvec(3072) AS distance FROM t ORDER BY "
              "(embedding::halfvec(3072)) <=> $1::halfvec(3072) LIMIT $2");
    // A halfvec column: indexed directly.
    p = plan_vector_index("t", "i", VectorColumn{true, 3072}, 3072, Space::ip, o, 10, "", "c");
    EXPECT_EQ(p.sql, "CREATE INDEX \"i\" ON t USING hnsw (embedding halfvec_ip_ops) WITH (m = 16, ef_construction = 100)");
    EXPECT_TRUE(p.on_column);
    // Untyped column (LangChain without embedding_length): a partial expression index.
    p = plan_vector_index("t", "i", VectorColumn{false, std::nullopt}, 384, Space::cosine, o, 10, "collection_id = 'x'", "c");
    EXPECT_EQ(p.sql, "CREATE INDEX \"i\" ON t USING hnsw ((embedding::vector(384)) vector_cosine_ops) WITH (m = 16, "
                     "ef_construction = 100) WHERE collection_id = 'x'");
    EXPECT_FALSE(p.on_column);
    // Above 4,000: a clear refusal naming the options; none means no index at all.
    EXPECT_THROW(plan_vector_index("t", "i", VectorColumn{false, 4096}, 4096, Space::l2, o, 10, "", "c"), DataError);
    try {
        plan_vector_index("t", "i", VectorColumn{false, 4096}, 4096, Space::l2, o, 10, "", "big");
    } catch (const DataError &e) {
        EXPECT_NE(std::string(e.what()).find("--index none"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("'big'"), std::string::npos);
    }
    o.method = IndexMethod::none;
    EXPECT_EQ(plan_vector_index("t", "i", VectorColumn{false, 4096}, 4096, Space::l2, o, 10, "", "c").sql, "");
    o.method = IndexMethod::ivfflat;
    EXPECT_EQ(plan_vector_index("t", "i", VectorColumn{false, 8}, 8, Space::l2, o, 5000, "", "c").sql,
              "CREATE INDEX \"i\" ON t USING ivfflat (embedding vector_l2_ops) WITH (lists = 5)");
}

TEST(Layouts, NullDocumentMarker) {
    RecordBatch b;
    b.dim = 1;
    float v = 1;
    b.push("a", &v, std::nullopt, std::nullopt, {});
    b.push("b", &v, std::string("doc"), std::nullopt, {});
    b.push("c", &v, std::nullopt, std::nullopt, {{"k", int64_t(1)}, {"f", 1.0}});
    b.push("d", &v, std::string(""), std::nullopt, {{"k", std::string("x")}});
    b.push("e", &v, std::nullopt, std::nullopt, {{kDocumentNullKey, true}});
    EXPECT_EQ(framework_metadata_json(b, 0), "{\"_chroma_document_null\":true}");
    EXPECT_EQ(framework_metadata_json(b, 1), "");
    EXPECT_EQ(framework_metadata_json(b, 2), "{\"k\":1,\"f\":1.0,\"_chroma_document_null\":true}");
    EXPECT_EQ(framework_metadata_json(b, 3), "{\"k\":\"x\"}");
    EXPECT_THROW(framework_metadata_json(b, 4), DataError);
}

TEST(Layouts, NativeHalfvecTable) {
    EXPECT_NE(create_table_sql("public", "c2p_x", 3072u, true).find("embedding halfvec(3072) NOT NULL"), std::string::npos);
    EXPECT_NE(create_table_sql("public", "c2p_x", 3072u).find("embedding vector(3072) NOT NULL"), std::string::npos);
}
