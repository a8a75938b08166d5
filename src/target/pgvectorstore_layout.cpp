// `--layout pgvectorstore`: the table of Python langchain-postgres's PGVectorStore (0.0.14 on; the
// successor of PGVector), as init_vectorstore_table creates it with a TEXT id column, and its vector
// index named as the store names its own.
#include <fmt/format.h>

#include "target/table_layout.hpp"
#include "target/table_names.hpp"

namespace c2p {
namespace {

class PgvectorstoreLayout final : public TableLayout {
public:
    PgvectorstoreLayout() {
        name = "pgvectorstore";
        client = "langchain-postgres PGVectorStore";
        id_column = primary_key = "langchain_id";
        document_column = "content";
        metadata_column = "langchain_metadata";
        metadata_json = true;
        columns = {{"langchain_id", {"text"}, true},
                   {"content", {"text"}, true},
                   {"embedding", {}, true},
                   {"langchain_metadata", {"json", "jsonb"}, false}};
    }
    std::string create_table_sql(const std::string &schema, const std::string &table,
                                 const std::string &vector_type) const override {
        return "CREATE TABLE IF NOT EXISTS " + qualified(schema, table) +
               " (\"langchain_id\" TEXT PRIMARY KEY, \"content\" TEXT NOT NULL, \"embedding\" " + vector_type +
               " NOT NULL, \"langchain_metadata\" JSON)";
    }
    std::string vector_index_name(const std::string &table) const override {
        return pg_identifier(table + "langchainvectorindex"); // aapply_vector_index's default name
    }
    nlohmann::ordered_json client_config(const std::string &schema, const std::string &table,
                                         const CollectionInfo &c) const override {
        return {{"table_name", table},
                {"schema_name", schema},
                {"distance_strategy", c.space == Space::l2   ? "EUCLIDEAN"
                                      : c.space == Space::ip ? "INNER_PRODUCT"
                                                             : "COSINE_DISTANCE"}};
    }
    std::string snippet(const nlohmann::ordered_json &config) const override {
        return fmt::format("PGVectorStore.create_sync(engine, embedding_service=embeddings, table_name={}, "
                           "schema_name={}, distance_strategy=DistanceStrategy.{})",
                           config["table_name"].dump(), config["schema_name"].dump(),
                           config["distance_strategy"].get<std::string>());
    }
};

} // namespace

const TableLayout &pgvectorstore_layout() {
    static const PgvectorstoreLayout l;
    return l;
}

} // namespace c2p
