#include "target/pgvector_sink.hpp"

#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "core/metadata_json.hpp"
#include "core/record_check.hpp"
#include "core/record_digest.hpp"
#include "target/halfvec.hpp"
#include "target/index_build.hpp"
#include "target/pg_transaction.hpp"
#include "target/sql_params.hpp"
#include "target/table_names.hpp"
#include "target/target_layout.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {

bool replace_nul(std::string &s) {
    if (s.find('\0') == std::string::npos) return false;
    std::string out;
    out.reserve(s.size() + 8);
    for (char ch : s) {
        if (ch == '\0') out += kNulEscape;
        else out += ch;
    }
    s = std::move(out);
    return true;
}

bool replace_nul(MetaScalar &v) {
    if (auto *s = std::get_if<std::string>(&v)) return replace_nul(*s);
    return false;
}
} // namespace

BadRecordPolicy parse_bad_record_policy(const std::string &s) {
    if (s == "fail") return BadRecordPolicy::fail;
    if (s == "skip") return BadRecordPolicy::skip;
    throw UsageError("--on-bad-record: expected fail or skip, not '" + s + "'");
}

void encode_native_row(CopyBinaryBuffer &buf, std::string &json, const RecordBatch &b, size_t i,
                       const RecordBatch &digest_batch, size_t digest_i, bool halfvec) {
    buf.begin_tuple(6);
    buf.text_field(b.ids[i]);
    if (halfvec) buf.halfvec_field(b.embedding(i), b.dim);
    else buf.vector_field(b.embedding(i), b.dim);
    if (b.documents[i]) buf.text_field(*b.documents[i]);
    else buf.null_field();
    if (b.uris[i]) buf.text_field(*b.uris[i]);
    else buf.null_field();
    if (b.metadatas[i].empty()) buf.null_field();
    else {
        json.clear();
        append_metadata_json(json, b.metadatas[i]);
        buf.jsonb_field(json);
    }
    Digest d = halfvec ? record_digest_halfvec(digest_batch, digest_i) : record_digest(digest_batch, digest_i);
    buf.bytea_field(d.data(), d.size());
}

bool escape_nul_record(const RecordBatch &b, size_t i, RecordBatch &out) {
    std::optional<std::string> doc = b.documents[i], uri = b.uris[i];
    Metadata meta = b.metadatas[i];
    bool changed = false;
    if (doc) changed |= replace_nul(*doc);
    if (uri) changed |= replace_nul(*uri);
    for (auto &[k, v] : meta) {
        changed |= replace_nul(k);
        if (auto *arr = std::get_if<std::vector<MetaScalar>>(&v)) {
            for (auto &e : *arr) changed |= replace_nul(e);
        } else if (auto *s = std::get_if<std::string>(&v)) {
            changed |= replace_nul(*s);
        }
    }
    if (!changed) return false;
    out.dim = b.dim;
    out.push(b.ids[i], b.embedding(i), std::move(doc), std::move(uri), std::move(meta));
    return true;
}

void check_batch(const RecordBatch &b, const CollectionInfo &c, uint64_t first_offset, const PgvectorSinkOptions &o,
                 RejectFile &rejects, CheckedBatch &out) {
    out.good.clear();
    out.escaped.clear();
    out.escaped.dim = b.dim;
    out.escaped_from.clear();
    out.rejected = 0;
    out.first_rejected.clear();
    auto reject = [&](size_t i, const std::string &why) {
        rejects.add(b, i, first_offset + i, why, "rejected");
        if (out.rejected++ == 0) out.first_rejected = fmt::format(" (first: record '{}': {})", b.ids[i], why);
    };
    if (c.dimension && b.dim != *c.dimension && !b.empty()) {
        std::string why = fmt::format("embedding has {} dimensions, the collection {}", b.dim, *c.dimension);
        for (size_t i = 0; i < b.size(); ++i) reject(i, why);
        return;
    }
    RecordBatch one;
    for (size_t i = 0; i < b.size(); ++i) {
        std::string p = record_problem(b, i);
        // A value beyond float16's range cannot go into a halfvec column, escaped or not.
        bool too_big_for_half = p.empty() && o.halfvec && !halfvec_problem(b, i).empty();
        if (too_big_for_half) p = halfvec_problem(b, i);
        if (p.empty()) {
            out.good.push_back(i);
            continue;
        }
        if (o.escape_nul && !too_big_for_half) {
            one.clear();
            if (escape_nul_record(b, i, one) && record_problem(one, 0).empty()) {
                out.escaped.push(one.ids[0], one.embedding(0), std::move(one.documents[0]), std::move(one.uris[0]),
                                 std::move(one.metadatas[0]));
                out.escaped_from.push_back(i);
                rejects.add(b, i, first_offset + i, p + "; stored with U+0000 replaced by U+2400", "escaped");
                continue;
            }
        }
        reject(i, p);
    }
}

RangeLoader::RangeLoader(PgConnection &pg, const PgvectorSinkOptions &opts, const CheckpointStore &store,
                         std::string run_id, std::string staging, int range_no, uint64_t start_offset,
                         RejectFile &rejects, const std::atomic<bool> *cancel)
    : pg_(pg), opts_(opts), store_(store), run_id_(std::move(run_id)), staging_(std::move(staging)),
      range_no_(range_no), rejects_(rejects), cancel_(cancel), chunk_start_(start_offset), pos_(start_offset) {}

void RangeLoader::begin(const CollectionInfo &c) { info_ = c; }

void RangeLoader::open_chunk() {
    pg_.exec("BEGIN");
    in_tx_ = true;
    // Safe: a chunk and its checkpoint commit or vanish together, even if the last commits are lost.
    pg_.exec("SET LOCAL synchronous_commit = off");
    pg_.copy_in_start("COPY " + qualified(opts_.schema, staging_) +
                      " (id, embedding, document, uri, metadata, digest) FROM STDIN WITH (FORMAT BINARY)");
    in_copy_ = true;
    buf_.clear();
    buf_.header();
}

void RangeLoader::write(const RecordBatch &b) {
    if (cancel_ && cancel_->load()) throw Cancelled();
    check_batch(b, info_, pos_, opts_, rejects_, checked_);
    if (checked_.rejected > 0 && opts_.on_bad_record == BadRecordPolicy::fail) {
        rejects_.sync();
        throw DataError(fmt::format(
            "collection '{}': {} record(s) that PostgreSQL cannot store among source records {}..{}, all listed in {}; "
            "nothing of the current chunk was written and the live table is untouched. Fix the source and rerun with "
            "--resume, or rerun with --resume --on-bad-record=skip to migrate the rest (NUL characters: --escape-nul "
            "stores them losslessly)",
            info_.name, checked_.rejected, pos_, pos_ + b.size() - 1, rejects_.path()));
    }
    if (!in_tx_) open_chunk();
    for (size_t i : checked_.good) {
        encode_native_row(buf_, json_, b, i, b, i, opts_.halfvec);
        if (buf_.size() >= kCopyChunkBytes) {
            pg_.copy_in_send(buf_);
        }
    }
    for (size_t k = 0; k < checked_.escaped.size(); ++k)
        encode_native_row(buf_, json_, checked_.escaped, k, b, checked_.escaped_from[k], opts_.halfvec);
    pos_ += b.size();
    chunk_rows_ += checked_.good.size() + checked_.escaped.size();
    chunk_rejected_ += checked_.rejected;
    if (pos_ - chunk_start_ >= opts_.chunk_records) commit_chunk(false);
}

void RangeLoader::commit_chunk(bool range_done) {
    if (!in_tx_) {
        pg_.exec("BEGIN");
        in_tx_ = true;
    }
    if (in_copy_) {
        pg_.copy_in_finish(buf_);
        in_copy_ = false;
    }
    store_.record_chunk(pg_, info_.id, run_id_, range_no_, chunk_start_, pos_, chunk_rows_, chunk_rejected_, range_done);
    rejects_.sync(); // the reject lines of this chunk are on disk before it counts as done
    pg_.exec("COMMIT");
    in_tx_ = false;
    committed_rows_ += chunk_rows_;
    chunk_start_ = pos_;
    chunk_rows_ = chunk_rejected_ = 0;
}

void RangeLoader::finish() { commit_chunk(true); }

void RangeLoader::abort() noexcept {
    pg_.abort_copy_and_transaction(in_copy_, in_tx_);
}

FinalizeResult finalize_collection(PgConnection &pg, const PgvectorSinkOptions &opts, const CheckpointStore &store,
                                   const CollectionInfo &c, const std::string &table, const std::string &staging,
                                   const BadRecordCounts &bad) {
    PgConnection::Patience long_statements(pg); // the index build may be silent for long
    FinalizeResult res;
    auto load = store.load(pg, c.id);
    if (load && load->status == "done") {
        res.already_done = true;
        res.rows = std::stoull(pg.scalar("SELECT count(*) FROM " + qualified(opts.schema, table)).value_or("0"));
        return res;
    }
    const std::string s = opts.schema;
    in_transaction(pg, [&] {
        set_index_build_session(pg, opts.index, opts.jobs);
        // Each chunk's checkpoint commits with its rows, so their sum is the staging table's row count.
        res.rows = load ? load->committed_records()
                        : std::stoull(pg.scalar("SELECT count(*) FROM " + qualified(s, staging)).value_or("0"));
        auto t0 = std::chrono::steady_clock::now();
        // The plan --dry-run prints for the table, built on the staging table and renamed at the swap.
        const auto built = native_indexes(s, staging, c, opts.index, res.rows, opts.halfvec, nullptr);
        const auto named = native_indexes(s, table, c, opts.index, res.rows, opts.halfvec, nullptr);
        bool vector_index = false;
        for (const auto &ix : built) {
            if (ix.kind != "vector") {
                pg.exec(ix.sql);
                continue;
            }
            const uint32_t dim = c.dimension.value_or(0);
            build_vector_index(pg, opts.target, c.name, {res.rows, dim, opts.halfvec || dim > kMaxVectorIndexDims},
                               opts.index.for_collection(c), ix.sql);
            vector_index = true;
        }
        // Statistics on embeddings and digests help no plan and cost most of ANALYZE (it sorts the sampled vectors).
        pg.exec("ALTER TABLE " + qualified(s, staging) +
                " ALTER COLUMN embedding SET STATISTICS 0, ALTER COLUMN digest SET STATISTICS 0");
        if (vector_index || opts.index.metadata_gin)
            pg.exec("ANALYZE " + qualified(s, staging));
        else // a bare load: like pgcopydb, statistics belong with the index phase the user runs later
            log::info("analyze", fmt::format("collection '{}': bare load, ANALYZE left to autovacuum or to after your "
                                             "CREATE INDEX",
                                             c.name),
                      {{"collection", c.name}});
        res.index_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

        // Swap in: drop the old table, rename the new one and its indexes, update the registry.
        pg.exec("DROP TABLE IF EXISTS " + qualified(s, table));
        pg.exec("ALTER TABLE " + qualified(s, staging) + " RENAME TO " + quote_ident(table));
        for (size_t i = 0; i < built.size(); ++i)
            pg.exec("ALTER INDEX " + qualified(s, built[i].name) + " RENAME TO " + quote_ident(named[i].name));
        pg.exec_params("DELETE FROM " + qualified(s, "chroma_collections") + " WHERE id::text = $1 OR name = $2",
                       {c.id, c.name});
        const char *method = !vector_index ? "none" : opts.index.method == IndexMethod::ivfflat ? "ivfflat" : "hnsw";
        std::optional<std::string> bad_json;
        if (bad.rejected || bad.escaped) {
            nlohmann::ordered_json j = {{"rejected", bad.rejected}, {"escaped", bad.escaped}, {"reject_file", bad.reject_file}};
            if (bad.escaped) j["nul_escape"] = "U+0000 stored as U+2400; originals in the reject file";
            bad_json = j.dump();
        }
        pg.exec_params("INSERT INTO " + qualified(s, "chroma_collections") +
                           " (id, name, table_name, dimension, space, metadata, configuration, source, migrated_at,"
                           " record_count, index_method, bad_records, embedding_type) VALUES ($1::uuid, $2, $3, $4::int,"
                           " $5, $6::jsonb, $7::jsonb, $8, now(), $9::bigint, $10, $11::jsonb, $12)",
                       {c.id, c.name, table,
                        c.dimension ? std::optional<std::string>(std::to_string(*c.dimension)) : std::nullopt,
                        space_name(c.space),
                        json_or_null(c.metadata),
                        json_or_null(c.configuration),
                        opts.source_description, std::to_string(res.rows), std::string(method), bad_json,
                        std::string(opts.halfvec ? "halfvec" : "vector")});
        store.mark_done(pg, c.id);
    });
    return res;
}

} // namespace c2p
