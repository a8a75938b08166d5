#include "target/pgvector_sink.hpp"

#include <chrono>

#include <fmt/format.h>

#include "core/metadata_json.hpp"
#include "core/record_check.hpp"
#include "core/record_digest.hpp"
#include "target/table_names.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {
// libpq sends a COPY chunk per call; a few MB keeps syscalls rare without holding much memory.
constexpr size_t kCopyChunkBytes = 4 << 20;
} // namespace

PgvectorSink::PgvectorSink(PgConnection &pg, PgvectorSinkOptions opts) : pg_(pg), opts_(std::move(opts)) {}

void PgvectorSink::begin(const CollectionInfo &c) {
    info_ = c;
    rows_ = 0;
    table_ = derive_table_name(c.name);
    staging_ = fit_identifier(table_, "__load");
    auto clash = pg_.exec_params("SELECT name FROM " + qualified(opts_.schema, "chroma_collections") +
                                     " WHERE table_name = $1 AND id::text <> $2 AND name <> $3",
                                 {table_, c.id, c.name});
    if (clash.rows() > 0)
        throw DataError("collection '" + c.name + "': its table name " + table_ + " is already used by collection '" +
                        clash.text(0, 0) + "'");
    pg_.exec("BEGIN");
    in_tx_ = true;
    // Safe: the final COMMIT is still durable (WAL is flushed in order); only speeds the load's own writes.
    pg_.exec("SET LOCAL synchronous_commit = off");
    pg_.exec("DROP TABLE IF EXISTS " + qualified(opts_.schema, staging_));
    pg_.exec(create_table_sql(opts_.schema, staging_, c.dimension));
    pg_.copy_in_start("COPY " + qualified(opts_.schema, staging_) +
                      " (id, embedding, document, uri, metadata, digest) FROM STDIN WITH (FORMAT BINARY)");
    in_copy_ = true;
    buf_.clear();
    buf_.header();
}

void PgvectorSink::write(const RecordBatch &b) {
    if (info_.dimension && b.dim != *info_.dimension && !b.empty())
        throw DataError(fmt::format("collection '{}': record '{}' has {} dimensions, the collection {}", info_.name,
                                    b.ids[0], b.dim, *info_.dimension));
    for (size_t i = 0; i < b.size(); ++i) {
        if (auto p = record_problem(b, i); !p.empty())
            throw DataError("collection '" + info_.name + "': record '" + b.ids[i] + "': " + p);
        buf_.begin_tuple(6);
        buf_.text_field(b.ids[i]);
        buf_.vector_field(b.embedding(i), b.dim);
        if (b.documents[i]) buf_.text_field(*b.documents[i]);
        else buf_.null_field();
        if (b.uris[i]) buf_.text_field(*b.uris[i]);
        else buf_.null_field();
        if (b.metadatas[i].empty()) buf_.null_field();
        else {
            json_.clear();
            append_metadata_json(json_, b.metadatas[i]);
            buf_.jsonb_field(json_);
        }
        Digest d = record_digest(b, i);
        buf_.bytea_field(d.data(), d.size());
        if (buf_.size() >= kCopyChunkBytes) flush(false);
    }
    rows_ += b.size();
}

void PgvectorSink::flush(bool) {
    if (buf_.size() == 0) return;
    pg_.copy_in_send(buf_.data().data(), buf_.size());
    buf_.clear();
}

void PgvectorSink::finish() {
    buf_.trailer();
    flush(true);
    pg_.copy_in_end();
    in_copy_ = false;

    const std::string s = opts_.schema;
    auto t0 = std::chrono::steady_clock::now();
    if (!opts_.index.maintenance_work_mem.empty())
        pg_.exec("SET LOCAL maintenance_work_mem = " + quote_literal(opts_.index.maintenance_work_mem));
    // The primary key is built after the load: one sort instead of a btree insert per row.
    pg_.exec("ALTER TABLE " + qualified(s, staging_) + " ADD CONSTRAINT " +
             quote_ident(fit_identifier(staging_, "_pkey")) + " PRIMARY KEY (id)");
    std::string vec_idx = create_vector_index_sql(s, staging_, fit_identifier(staging_, "_embedding_idx"), info_,
                                                  opts_.index, rows_);
    if (!vec_idx.empty()) {
        log::info("index", fmt::format("collection '{}': building the vector index", info_.name),
                  {{"collection", info_.name}, {"sql", vec_idx}});
        pg_.exec(vec_idx);
    }
    pg_.exec("CREATE INDEX " + quote_ident(fit_identifier(staging_, "_metadata_idx")) + " ON " +
             qualified(s, staging_) + " USING gin (metadata)");
    pg_.exec("ANALYZE " + qualified(s, staging_));
    index_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Swap in: drop the old table, rename the new one and its indexes, update the registry.
    pg_.exec("DROP TABLE IF EXISTS " + qualified(s, table_));
    pg_.exec("ALTER TABLE " + qualified(s, staging_) + " RENAME TO " + quote_ident(table_));
    pg_.exec("ALTER INDEX " + qualified(s, fit_identifier(staging_, "_pkey")) + " RENAME TO " +
             quote_ident(fit_identifier(table_, "_pkey")));
    if (!vec_idx.empty())
        pg_.exec("ALTER INDEX " + qualified(s, fit_identifier(staging_, "_embedding_idx")) + " RENAME TO " +
                 quote_ident(fit_identifier(table_, "_embedding_idx")));
    pg_.exec("ALTER INDEX " + qualified(s, fit_identifier(staging_, "_metadata_idx")) + " RENAME TO " +
             quote_ident(fit_identifier(table_, "_metadata_idx")));
    pg_.exec_params("DELETE FROM " + qualified(s, "chroma_collections") + " WHERE id::text = $1 OR name = $2",
                    {info_.id, info_.name});
    const char *method = vec_idx.empty() ? "none" : opts_.index.method == IndexMethod::ivfflat ? "ivfflat" : "hnsw";
    pg_.exec_params("INSERT INTO " + qualified(s, "chroma_collections") +
                        " (id, name, table_name, dimension, space, metadata, configuration, source, migrated_at,"
                        " record_count, index_method) VALUES ($1::uuid, $2, $3, $4::int, $5, $6::jsonb, $7::jsonb, $8,"
                        " now(), $9::bigint, $10)",
                    {info_.id, info_.name, table_,
                     info_.dimension ? std::optional<std::string>(std::to_string(*info_.dimension)) : std::nullopt,
                     space_name(info_.space),
                     info_.metadata.is_null() ? std::nullopt : std::optional<std::string>(info_.metadata.dump()),
                     info_.configuration.is_null() ? std::nullopt
                                                   : std::optional<std::string>(info_.configuration.dump()),
                     opts_.source_description, std::to_string(rows_), std::string(method)});
    pg_.exec("COMMIT");
    in_tx_ = false;
}

void PgvectorSink::abort() noexcept {
    try {
        if (in_copy_) pg_.copy_in_abort("chroma2pg: load aborted");
        in_copy_ = false;
        if (in_tx_) pg_.exec("ROLLBACK");
    } catch (...) {
    }
    in_tx_ = false;
}

} // namespace c2p
