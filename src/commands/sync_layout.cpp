#include "commands/sync_layout.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "commands/sync_read.hpp"
#include "core/record_digest.hpp"
#include "target/langchain_layout.hpp"
#include "target/pg_table_reader.hpp"
#include "target/pgvector_sink.hpp"
#include "target/reject_file.hpp"
#include "target/table_layout.hpp"
#include "target/sql_params.hpp"
#include "util/error.hpp"

namespace c2p {
namespace {

constexpr const char *kSeen = "c2p_sync_seen";
constexpr const char *kRows = "c2p_sync_rows";

} // namespace

void check_langchain_id_prefix(PgConnection &pg, const TargetCollection &t, const CollectionInfo &c, bool prefix) {
    if (t.layout != Layout::langchain || t.table.empty()) return;
    std::string p = langchain_row_id(c.name, "", true);
    auto r = pg.exec_params("SELECT count(*) FILTER (WHERE starts_with(id, $1)), count(*) FROM " + t.qualified_table() +
                                " WHERE " + t.where,
                            {p});
    uint64_t with = std::stoull(r.text(0, 0)), all = std::stoull(r.text(0, 1));
    if (prefix && with < all)
        throw UsageError(fmt::format("collection '{}': {} of its {} row(s) in {} have ids without the prefix '{}'{}: it "
                                     "was not migrated with --langchain-id-prefix; sync without it, or re-migrate with "
                                     "--langchain-id-prefix --replace",
                                     c.name, all - with, all, t.describe(), p, with ? " (a mix)" : ""));
    if (!prefix && all > 0 && with == all)
        throw UsageError(fmt::format("collection '{}': every id in {} starts with '{}': it was migrated with "
                                     "--langchain-id-prefix; sync with --langchain-id-prefix",
                                     c.name, t.describe(), p));
}

SyncCounts sync_layout_collection(PgConnection &pg, Source &source, const CollectionInfo &c, const TargetCollection &t,
                                  const LayoutSyncOptions &o, Progress &progress) {
    SyncCounts n;
    const bool lc = t.layout == Layout::langchain;
    const TableLayout *tl = find_table_layout(t.layout);
    const std::string qt = t.qualified_table();
    pg.exec("BEGIN");
    try {
        if (lc) pg.exec("SELECT pg_advisory_xact_lock(hashtext('chroma2pg:langchain:' || " + quote_literal(t.schema) + "))");
        // 1. What the target holds: a digest per record, computed from its rows (24 bytes a record).
        std::vector<DigestEntry> have;
        {
            PgTableReader reader(pg, read_options(t, c.dimension.value_or(0)), o.batch_size);
            RecordBatch b;
            while (reader.next(b))
                for (size_t i = 0; i < b.size(); ++i) have.push_back({id_key(b.ids[i]), record_digest(b, i)});
        }
        std::sort(have.begin(), have.end(), [](const DigestEntry &a, const DigestEntry &b) { return a.key < b.key; });

        pg.exec(std::string("CREATE TEMP TABLE ") + kSeen + " (id text NOT NULL) ON COMMIT DROP");
        if (tl) // the staged rows have the layout's own columns and types
            pg.exec(std::string("CREATE TEMP TABLE ") + kRows + " ON COMMIT DROP AS SELECT " + tl->copy_columns() +
                    " FROM " + qt + " WITH NO DATA");
        else
            pg.exec(std::string("CREATE TEMP TABLE ") + kRows + " (id VARCHAR NOT NULL, embedding " + t.column.sql() +
                    ", document VARCHAR, cmetadata JSONB) ON COMMIT DROP");
        const std::string rows_cols = tl ? tl->copy_columns() : "id, embedding, document, cmetadata";
        const std::string rows_copy = std::string("COPY ") + kRows + " (" + rows_cols + ") FROM STDIN WITH (FORMAT BINARY)";

        // 2. The source, batch by batch (and, from a live source, what the read did not see): every id is seen;
        // new and changed records are staged; records PostgreSQL cannot store go to the reject file
        // (pgvector_sink's check_batch, as migrate).
        RejectFile rejects(o.reject_file, c.name);
        rejects.reset();
        PgvectorSinkOptions checks;
        checks.on_bad_record = o.skip_bad_records ? BadRecordPolicy::skip : BadRecordPolicy::fail;
        checks.escape_nul = o.escape_nul;
        checks.halfvec = t.column.halfvec;
        LayoutSyncApplier applier(pg, t, have, rows_copy, checks, rejects, n);
        // The seen ids are the target's (LangChain's may carry the collection's prefix); the check lists the source's.
        const std::string seen_ids = t.id_prefix.empty()
                                         ? std::string("SELECT id FROM ") + kSeen
                                         : fmt::format("SELECT substr(id, {}) FROM {}", t.id_prefix.size() + 1, kSeen);
        read_for_sync(pg, source, c, o.batch_size, applier, progress, seen_ids);
        std::vector<DigestEntry>().swap(have);
        pg.exec(std::string("ANALYZE ") + kSeen);

        // 3. Removed from the source: the collection's rows whose id was not seen.
        const std::string idc = quote_ident(t.id_column);
        const std::string gone = " FROM " + qt + " t WHERE " + (t.where.empty() ? "" : "t." + t.where + " AND ") +
                                 "NOT EXISTS (SELECT 1 FROM " + kSeen + " s WHERE s.id = t." + idc + ")";
        n.deleted = std::stoull(pg.scalar("SELECT count(*)" + gone).value_or("0"));
        auto del = pg.exec(fmt::format("SELECT t.{}{} ORDER BY 1 LIMIT {}", idc, gone, kSyncSampleIds));
        for (int k = 0; k < del.rows(); ++k) n.sample_deleted.push_back(del.is_null(k, 0) ? "(null)" : del.text(k, 0));
        if (o.dry_run) {
            pg.exec("ROLLBACK");
            return n;
        }

        // 4. Apply.
        if (n.inserted + n.updated > 0) {
            if (lc) {
                // The id column is one key for every collection: an id another collection holds stops the sync.
                auto clash = pg.exec_params("SELECT count(*), min(s.id), string_agg(DISTINCT coalesce(c.name, '(none)'), "
                                            "', ') FROM " + std::string(kRows) + " s JOIN " + qt + " e ON e.id = s.id "
                                            "LEFT JOIN " + qualified(t.schema, kLangchainCollections) +
                                            " c ON c.uuid = e.collection_id WHERE e.collection_id IS DISTINCT FROM $1::uuid",
                                            {t.collection_uuid});
                if (clash.text(0, 0) != "0")
                    throw DataError(fmt::format(
                        "collection '{}': {} new id(s) already belong to collection(s) {} in {} (e.g. '{}'), whose id "
                        "column is one key for all collections; nothing was changed. Re-migrate with "
                        "--langchain-id-prefix --replace (ids become '<collection>:<id>')",
                        c.name, clash.text(0, 0), clash.text(0, 2), qt, clash.text(0, 1)));
                pg.exec_params("INSERT INTO " + qt + " (id, collection_id, embedding, document, cmetadata) SELECT id, "
                               "$1::uuid, embedding, document, cmetadata FROM " + kRows +
                                   " ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, document = "
                                   "EXCLUDED.document, cmetadata = EXCLUDED.cmetadata",
                               {t.collection_uuid});
            } else {
                // Replaced rather than updated: Mastra's key is (namespace, vector_id), LlamaIndex TS's id has
                // defaults, LlamaIndex's node_id has no key (a changed record's row(s) are replaced).
                pg.exec("DELETE FROM " + qt + " t USING " + kRows + " s WHERE t." + idc + " = s." + idc +
                        (t.where.empty() ? "" : " AND t." + t.where));
                pg.exec("INSERT INTO " + qt + " (" + rows_cols + ") SELECT " + rows_cols + " FROM " + kRows);
            }
        }
        if (n.deleted > 0) pg.exec("DELETE" + gone);
        if (lc) // the collection's metadata follows the source's, as its records do (verify compares it)
            pg.exec_params("UPDATE " + qualified(t.schema, kLangchainCollections) +
                               " SET cmetadata = $2::json WHERE uuid = $1::uuid AND cmetadata::text IS DISTINCT FROM $2",
                           {t.collection_uuid,
                            json_or_null(c.metadata)});
        pg.exec("COMMIT");
    } catch (...) {
        pg.rollback_quietly();
        throw;
    }
    return n;
}

} // namespace c2p
