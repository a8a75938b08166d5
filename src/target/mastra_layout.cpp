// `--layout mastra`: the table Mastra's PgVector (@mastra/pg) creates with createIndex, so the client
// reads it as its own. It finds the vector index by the name "<indexName>_vector_idx" and takes the
// metric from its operator class; it has no document column (its convention: metadata "text").
#include <fmt/format.h>

#include "target/table_layout.hpp"

namespace c2p {
namespace {

class MastraLayout final : public TableLayout {
public:
    MastraLayout() {
        name = "mastra";
        client = "Mastra PgVector";
        id_column = "vector_id";
        document = DocumentStore::metadata_text;
        empty_metadata_object = true;
        fold_name = true;        // indexName must match [A-Za-z_][A-Za-z0-9_]*
        max_table_bytes = 52;    // + "_vector_idx" = 63
        rows_predicate = "namespace = 'default'";
        columns = {{"id", {"integer"}, true},
                   {"vector_id", {"text"}, true},
                   {"embedding", {}, false},
                   {"metadata", {"jsonb"}, false},
                   {"namespace", {"character varying(255)"}, true}};
    }
    std::string create_table_sql(const std::string &schema, const std::string &table,
                                 const std::string &vector_type) const override {
        return "CREATE TABLE IF NOT EXISTS " + qualified(schema, table) +
               " (id SERIAL PRIMARY KEY, vector_id TEXT NOT NULL, embedding " + vector_type +
               ", metadata JSONB DEFAULT '{}'::jsonb, namespace VARCHAR(255) NOT NULL DEFAULT 'default')";
    }
    std::vector<std::string> secondary_index_sql(const std::string &schema, const std::string &table,
                                                 const std::string &) const override {
        // Without it the client's first read migrates the table (ALTER TABLE, CREATE UNIQUE INDEX).
        return {"CREATE UNIQUE INDEX IF NOT EXISTS " + quote_ident(table + "_namespace_vector_id_idx") + " ON " +
                qualified(schema, table) + " (namespace, vector_id)"};
    }
    std::string vector_index_name(const std::string &table) const override { return table + "_vector_idx"; }
    nlohmann::ordered_json client_config(const std::string &schema, const std::string &table,
                                         const CollectionInfo &) const override {
        nlohmann::ordered_json j = {{"indexName", table}};
        if (schema != "public") j["schemaName"] = schema; // a PgVector constructor option
        return j;
    }
    std::string snippet(const nlohmann::ordered_json &config) const override {
        std::string schema = config.contains("schemaName") ? ", schemaName: " + config["schemaName"].dump() : "";
        return fmt::format("new PgVector({{ connectionString{} }}).query({{ indexName: {}, queryVector, topK: 10 }})",
                           schema, config["indexName"].dump());
    }
    std::vector<std::string> caveats(const CollectionInfo &c) const override {
        std::vector<std::string> out;
        if (c.space == Space::ip)
            out.push_back(fmt::format("collection '{}' uses the ip space: Mastra scores it by inner product and its "
                                      "default minScore of -1 drops every record whose inner product is -1 or less; "
                                      "pass a lower minScore to query",
                                      c.name));
        return out;
    }
};

} // namespace

const TableLayout &mastra_layout() {
    static const MastraLayout l;
    return l;
}

} // namespace c2p
