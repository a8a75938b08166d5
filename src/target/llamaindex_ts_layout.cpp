// `--layout llamaindex-ts`: the table LlamaIndex TS's PGVectorStore (@llamaindex/postgres) reads. Its
// columns are fixed and its names unquoted, so the table name is the Chroma name folded to [a-z0-9_].
#include <fmt/format.h>

#include "target/table_layout.hpp"
#include "target/table_names.hpp"

namespace c2p {
namespace {

class LlamaindexTsLayout final : public TableLayout {
public:
    LlamaindexTsLayout() {
        name = "llamaindex-ts";
        client = "LlamaIndex TS PGVectorStore";
        document_column = "document";
        embedding_column = "embeddings";
        document = DocumentStore::nullable; // the client returns a NULL document as text ""
        empty_metadata_object = true;
        cosine_only = true;
        fold_name = true;
        rows_predicate = "collection = 'data'"; // the client's default collection, which every query filters on
        columns = {{"id", {"text"}, true},          {"external_id", {"character varying"}, false},
                   {"collection", {"character varying"}, true}, {"document", {"text"}, false},
                   {"metadata", {"jsonb"}, true},   {"embeddings", {}, true}};
    }
    std::string create_table_sql(const std::string &schema, const std::string &table,
                                 const std::string &vector_type) const override {
        return "CREATE TABLE IF NOT EXISTS " + qualified(schema, table) +
               " (id text NOT NULL DEFAULT gen_random_uuid()::text PRIMARY KEY, external_id varchar, collection varchar "
               "NOT NULL DEFAULT 'data', document text, metadata jsonb NOT NULL DEFAULT '{}', embeddings " +
               vector_type + " NOT NULL)";
    }
    std::vector<std::string> secondary_index_sql(const std::string &schema, const std::string &table,
                                                 const std::string &) const override {
        const std::string qt = qualified(schema, table);
        // The client's own names, cut as PostgreSQL cuts them: its CREATE INDEX IF NOT EXISTS finds ours.
        return {"CREATE INDEX IF NOT EXISTS " + quote_ident(pg_identifier("idx_" + table + "_external_id")) + " ON " + qt +
                    " (external_id)",
                "CREATE INDEX IF NOT EXISTS " + quote_ident(pg_identifier("idx_" + table + "_collection")) + " ON " + qt +
                    " (collection)"};
    }
    std::string vector_index_name(const std::string &table) const override {
        return fit_identifier(table, "_embeddings_idx");
    }
    nlohmann::ordered_json client_config(const std::string &schema, const std::string &table,
                                         const CollectionInfo &c) const override {
        nlohmann::ordered_json j = {{"schemaName", schema}, {"tableName", table}};
        if (c.dimension) j["dimensions"] = *c.dimension;
        j["performSetup"] = false; // its setup runs CREATE SCHEMA, which a read-only role may not
        return j;
    }
    std::string snippet(const nlohmann::ordered_json &config) const override {
        return fmt::format("new PGVectorStore({{ clientConfig: {{ connectionString }}, ...{} }})", config.dump());
    }
};

} // namespace

const TableLayout &llamaindex_ts_layout() {
    static const LlamaindexTsLayout l;
    return l;
}

} // namespace c2p
