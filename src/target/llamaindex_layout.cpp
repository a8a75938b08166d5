#include "target/llamaindex_layout.hpp"

#include <chrono>

#include <fmt/format.h>

#include "core/record_check.hpp"
#include "target/table_names.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {
constexpr size_t kCopyChunkBytes = 4 << 20;

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

LlamaindexSink::LlamaindexSink(PgConnection &pg, LayoutOptions o) : pg_(pg), o_(std::move(o)) {}

void LlamaindexSink::begin(const CollectionInfo &c) {
    info_ = c;
    rows_ = 0;
    const std::string &s = o_.schema;
    table_ = llamaindex_table_name(c.name);
    pg_.exec("BEGIN");
    in_tx_ = true;
    pg_.exec("SET LOCAL synchronous_commit = off");
    pg_.exec("CREATE SCHEMA IF NOT EXISTS " + quote_ident(s));
    if (c.space != Space::cosine)
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
                                         "source",
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
    pg_.copy_in_start("COPY " + qualified(s, table_) + " (text, metadata_, node_id, embedding) FROM STDIN WITH (FORMAT BINARY)");
    in_copy_ = true;
    buf_.clear();
    buf_.header();
}

void LlamaindexSink::write(const RecordBatch &b) {
    if (b.empty()) return;
    if (col_.dim && b.dim != *col_.dim)
        throw DataError(fmt::format("collection '{}': record '{}' has {} dimensions, {}.{}.embedding is {}", info_.name,
                                    b.ids[0], b.dim, o_.schema, table_, col_.sql()));
    for (size_t i = 0; i < b.size(); ++i) {
        if (auto p = record_problem(b, i); !p.empty())
            throw DataError("collection '" + info_.name + "': record '" + b.ids[i] + "': " + p);
        buf_.begin_tuple(4);
        buf_.text_field(b.documents[i] ? std::string_view(*b.documents[i]) : std::string_view()); // text NOT NULL
        std::string meta = framework_metadata_json(b, i);
        if (meta.empty()) buf_.null_field();
        else if (json_not_jsonb_) buf_.text_field(meta); // json's binary form is its text
        else buf_.jsonb_field(meta);
        buf_.text_field(b.ids[i]);
        append_vector(buf_, col_, b, i, info_.name);
        if (buf_.size() >= kCopyChunkBytes) {
            pg_.copy_in_send(buf_.data().data(), buf_.size());
            buf_.clear();
        }
    }
    rows_ += b.size();
}

void LlamaindexSink::finish() {
    const std::string &s = o_.schema;
    buf_.trailer();
    pg_.copy_in_send(buf_.data().data(), buf_.size());
    buf_.clear();
    pg_.copy_in_end();
    in_copy_ = false;
    auto t0 = std::chrono::steady_clock::now();
    uint32_t dim = col_.dim ? *col_.dim : info_.dimension.value_or(0);
    if (dim > 0) {
        if (!o_.index.maintenance_work_mem.empty())
            pg_.exec("SET LOCAL maintenance_work_mem = " + quote_literal(o_.index.maintenance_work_mem));
        auto plan = plan_vector_index(qualified(s, table_), llamaindex_vector_index_name(info_.name), col_, dim,
                                      Space::cosine, o_.index, rows_, "", info_.name);
        if (!plan.sql.empty()) {
            log::info("index", fmt::format("collection '{}': building the vector index", info_.name),
                      {{"collection", info_.name}, {"sql", plan.sql}});
            pg_.exec(plan.sql);
            if (!plan.on_column)
                log::warn("index_expression",
                          fmt::format("collection '{}': the index is on {}; LlamaIndex's own query orders by "
                                      "`embedding <=> $1` and will not use it (exact search). Rerun with --halfvec "
                                      "and set use_halfvec=True in PGVectorStore, or query with ORDER BY {} <=> $1::{}",
                                      info_.name, plan.order_expr, plan.order_expr, plan.param_type),
                          {{"collection", info_.name}});
        }
    }
    pg_.exec("ANALYZE " + qualified(s, table_));
    index_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    pg_.exec("COMMIT");
    in_tx_ = false;
}

void LlamaindexSink::abort() noexcept {
    try {
        if (in_copy_) pg_.copy_in_abort("chroma2pg: load aborted");
        in_copy_ = false;
        if (in_tx_) pg_.exec("ROLLBACK");
    } catch (...) {
    }
    in_tx_ = false;
}

} // namespace c2p
