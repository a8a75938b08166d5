// `--layout llamaindex`: LlamaIndex PGVectorStore's `data_<name>` table, created as the library
// creates it, plus the HNSW index it creates itself (`data_<name>_embedding_idx`, cosine: the only
// distance PGVectorStore queries with).
#pragma once

#include <optional>
#include <string>
#include <vector>

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

// One COPY tuple (text, metadata_, node_id, embedding); migrate and sync share it. `metadata_json`:
// the column is json (a table created with use_jsonb=False), whose binary form is its text.
void encode_llamaindex_row(CopyBinaryBuffer &buf, const VectorColumn &col, bool metadata_json, const RecordBatch &b,
                           size_t i, const std::string &collection);

class LlamaindexSink : public LayoutSink {
public:
    LlamaindexSink(PgConnection &pg, LayoutOptions o) : LayoutSink(pg, std::move(o)) {}

protected:
    std::string prepare() override;
    void encode_row(const RecordBatch &b, size_t i) override;
    std::optional<VectorIndexPlan> index_plan() override;
    std::string expression_index_advice(const VectorIndexPlan &p) const override;
    std::vector<std::string> analyze_tables() const override;

private:
    bool json_not_jsonb_ = false; // an existing table created with use_jsonb=False
};

} // namespace c2p
