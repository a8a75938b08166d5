// `--layout llamaindex`: LlamaIndex PGVectorStore's `data_<name>` table, created as the library
// creates it, plus the HNSW index it creates itself (`data_<name>_embedding_idx`, cosine: the only
// distance PGVectorStore queries with).
#pragma once

#include <string>

#include "target/layout_sink.hpp"

namespace c2p {

// "data_" + the lowercased name (PGVectorStore lowercases table_name), cut to 63 bytes as PostgreSQL does.
std::string llamaindex_table_name(const std::string &collection_name);
// PGVectorStore's index names: "<table>_embedding_idx" (HNSW) and "<name>_idx_1" (ref_doc_id btree).
std::string llamaindex_vector_index_name(const std::string &collection_name);
std::string llamaindex_ref_doc_index_name(const std::string &collection_name);
// DDL as PGVectorStore's SQLAlchemy model emits it (create_all), made idempotent.
std::string llamaindex_table_sql(const std::string &schema, const std::string &collection_name, const VectorColumn &col);
std::string llamaindex_ref_doc_index_sql(const std::string &schema, const std::string &collection_name);

class LlamaindexSink : public LayoutSink {
public:
    LlamaindexSink(PgConnection &pg, LayoutOptions o);
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
    bool json_not_jsonb_ = false; // an existing table created with use_jsonb=False
    std::string table_;
    CopyBinaryBuffer buf_;
    uint64_t rows_ = 0;
    double index_seconds_ = 0;
    bool in_tx_ = false, in_copy_ = false;
};

} // namespace c2p
