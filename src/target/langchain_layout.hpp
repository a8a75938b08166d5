// `--layout langchain`: langchain-postgres PGVector's `langchain_pg_collection` and
// `langchain_pg_embedding` tables, created as the library creates them, plus a per-collection
// partial HNSW index with the operator class of the collection's space.
#pragma once

#include <string>

#include "target/layout_sink.hpp"

namespace c2p {

// DDL as PGVector's SQLAlchemy models emit it (create_all), made idempotent.
std::string langchain_collection_table_sql(const std::string &schema);
std::string langchain_embedding_table_sql(const std::string &schema, const VectorColumn &col);
std::string langchain_gin_index_sql(const std::string &schema);
// The partial vector index of one collection, named from its uuid.
std::string langchain_vector_index_name(const std::string &collection_uuid);
// The row id a Chroma id gets: the id itself, or "<collection>:<id>" with --langchain-id-prefix.
std::string langchain_row_id(const std::string &collection, const std::string &id, bool prefix);

class LangchainSink : public LayoutSink {
public:
    LangchainSink(PgConnection &pg, LayoutOptions o);
    void begin(const CollectionInfo &c) override;
    void write(const RecordBatch &batch) override;
    void finish() override;
    void abort() noexcept override;
    const std::string &table_name() const override { return table_; }
    uint64_t rows_written() const override { return rows_; }
    double index_seconds() const override { return index_seconds_; }

private:
    PgConnection &pg_;
    LayoutOptions o_;
    CollectionInfo info_;
    VectorColumn col_;
    bool have_table_ = false; // false: an empty collection of unknown dimension and no embedding table yet
    std::string table_ = "langchain_pg_embedding";
    CopyBinaryBuffer buf_;
    std::string id_;
    uint64_t rows_ = 0;
    double index_seconds_ = 0;
    bool in_tx_ = false, in_copy_ = false;
};

} // namespace c2p
