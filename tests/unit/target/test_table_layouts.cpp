// The one-table-per-collection layouts (langchainjs, llamaindex-ts, mastra, pgvectorstore): names the
// clients can address, the configuration they are given, and how a record travels and comes back.
#include <gtest/gtest.h>

#include "core/metadata_json.hpp"
#include "target/layout_sink.hpp"
#include "target/pg_table_reader.hpp"
#include "target/table_layout.hpp"
#include "util/error.hpp"

using namespace c2p;

namespace {
CollectionInfo collection(const std::string &name, Space space, uint32_t dim) {
    CollectionInfo c;
    c.name = name;
    c.id = "0f8e3c4a-1b2c-4d5e-8f90-123456789abc";
    c.space = space;
    c.dimension = dim;
    return c;
}
} // namespace

TEST(TableLayouts, EveryNameParsesAndIsRegistered) {
    EXPECT_EQ(find_table_layout(parse_layout("llamaindex-ts")), &table_layout_named("llamaindex-ts"));
    EXPECT_EQ(find_table_layout(Layout::llamaindex), &table_layout_named("llamaindex"));
    EXPECT_EQ(find_table_layout(Layout::langchain), nullptr);
    EXPECT_EQ(layout_names().size(), 7u);
    for (const auto &n : layout_names()) {
        Layout l = parse_layout(n);
        EXPECT_EQ(layout_name(l), n);
        const TableLayout *tl = find_table_layout(l);
        bool table_layout = n != "native" && n != "langchain";
        ASSERT_EQ(tl != nullptr, table_layout) << n;
        if (tl) {
            EXPECT_EQ(tl->name, n);
        }
    }
    EXPECT_THROW(parse_layout("llamaindex_ts"), UsageError);
}

TEST(TableLayouts, NamesTheClientsCanAddress) {
    // Quoted by the client: the Chroma name as it is.
    EXPECT_EQ(table_layout_table(table_layout_named("langchainjs"), "Support.FAQ-v2"), "Support.FAQ-v2");
    EXPECT_EQ(table_layout_table(table_layout_named("pgvectorstore"), "Support.FAQ-v2"), "Support.FAQ-v2");
    // Unquoted by the client: folded to [a-z0-9_], a leading digit prefixed.
    EXPECT_EQ(table_layout_table(table_layout_named("llamaindex-ts"), "Support.FAQ-v2"), "support_faq_v2");
    EXPECT_EQ(table_layout_table(table_layout_named("mastra"), "Support.FAQ-v2"), "support_faq_v2");
    EXPECT_EQ(table_layout_table(table_layout_named("mastra"), "2024-docs"), "c_2024_docs");
    // Two names that fold alike: the second gets a hash of its Chroma name, stable from run to run.
    std::string a = table_layout_table(table_layout_named("mastra"), "a.b", true), b = table_layout_table(table_layout_named("mastra"), "a-b", true);
    EXPECT_NE(a, b);
    EXPECT_EQ(a.rfind("a_b_", 0), 0u);
    EXPECT_EQ(a, table_layout_table(table_layout_named("mastra"), "a.b", true));
    // Mastra finds its index as "<indexName>_vector_idx": both must fit 63 bytes.
    std::string longname(200, 'X');
    std::string m = table_layout_table(table_layout_named("mastra"), longname);
    EXPECT_LE(m.size(), 52u);
    EXPECT_EQ(table_layout_named("mastra").vector_index_name(m), m + "_vector_idx");
    EXPECT_LE(table_layout_named("mastra").vector_index_name(m).size(), 63u);
    EXPECT_LE(table_layout_table(table_layout_named("llamaindex-ts"), longname).size(), 63u);
    EXPECT_EQ(table_layout_table(table_layout_named("langchainjs"), longname).size(), 63u); // as PostgreSQL cuts the client's
    EXPECT_EQ(table_layout_named("pgvectorstore").vector_index_name("Support.FAQ-v2"), "Support.FAQ-v2langchainvectorindex");
}

TEST(TableLayouts, ClientConfigIsWhatTheClientTakes) {
    auto cos = collection("Support.FAQ-v2", Space::cosine, 4), l2 = collection("x", Space::l2, 4),
         ip = collection("x", Space::ip, 4);
    EXPECT_EQ(table_layout_named("langchainjs").client_config("public", "Support.FAQ-v2", cos).dump(),
              R"({"tableName":"Support.FAQ-v2","schemaName":"public","distanceStrategy":"cosine","dimensions":4,)"
              R"("skipInitializationCheck":true})");
    EXPECT_EQ(table_layout_named("langchainjs").client_config("public", "x", l2)["distanceStrategy"], "euclidean");
    EXPECT_EQ(table_layout_named("langchainjs").client_config("public", "x", ip)["distanceStrategy"], "innerProduct");
    EXPECT_EQ(table_layout_named("llamaindex-ts").client_config("public", "support_faq_v2", cos).dump(),
              R"({"schemaName":"public","tableName":"support_faq_v2","dimensions":4,"performSetup":false})");
    EXPECT_EQ(table_layout_named("mastra").client_config("public", "support_faq_v2", cos).dump(), R"({"indexName":"support_faq_v2"})");
    EXPECT_EQ(table_layout_named("mastra").client_config("rag", "t", cos).dump(), R"({"indexName":"t","schemaName":"rag"})");
    EXPECT_EQ(table_layout_named("pgvectorstore").client_config("public", "x", ip).dump(),
              R"({"table_name":"x","schema_name":"public","distance_strategy":"INNER_PRODUCT"})");
    EXPECT_NE(table_layout_named("pgvectorstore").snippet(table_layout_named("pgvectorstore").client_config("public", "x", l2))
                  .find("distance_strategy=DistanceStrategy.EUCLIDEAN"),
              std::string::npos);
}

TEST(TableLayouts, SpacesTheClientCannotSearchAreSaid) {
    EXPECT_EQ(table_layout_named("llamaindex-ts").search_space(Space::l2), Space::cosine);
    EXPECT_EQ(table_layout_named("llamaindex-ts").caveats(collection("x", Space::l2, 4)).size(), 1u);
    EXPECT_TRUE(table_layout_named("llamaindex-ts").caveats(collection("x", Space::cosine, 4)).empty());
    EXPECT_EQ(table_layout_named("mastra").search_space(Space::ip), Space::ip);
    ASSERT_EQ(table_layout_named("mastra").caveats(collection("x", Space::ip, 4)).size(), 1u);
    EXPECT_NE(table_layout_named("mastra").caveats(collection("x", Space::ip, 4))[0].find("minScore"), std::string::npos);
}

TEST(TableLayouts, DdlAsTheClientsCreateIt) {
    EXPECT_EQ(table_layout_named("mastra").create_table_sql("public", "support_faq_v2", "vector(4)"),
              "CREATE TABLE IF NOT EXISTS \"public\".\"support_faq_v2\" (id SERIAL PRIMARY KEY, vector_id TEXT NOT NULL, "
              "embedding vector(4), metadata JSONB DEFAULT '{}'::jsonb, namespace VARCHAR(255) NOT NULL DEFAULT "
              "'default')");
    EXPECT_EQ(table_layout_named("mastra").secondary_index_sql("public", "t", "T")[0],
              "CREATE UNIQUE INDEX IF NOT EXISTS \"t_namespace_vector_id_idx\" ON \"public\".\"t\" (namespace, vector_id)");
    EXPECT_EQ(table_layout_named("mastra").copy_columns(), "\"vector_id\", \"metadata\", \"embedding\"");
    EXPECT_EQ(table_layout_named("llamaindex-ts").copy_columns(), "\"id\", \"document\", \"metadata\", \"embeddings\"");
    EXPECT_EQ(table_layout_named("pgvectorstore").copy_columns(), "\"langchain_id\", \"content\", \"langchain_metadata\", \"embedding\"");
    EXPECT_NE(table_layout_named("llamaindex-ts").create_table_sql("s", "t", "vector(8)").find("collection varchar NOT NULL DEFAULT 'data'"),
              std::string::npos);
}

// Each way a document travels comes back as the Chroma record: the marker, a nullable column, Mastra's "text".
TEST(TableLayouts, DocumentsAndUrisRoundTripPerLayout) {
    RecordBatch b;
    b.dim = 1;
    float v = 1;
    b.push("a", &v, std::nullopt, std::string("s3://b/k"), {});
    b.push("b", &v, std::string(""), std::nullopt, {{"k", int64_t(1)}});
    b.push("c", &v, std::nullopt, std::nullopt, {{"k", 1.0}});
    b.push("d", &v, std::string("text ü"), std::nullopt, {});
    for (const TableLayout *tl : table_layout_registry()) {
        PgTableReadOptions ro;
        tl->read_mapping(ro);
        for (size_t i = 0; i < b.size(); ++i) {
            std::string j = framework_metadata_json(b, i, tl->metadata_document());
            if (j.empty() && tl->empty_metadata_object) j = "{}";
            // What the document column holds (none for Mastra: the reader selects NULL).
            std::optional<std::string> doc;
            if (tl->document == DocumentStore::empty_with_marker) doc = b.documents[i].value_or("");
            else if (tl->document == DocumentStore::nullable) doc = b.documents[i];
            std::optional<std::string> uri;
            Metadata meta = j.empty() ? Metadata{} : metadata_from_json(j);
            framework_row_to_record(doc, uri, meta, ro.document_in_metadata);
            EXPECT_EQ(doc, b.documents[i]) << tl->name << " " << i;
            EXPECT_EQ(uri, b.uris[i]) << tl->name << " " << i;
            EXPECT_EQ(meta, b.metadatas[i]) << tl->name << " " << i;
        }
    }
    EXPECT_EQ(table_layout_named("mastra").metadata_document(), DocumentInMetadata::text);
    EXPECT_EQ(table_layout_named("llamaindex-ts").metadata_document(), DocumentInMetadata::none);
    EXPECT_EQ(table_layout_named("langchainjs").metadata_document(), DocumentInMetadata::null_marker);
    EXPECT_EQ(framework_metadata_json(b, 3, DocumentInMetadata::text), "{\"text\":\"text ü\"}");
    EXPECT_EQ(framework_metadata_json(b, 2, DocumentInMetadata::text), "{\"k\":1.0}");
    EXPECT_EQ(framework_metadata_json(b, 2, DocumentInMetadata::none), "{\"k\":1.0}");
}

TEST(TableLayouts, MetadataThatWouldBeAmbiguousIsRefused) {
    RecordBatch b;
    b.dim = 1;
    float v = 1;
    b.push("a", &v, std::string("doc"), std::nullopt, {{"text", std::string("mine")}});
    EXPECT_THROW(framework_metadata_json(b, 0, DocumentInMetadata::text), DataError);
    EXPECT_EQ(framework_metadata_json(b, 0, DocumentInMetadata::null_marker), "{\"text\":\"mine\"}");
    b.push("b", &v, std::string("doc"), std::nullopt, {{kUriKey, std::string("mine")}});
    EXPECT_THROW(framework_metadata_json(b, 1, DocumentInMetadata::none), DataError);
}
