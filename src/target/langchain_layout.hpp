// `--layout langchain`: langchain-postgres PGVector's `langchain_pg_collection` and
// `langchain_pg_embedding` tables, created as the library creates them, plus a per-collection
// partial HNSW index with the operator class of the collection's space.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "target/layout_sink.hpp"

namespace c2p {

constexpr const char *kLangchainCollections = "langchain_pg_collection";
constexpr const char *kLangchainEmbeddings = "langchain_pg_embedding";

// DDL as PGVector's SQLAlchemy models emit it (create_all), made idempotent.
std::string langchain_collection_table_sql(const std::string &schema);
std::string langchain_embedding_table_sql(const std::string &schema, const VectorColumn &col);
std::string langchain_gin_index_sql(const std::string &schema);
// The shared embedding table's column when the table exists (nullopt when not); DataError when its dimension
// is not collection `c`'s. The sink and --dry-run's plan both ask this.
std::optional<VectorColumn> langchain_existing_column(PgConnection &pg, const std::string &schema, const CollectionInfo &c);
// The partial vector index of one collection, named from its uuid.
std::string langchain_vector_index_name(const std::string &collection_uuid);
// The rows of one collection in the shared table (also the partial index's predicate).
std::string langchain_collection_predicate(const std::string &collection_uuid);
// The row id a Chroma id gets: the id itself, or "<collection>:<id>" with --langchain-id-prefix.
std::string langchain_row_id(const std::string &collection, const std::string &id, bool prefix);

// One COPY tuple of the staging table (id, embedding, document, cmetadata); migrate and sync share it.
void encode_langchain_row(CopyBinaryBuffer &buf, const VectorColumn &col, const RecordBatch &b, size_t i,
                          const std::string &collection, bool id_prefix);

class LangchainSink : public LayoutSink {
public:
    LangchainSink(PgConnection &pg, LayoutOptions o, const TargetLayout &layout) : LayoutSink(pg, std::move(o), layout) {
        table_ = kLangchainEmbeddings;
    }

protected:
    std::string prepare() override;
    void encode_row(const RecordBatch &b, size_t i) override;
    void after_copy() override;
    std::optional<VectorIndexPlan> index_plan() override;
    std::string expression_index_advice(const VectorIndexPlan &p) const override;
    std::vector<std::string> analyze_tables() const override;

private:
    bool have_table_ = false; // false: an empty collection of unknown dimension and no embedding table yet
};

} // namespace c2p
