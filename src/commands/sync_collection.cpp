#include "commands/sync_collection.hpp"

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "commands/sync_read.hpp"
#include "core/record_digest.hpp"
#include "target/pg_table_reader.hpp"
#include "target/pgvector_sink.hpp"
#include "core/reject_file.hpp"
#include "util/error.hpp"

namespace c2p {
namespace {

constexpr const char *kSeen = "c2p_sync_seen";
constexpr const char *kRows = "c2p_sync_rows";

} // namespace

SyncCounts sync_collection(PgConnection &pg, Source &source, const CollectionInfo &c, const TargetCollection &t,
                           const SyncOptions &o, Progress &progress) {
    SyncCounts n;
    const TargetLayout &layout = target_layout(t.layout);
    const std::string qt = t.qualified_table();
    pg.exec("BEGIN");
    try {
        layout.lock_for_sync(pg, t);
        // 1. What the target holds: a digest per record (24 bytes a record), computed from its rows unless
        // the table stores them (native: the applier looks them up batch by batch).
        std::vector<DigestEntry> have;
        if (!t.has_digest) {
            PgTableReader reader(pg, layout.read_options(t, c.dimension.value_or(0)), o.batch_size);
            RecordBatch b;
            while (reader.next(b))
                for (size_t i = 0; i < b.size(); ++i) have.push_back({id_key(b.ids[i]), record_digest(b, i)});
            std::sort(have.begin(), have.end(), [](const DigestEntry &a, const DigestEntry &b) { return a.key < b.key; });
        }

        pg.exec(std::string("CREATE TEMP TABLE ") + kSeen + " (id text NOT NULL) ON COMMIT DROP");
        pg.exec(layout.create_staging_sql(t, kRows));
        const std::string rows_copy =
            std::string("COPY ") + kRows + " (" + layout.staged_columns(t) + ") FROM STDIN WITH (FORMAT BINARY)";

        // 2. The source, batch by batch (and, from a live source, what the read did not see): every id is seen;
        // new and changed records are staged; records PostgreSQL cannot store go to the reject file
        // (pgvector_sink's check_batch, as migrate).
        RejectFile rejects(o.reject_file, c.name);
        rejects.reset();
        PgvectorSinkOptions checks;
        checks.on_bad_record = o.skip_bad_records ? BadRecordPolicy::skip : BadRecordPolicy::fail;
        checks.escape_nul = o.escape_nul;
        checks.halfvec = t.column.halfvec;
        std::unique_ptr<SyncApplier> applier;
        if (t.has_digest) applier = std::make_unique<NativeSyncApplier>(pg, qt, rows_copy, checks, rejects, n);
        else applier = std::make_unique<LayoutSyncApplier>(pg, t, have, rows_copy, checks, rejects, n);
        // The seen ids are the target's (LangChain's may carry the collection's prefix); the check lists the source's.
        const std::string seen_ids = t.id_prefix.empty()
                                         ? std::string("SELECT id FROM ") + kSeen
                                         : fmt::format("SELECT substr(id, {}) FROM {}", t.id_prefix.size() + 1, kSeen);
        read_for_sync(pg, source, c, o.batch_size, *applier, progress, seen_ids);
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
        if (n.inserted + n.updated > 0) layout.apply_staged(pg, t, c, kRows);
        if (n.deleted > 0) pg.exec("DELETE" + gone);
        layout.after_sync(pg, t, c);
        pg.exec("COMMIT");
    } catch (...) {
        pg.rollback_quietly();
        throw;
    }
    return n;
}

} // namespace c2p
