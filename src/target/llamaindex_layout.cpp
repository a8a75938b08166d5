#include "target/llamaindex_layout.hpp"

#include <fmt/format.h>

#include "target/table_names.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {
std::string lower(std::string s) {
    for (char &ch : s)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    return s;
}
// PostgreSQL truncates a longer identifier to 63 bytes (with a NOTICE): the app's names end up the same.
std::string pg_truncate(std::string s) {
    if (s.size() > kMaxIdentBytes) s.resize(kMaxIdentBytes);
    return s;
}
} // namespace

std::string llamaindex_table_name(const std::string &name) { return pg_truncate("data_" + lower(name)); }
std::string llamaindex_vector_index_name(const std::string &name) {
    return pg_truncate("data_" + lower(name) + "_embedding_idx");
}
std::string llamaindex_ref_doc_index_name(const std::string &name) { return pg_truncate(lower(name) + "_idx_1"); }

std::string llamaindex_table_sql(const std::string &schema, const std::string &name, const VectorColumn &col) {
    return "CREATE TABLE IF NOT EXISTS " + qualified(schema, llamaindex_table_name(name)) +
           " (id BIGSERIAL NOT NULL, text VARCHAR NOT NULL, metadata_ JSONB, node_id VARCHAR, embedding " + col.sql() +
           ", PRIMARY KEY (id))";
}

std::string llamaindex_ref_doc_index_sql(const std::string &schema, const std::string &name) {
    return "CREATE INDEX IF NOT EXISTS " + quote_ident(llamaindex_ref_doc_index_name(name)) + " ON " +
           qualified(schema, llamaindex_table_name(name)) + " ((metadata_ ->> 'ref_doc_id'))";
}

void encode_llamaindex_row(CopyBinaryBuffer &buf, const VectorColumn &col, bool metadata_json, const RecordBatch &b,
                           size_t i, const std::string &collection) {
    buf.begin_tuple(4);
    buf.text_field(b.documents[i] ? std::string_view(*b.documents[i]) : std::string_view()); // text NOT NULL
    std::string meta = framework_metadata_json(b, i);
    if (meta.empty()) buf.null_field();
    else if (metadata_json) buf.text_field(meta); // json's binary form is its text
    else buf.jsonb_field(meta);
    buf.text_field(b.ids[i]);
    append_vector(buf, col, b, i, collection);
}

std::string LlamaindexSink::prepare() {
    const CollectionInfo &c = info_;
    const std::string &s = o_.schema;
    table_ = llamaindex_table_name(c.name);
    ensure_schema(pg_, s);
    if (!checking_ && c.space != Space::cosine)
        log::warn("layout_space",
                  fmt::format("collection '{}' uses the {} space but LlamaIndex's PGVectorStore always searches by "
                              "cosine distance: the index is built for cosine; nearest neighbours differ from Chroma's "
                              "unless the vectors are normalised",
                              c.name, space_name(c.space)),
                  {{"collection", c.name}});
    auto existing = existing_vector_column(pg_, s, table_, "embedding");
    if (existing) {
        col_ = *existing;
        uint32_t dim = c.dimension.value_or(col_.dim.value_or(0));
        if (col_.dim && c.dimension && *col_.dim != *c.dimension)
            throw DataError(fmt::format("collection '{}' has {} dimensions but {}.{}.embedding is {} (the app's "
                                        "embed_dim); drop the table or pass --schema to migrate elsewhere",
                                        c.name, dim, s, table_, col_.sql()));
        json_not_jsonb_ = existing_column_type(pg_, s, table_, "metadata_").value_or("jsonb") == "json";
        auto n = pg_.scalar("SELECT count(*) FROM " + qualified(s, table_));
        if (n && *n != "0" && !o_.replace)
            throw UsageError(fmt::format("already migrated: '{}' ({}.{}, {} rows); pass --replace to reload it from the "
                                         "source, or run `chroma2pg sync --layout llamaindex` to apply only the changes",
                                         c.name, s, table_, *n));
        pg_.exec("TRUNCATE " + qualified(s, table_) + " RESTART IDENTITY");
    } else {
        // vector(n) needs n: an empty collection of unknown dimension gets an untyped column.
        col_ = VectorColumn{o_.halfvec, c.dimension};
        pg_.exec(llamaindex_table_sql(s, c.name, col_));
        json_not_jsonb_ = false;
    }
    pg_.exec(llamaindex_ref_doc_index_sql(s, c.name));
    // The vector index is rebuilt after the load: one build instead of an insert per row.
    pg_.exec("DROP INDEX IF EXISTS " + qualified(s, llamaindex_vector_index_name(c.name)));
    return "COPY " + qualified(s, table_) + " (text, metadata_, node_id, embedding) FROM STDIN WITH (FORMAT BINARY)";
}

void LlamaindexSink::encode_row(const RecordBatch &b, size_t i) {
    encode_llamaindex_row(buf_, col_, json_not_jsonb_, b, i, info_.name);
}

std::optional<VectorIndexPlan> LlamaindexSink::index_plan() {
    uint32_t dim = col_.dim ? *col_.dim : info_.dimension.value_or(0);
    if (dim == 0) return std::nullopt;
    return plan_vector_index(qualified(o_.schema, table_), llamaindex_vector_index_name(info_.name), col_, dim,
                             Space::cosine, o_.index.for_collection(info_), rows_, "", info_.name);
}

std::string LlamaindexSink::expression_index_advice(const VectorIndexPlan &p) const {
    return fmt::format("collection '{}': the index is on {}; LlamaIndex's own query orders by `embedding <=> $1` and "
                       "will not use it (exact search). Rerun with --halfvec and set use_halfvec=True in "
                       "PGVectorStore, or query with ORDER BY {} <=> $1::{}",
                       info_.name, p.order_expr, p.order_expr, p.param_type);
}

std::vector<std::string> LlamaindexSink::analyze_tables() const { return {qualified(o_.schema, table_)}; }

} // namespace c2p
