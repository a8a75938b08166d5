// `--layout langchainjs`: the table LangChain.js's PGVectorStore (@langchain/community) reads, one per
// collection, named as the Chroma collection (the client quotes it when given schemaName).
#include <fmt/format.h>

#include "target/table_layout.hpp"
#include "target/table_names.hpp"

namespace c2p {
namespace {

class LangchainjsLayout final : public TableLayout {
public:
    LangchainjsLayout() {
        name = "langchainjs";
        client = "LangChain.js PGVectorStore";
        document_column = "text";
        // id is text: the client reads, filters and adds text ids (only delete({ids}) casts to uuid[]).
        columns = {{"id", {"text"}, true}, {"text", {"text"}, true}, {"metadata", {"jsonb"}, false},
                   {"embedding", {}, true}};
    }
    std::string create_table_sql(const std::string &schema, const std::string &table,
                                 const std::string &vector_type) const override {
        return "CREATE TABLE IF NOT EXISTS " + qualified(schema, table) +
               " (id text NOT NULL DEFAULT gen_random_uuid()::text PRIMARY KEY, text text NOT NULL, metadata jsonb, "
               "embedding " + vector_type + " NOT NULL)";
    }
    std::string vector_index_name(const std::string &table) const override {
        return fit_identifier(table, "_embedding_idx");
    }
    nlohmann::ordered_json client_config(const std::string &schema, const std::string &table,
                                         const CollectionInfo &c) const override {
        nlohmann::ordered_json j = {{"tableName", table}, {"schemaName", schema}};
        j["distanceStrategy"] = c.space == Space::l2 ? "euclidean" : c.space == Space::ip ? "innerProduct" : "cosine";
        if (c.dimension) j["dimensions"] = *c.dimension;
        j["skipInitializationCheck"] = true; // a read-only role can query; a wrong name is an error, not 0 rows
        return j;
    }
    std::string snippet(const nlohmann::ordered_json &config) const override {
        return fmt::format("await PGVectorStore.initialize(embeddings, {{ pool, ...{} }})", config.dump());
    }
};

} // namespace

const TableLayout &langchainjs_layout() {
    static const LangchainjsLayout l;
    return l;
}

} // namespace c2p
