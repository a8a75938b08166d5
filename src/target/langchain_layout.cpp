#include "target/langchain_layout.hpp"

#include <chrono>

#include <fmt/format.h>

#include "core/record_check.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {
constexpr size_t kCopyChunkBytes = 4 << 20;
constexpr const char *kCollections = "langchain_pg_collection";
constexpr const char *kEmbeddings = "langchain_pg_embedding";
// Staging table: ids are checked against the global `id` key before anything reaches the real table.
constexpr const char *kStage = "c2p_langchain_stage";
} // namespace

std::string langchain_collection_table_sql(const std::string &schema) {
    return "CREATE TABLE IF NOT EXISTS " + qualified(schema, kCollections) +
           " (uuid UUID NOT NULL, name VARCHAR NOT NULL, cmetadata JSON, PRIMARY KEY (uuid), UNIQUE (name))";
}

std::string langchain_embedding_table_sql(const std::string &schema, const VectorColumn &col) {
    return "CREATE TABLE IF NOT EXISTS " + qualified(schema, kEmbeddings) + " (id VARCHAR NOT NULL, collection_id UUID, embedding " +
           col.sql() + ", document VARCHAR, cmetadata JSONB, PRIMARY KEY (id), FOREIGN KEY (collection_id) REFERENCES " +
           qualified(schema, kCollections) + " (uuid) ON DELETE CASCADE)";
}

std::string langchain_gin_index_sql(const std::string &schema) {
    return "CREATE INDEX IF NOT EXISTS ix_cmetadata_gin ON " + qualified(schema, kEmbeddings) +
           " USING gin (cmetadata jsonb_path_ops)";
}

std::string langchain_vector_index_name(const std::string &uuid) {
    std::string hex;
    for (char ch : uuid)
        if (ch != '-') hex.push_back(ch);
    return "ix_c2p_" + hex + "_embedding"; // 7 + 32 + 10 bytes: within 63
}

std::string langchain_row_id(const std::string &collection, const std::string &id, bool prefix) {
    // Chroma collection names never contain ':', so the first ':' splits the two back losslessly.
    return prefix ? collection + ":" + id : id;
}

LangchainSink::LangchainSink(PgConnection &pg, LayoutOptions o) : pg_(pg), o_(std::move(o)) {}

void LangchainSink::begin(const CollectionInfo &c) {
    info_ = c;
    rows_ = 0;
    const std::string &s = o_.schema;
    pg_.exec("BEGIN");
    in_tx_ = true;
    pg_.exec("SET LOCAL synchronous_commit = off");
    // Two runs creating the shared tables at once must not race.
    pg_.exec("SELECT pg_advisory_xact_lock(hashtext('chroma2pg:langchain:' || " + quote_literal(s) + "))");
    pg_.exec("CREATE SCHEMA IF NOT EXISTS " + quote_ident(s));
    pg_.exec(langchain_collection_table_sql(s));

    auto existing = existing_vector_column(pg_, s, kEmbeddings, "embedding");
    if (existing) {
        col_ = *existing;
        if (col_.dim && c.dimension && *col_.dim != *c.dimension)
            throw DataError(fmt::format(
                "collection '{}' has {} dimensions but {}.{}.embedding is {}: one LangChain table holds one "
                "dimension; migrate this collection into another --schema (its own langchain tables)",
                c.name, *c.dimension, s, kEmbeddings, col_.sql()));
        if (col_.halfvec != o_.halfvec)
            log::warn("layout_column", fmt::format("{}.{}.embedding already exists as {}; loading into it as is{}", s,
                                                   kEmbeddings, col_.sql(), o_.halfvec ? " (--halfvec ignored)" : ""),
                      {{"collection", c.name}});
        have_table_ = true;
    } else if (c.dimension) {
        col_ = VectorColumn{o_.halfvec, c.dimension};
        pg_.exec(langchain_embedding_table_sql(s, col_));
        pg_.exec(langchain_gin_index_sql(s));
        have_table_ = true;
    }

    // The collection is identified by Chroma's uuid and its name (UNIQUE in LangChain's table).
    auto prev = pg_.exec_params("SELECT uuid::text FROM " + qualified(s, kCollections) + " WHERE uuid::text = $1 OR name = $2",
                                {c.id, c.name});
    if (prev.rows() > 0 && have_table_ && existing) {
        auto n = pg_.scalar("SELECT count(*) FROM " + qualified(s, kEmbeddings) +
                                " WHERE collection_id IN (SELECT uuid FROM " + qualified(s, kCollections) +
                                " WHERE uuid::text = $1 OR name = $2)",
                            {c.id, c.name});
        if (n && *n != "0" && !o_.replace)
            throw UsageError(fmt::format("already migrated: '{}' ({}.{}, {} rows); pass --replace to reload it from the source",
                                         c.name, s, kEmbeddings, *n));
    }
    // Replacing: ON DELETE CASCADE removes the collection's old rows with it.
    pg_.exec_params("DELETE FROM " + qualified(s, kCollections) + " WHERE uuid::text = $1 OR name = $2", {c.id, c.name});
    pg_.exec_params("INSERT INTO " + qualified(s, kCollections) + " (uuid, name, cmetadata) VALUES ($1::uuid, $2, $3::json)",
                    {c.id, c.name,
                     c.metadata.is_null() ? std::nullopt : std::optional<std::string>(c.metadata.dump())});
    if (!have_table_) return; // empty collection of unknown dimension: registered, nothing to load
    pg_.exec("DROP INDEX IF EXISTS " + qualified(s, langchain_vector_index_name(c.id)));
    pg_.exec(std::string("CREATE TEMP TABLE ") + kStage + " (id VARCHAR NOT NULL, embedding " + col_.sql() +
             ", document VARCHAR, cmetadata JSONB) ON COMMIT DROP");
    pg_.copy_in_start(std::string("COPY ") + kStage + " (id, embedding, document, cmetadata) FROM STDIN WITH (FORMAT BINARY)");
    in_copy_ = true;
    buf_.clear();
    buf_.header();
}

void LangchainSink::write(const RecordBatch &b) {
    if (b.empty()) return;
    if (!in_copy_)
        throw DataError(fmt::format("collection '{}': the source reported no dimension but returned records; "
                                    "cannot create the langchain table for it",
                                    info_.name));
    if (col_.dim && b.dim != *col_.dim)
        throw DataError(fmt::format("collection '{}': record '{}' has {} dimensions, {}.{}.embedding is {}", info_.name,
                                    b.ids[0], b.dim, o_.schema, kEmbeddings, col_.sql()));
    for (size_t i = 0; i < b.size(); ++i) {
        if (auto p = record_problem(b, i); !p.empty())
            throw DataError("collection '" + info_.name + "': record '" + b.ids[i] + "': " + p);
        buf_.begin_tuple(4);
        buf_.text_field(langchain_row_id(info_.name, b.ids[i], o_.langchain_id_prefix));
        append_vector(buf_, col_, b, i, info_.name);
        buf_.text_field(b.documents[i] ? std::string_view(*b.documents[i]) : std::string_view());
        std::string meta = framework_metadata_json(b, i);
        if (meta.empty()) buf_.null_field();
        else buf_.jsonb_field(meta);
        if (buf_.size() >= kCopyChunkBytes) {
            pg_.copy_in_send(buf_.data().data(), buf_.size());
            buf_.clear();
        }
    }
    rows_ += b.size();
}

void LangchainSink::finish() {
    const std::string &s = o_.schema;
    if (in_copy_) {
        buf_.trailer();
        pg_.copy_in_send(buf_.data().data(), buf_.size());
        buf_.clear();
        pg_.copy_in_end();
        in_copy_ = false;
    }
    if (rows_ > 0) {
        // `id` is the primary key of one table shared by every collection: refuse ids another collection holds.
        auto clash = pg_.exec("SELECT count(*), string_agg(DISTINCT coalesce(c.name, '(no collection)'), ', ') FROM " +
                              std::string(kStage) + " t JOIN " + qualified(s, kEmbeddings) +
                              " e ON e.id = t.id LEFT JOIN " + qualified(s, kCollections) + " c ON c.uuid = e.collection_id");
        if (clash.text(0, 0) != "0") {
            auto few = pg_.exec("SELECT t.id FROM " + std::string(kStage) + " t JOIN " + qualified(s, kEmbeddings) +
                                " e ON e.id = t.id ORDER BY t.id LIMIT 5");
            std::string ids;
            for (int r = 0; r < few.rows(); ++r) ids += (r ? ", '" : "'") + few.text(r, 0) + "'";
            throw DataError(fmt::format(
                "collection '{}': {} id(s) already belong to collection(s) {} in {}.{}, whose id column is one key for "
                "all collections (e.g. {}); nothing of '{}' was written. Rerun with --langchain-id-prefix to store "
                "ids as '<collection>:<id>' (lossless), or migrate the collections into different --schema",
                info_.name, clash.text(0, 0), clash.text(0, 1), s, kEmbeddings, ids, info_.name));
        }
        pg_.exec_params("INSERT INTO " + qualified(s, kEmbeddings) +
                            " (id, collection_id, embedding, document, cmetadata) SELECT id, $1::uuid, embedding, "
                            "document, cmetadata FROM " + kStage,
                        {info_.id});
    }
    auto t0 = std::chrono::steady_clock::now();
    uint32_t dim = col_.dim ? *col_.dim : info_.dimension.value_or(0);
    if (have_table_ && dim > 0) {
        if (!o_.index.maintenance_work_mem.empty())
            pg_.exec("SET LOCAL maintenance_work_mem = " + quote_literal(o_.index.maintenance_work_mem));
        // Partial: each collection gets its own graph and its own space's operator class, and a query
        // filtered on collection_id (as PGVector's always is) searches only it.
        auto plan = plan_vector_index(qualified(s, kEmbeddings), langchain_vector_index_name(info_.id), col_, dim,
                                      info_.space, o_.index, rows_, "collection_id = " + quote_literal(info_.id) + "::uuid",
                                      info_.name);
        if (!plan.sql.empty()) {
            log::info("index", fmt::format("collection '{}': building the vector index", info_.name),
                      {{"collection", info_.name}, {"sql", plan.sql}});
            pg_.exec(plan.sql);
            if (!plan.on_column)
                log::warn("index_expression",
                          fmt::format("collection '{}': the index is on {} ({}); LangChain's own query orders by "
                                      "`embedding {} $1` and will not use it (exact search). Rerun with --halfvec so "
                                      "the column itself is indexable, or query with ORDER BY {} {} $1::{}",
                                      info_.name, plan.order_expr, col_.dim ? "over 2,000 dimensions" : "untyped column",
                                      space_operator(info_.space), plan.order_expr, space_operator(info_.space),
                                      plan.param_type),
                          {{"collection", info_.name}});
        }
        pg_.exec("ANALYZE " + qualified(s, kEmbeddings));
    }
    pg_.exec("ANALYZE " + qualified(s, kCollections));
    index_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    pg_.exec("COMMIT");
    in_tx_ = false;
}

void LangchainSink::abort() noexcept {
    try {
        if (in_copy_) pg_.copy_in_abort("chroma2pg: load aborted");
        in_copy_ = false;
        if (in_tx_) pg_.exec("ROLLBACK");
    } catch (...) {
    }
    in_tx_ = false;
}

} // namespace c2p
