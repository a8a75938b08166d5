// `sync`: brings a migrated target up to date with the source by per-record digest: new records are
// inserted, changed ones updated, removed ones deleted; rows that did not change are not touched.
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "commands/common.hpp"
#include "commands/run_summary.hpp"
#include "commands/sync_follow.hpp"
#include "commands/sync_collection.hpp"
#include "target/langchain_layout.hpp"
#include "target/target_layout.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"
#include "target/pgvector_sink.hpp"
#include "target/table_names.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/progress.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

struct SyncArgs {
    SourceFlags src;
    std::string to, schema = "public";
    size_t batch_size = 1000;
    bool dry_run = false;
    std::string on_bad_record = "fail";
    bool escape_nul = false;
    std::string reject_dir = "chroma2pg-rejects";
    std::string summary; // --summary FILE
    std::string layout = "native";
    bool langchain_id_prefix = false;
    bool follow = false;    // --follow: rounds until stopped (sync_follow.cpp)
    double interval = 5;    // seconds between rounds
    std::string stop_file;  // --stop-file: its appearance asks for a final round, then the exit
    int retries = 8;        // attempts per collection when the session is lost
    int jobs = 1;           // collections synced at once
};

// A collection's summary row. Written: rows inserted or updated (none in a dry run); deletions are
// counted apart.
SummaryRow sync_row(const CollectionInfo &c, const std::string &table, const SyncCounts &n, double secs, bool dry_run) {
    return {c.name, dry_run ? "dry run" : "synced",
            {{"id", c.id}, {"table", table}, {"read", n.read}, {"inserted", n.inserted}, {"updated", n.updated},
             {"deleted", n.deleted}, {"unchanged", n.unchanged}, {"escaped", n.escaped},
             {"sample_ids", {{"new", n.sample_new}, {"changed", n.sample_changed}, {"deleted", n.sample_deleted}}}},
            RunFigures{n.read, dry_run ? 0 : n.inserted + n.updated, n.rejected, n.bytes, secs}};
}

void add_counts(SyncCounts &total, const SyncCounts &n) {
    total.read += n.read;
    total.inserted += n.inserted;
    total.updated += n.updated;
    total.deleted += n.deleted;
    total.unchanged += n.unchanged;
    total.rejected += n.rejected;
}

// The totals and the result, reported (table, --json, --summary), then the collections not migrated.
void report_sync(const SyncArgs &a, const TargetLayout &layout, const std::string &source, const std::string &target,
                 const std::vector<SummaryRow> &rows, const SyncCounts &total, std::chrono::steady_clock::time_point run_start,
                 const std::vector<std::string> &not_migrated, const json &follow) {
    RunSummary run{rows};
    run.close(run_start);
    run.totals_extra = {{"read", total.read},         {"inserted", total.inserted},   {"updated", total.updated},
                        {"deleted", total.deleted},   {"unchanged", total.unchanged}};
    json result = {{"command", "sync"}, {"layout", layout.name()}, {"dry_run", a.dry_run}, {"source", source},
                   {"target", target}, {"schema", a.schema}};
    if (!follow.is_null()) result["follow"] = follow; // the rows and totals are then the last round's
    report_run(std::move(result), run, a.summary,
               {{"new", "inserted"}, {"changed", "updated"}, {"removed", "deleted"}, {"unchanged", "unchanged"}});
    auto &g = global_options();
    if (a.dry_run && !g.json && !g.quiet) fmt::print("dry run: nothing was changed\n");
    if (!not_migrated.empty()) {
        std::string list;
        for (const auto &n : not_migrated) list += (list.empty() ? "'" : ", '") + n + "'";
        if (layout.has_registry())
            throw DataError("not migrated yet, so not synced: " + list + "; run `chroma2pg migrate --collections ...` for them");
        throw DataError(std::string("not migrated yet as the ") + layout.name() + " layout, so not synced: " + list +
                        "; run `chroma2pg migrate --layout " + layout.name() + " --collections ...` for them");
    }
}

// What a sync worker owns: its PostgreSQL session (the first worker starts on the round's) and its source
// handle (the first worker's is the round's; the others open their own).
struct SyncWorker {
    PgConnection *pg = nullptr;
    std::unique_ptr<PgConnection> own_pg;
    Source *source = nullptr;
    std::unique_ptr<Source> own_source;
};

// What syncing one collection gave: its summary row, and its counts for the totals.
struct SyncedCollection {
    SummaryRow row;
    SyncCounts counts;
    bool not_migrated = false;
};

// One round: each collection located in the target as verify locates it, then brought up to date in a
// transaction of its own (sync_collection.hpp), in any layout; --jobs collections at once, each on a
// worker's own session and source handle. `open` opens another handle on the round's source.
SyncRound sync_round(const SyncArgs &a, Layout layout, Source &source, const std::function<std::unique_ptr<Source>()> &open,
                     const std::vector<CollectionInfo> &cols, PgConnection &pg, bool show_progress) {
    const TargetLayout &target = target_layout(layout);
    const LoopInterruptText stopped{"sync", "synced",
                                    "a collection's changes commit together, so the one in progress is unchanged",
                                    "run it again"};
    std::vector<SyncWorker> workers(static_cast<size_t>(std::max(1, std::min<int>(a.jobs, int(cols.size())))));
    workers[0].pg = &pg;
    workers[0].source = &source;
    std::vector<SyncedCollection> done(cols.size());
    auto sync_one = [&](PgConnection &conn, Source &src, const CollectionInfo &c) -> SyncedCollection {
        auto t = target.locate(conn, a.schema, c, a.langchain_id_prefix);
        if (!t || !t->table_exists) return {{c.name, "not migrated", {{"id", c.id}}}, {}, true};
        if (t->table.empty() && c.record_count > 0)
            throw DataError(fmt::format("collection '{}' was migrated empty, before any {}.{} table existed; migrate it "
                                        "again with `chroma2pg migrate --layout langchain --replace`",
                                        c.name, a.schema, kLangchainEmbeddings));
        SyncCounts n;
        double secs = 0;
        SyncOptions so{a.batch_size, a.dry_run};
        so.skip_bad_records = parse_bad_record_policy(a.on_bad_record) == BadRecordPolicy::skip;
        so.escape_nul = a.escape_nul;
        so.reject_file = (std::filesystem::path(a.reject_dir) / (derive_table_name(c.name) + ".sync-rejects.jsonl")).string();
        if (!t->table.empty()) {
            if (auto why = target.id_mismatch(conn, *t, c, a.langchain_id_prefix, "sync")) throw UsageError(*why);
            if (t->column.dim && c.dimension && *t->column.dim != *c.dimension)
                throw DataError(fmt::format("collection '{}': {}.embedding is {}, the source has {} dimensions; "
                                            "re-migrate it with `chroma2pg migrate --layout {} --replace`",
                                            c.name, t->describe(), t->column.sql(), *c.dimension, a.layout));
            Progress progress(c.name, c.record_count, show_progress);
            auto t0 = std::chrono::steady_clock::now();
            n = sync_collection(conn, src, c, *t, so, progress);
            progress.finish();
            secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        log::info("collection_synced",
                  fmt::format("{}: {} read; {} {} new, {} changed, {} removed, {} unchanged{} ({:.2f}s)", c.name, n.read,
                              a.dry_run ? "would apply:" : "applied:", n.inserted, n.updated, n.deleted, n.unchanged,
                              n.rejected ? fmt::format(", {} rejected (see {})", n.rejected, so.reject_file) : "", secs),
                  {{"collection", c.name}, {"inserted", n.inserted}, {"updated", n.updated}, {"deleted", n.deleted}});
        SummaryRow s = sync_row(c, t->table.empty() ? "" : t->describe(), n, secs, a.dry_run);
        s.tail["embedding_type"] = t->column.halfvec ? "halfvec" : "vector";
        if (n.rejected + n.escaped) s.tail["reject_file"] = so.reject_file;
        return {std::move(s), n, false};
    };
    // A collection whose session is lost (PostgreSQL restarting) is synced again on a fresh one: its changes
    // had not committed, and comparing again finds them again.
    each_collection(cols, stopped, a.jobs, {a.retries, kSyncRetry}, [&](const CollectionInfo &c, int wi) {
        SyncWorker &w = workers[size_t(wi)];
        if (!w.source) {
            w.own_source = open();
            w.source = w.own_source.get();
        }
        if (!w.pg || !w.pg->ok()) {
            w.own_pg = std::make_unique<PgConnection>(a.to);
            w.pg = w.own_pg.get();
        }
        done[static_cast<size_t>(&c - cols.data())] = sync_one(*w.pg, *w.source, c);
    });
    SyncRound round;
    for (auto &d : done) {
        if (d.not_migrated) round.not_migrated.push_back(d.row.name);
        add_counts(round.total, d.counts);
        round.rows.push_back(std::move(d.row));
    }
    return round;
}

void run_sync(SyncArgs &a) {
    interrupt::install(); // Ctrl-C stops at a batch boundary and says what was kept
    auto &g = global_options();
    SourceOptions so = a.src.opts;
    resolve_token(so);
    so.readers = a.jobs; // a round's workers read share()d handles of one source
    if (a.batch_size == 0) throw UsageError("--batch-size must be at least 1");
    if (a.retries < 1) throw UsageError("--retries must be at least 1");
    if (a.jobs < 1 || a.jobs > kMaxJobs) throw UsageError(fmt::format("--jobs must be 1..{}, not {}", kMaxJobs, a.jobs));
    if (a.follow && a.dry_run) throw UsageError("--follow applies the changes round after round; --dry-run reports once");
    if (!a.follow && !a.stop_file.empty()) throw UsageError("--stop-file applies to --follow only");
    if (a.interval < 0) throw UsageError("--interval must be 0 or more seconds");

    const Layout layout = parse_layout(a.layout);
    const TargetLayout &target = target_layout(layout);
    refuse_options_for_layout(target, {.id_prefix = a.langchain_id_prefix});

    auto source = open_source(a.src.from, so);
    auto cols = select_collections(*source, a.src);
    require_storable_names(cols);
    PgConnection pg(a.to);
    if (target.has_registry() && !relation_exists(pg, a.schema, "chroma_collections"))
        throw UsageError(fmt::format("{} has no chroma2pg registry in schema '{}': nothing was migrated there yet; "
                                     "run `chroma2pg migrate` first",
                                     pg.describe(), a.schema));
    log::info("start", fmt::format("{} {} collection(s): {} -> {}{}{}", a.dry_run ? "dry run: comparing" : "syncing",
                                   cols.size(), source->describe(), pg.describe(),
                                   target.has_registry() ? "" : " (" + a.layout + " layout)",
                                   a.follow ? ", following until stopped" : ""));
    auto round = [&](PgConnection &conn, const std::vector<CollectionInfo> &now, bool show_progress) {
        return sync_round(a, layout, *source, [&] { return open_worker_source(*source, a.src.from, so); }, now,
                          conn, show_progress);
    };
    const auto run_start = std::chrono::steady_clock::now();
    SyncRound last;
    json follow_result;
    if (a.follow) {
        // Each round opens the source again (a persistent directory is read from a snapshot taken when it
        // is opened) and lists the collections again: their counts change, and so do their positions.
        bool first = true;
        auto f = follow_sync({a.interval, a.stop_file, a.to}, pg, [&](PgConnection &conn) {
            if (!first) source = open_source(a.src.from, so);
            first = false;
            auto now = select_collections(*source, a.src);
            require_storable_names(now);
            return round(conn, now, false);
        });
        last = std::move(f.last);
        follow_result = std::move(f.report);
    } else {
        last = round(pg, cols, !g.quiet);
    }
    report_sync(a, target, source->describe(), pg.describe(), last.rows, last.total, run_start, last.not_migrated,
                follow_result);
    if (last.total.rejected > 0)
        throw DataError(fmt::format("synced everything else; {} record(s) PostgreSQL cannot store were skipped (reject "
                                    "files under {})",
                                    last.total.rejected, a.reject_dir));
}

} // namespace

void register_sync(CLI::App &app) {
    auto a = std::make_shared<SyncArgs>();
    auto *cmd = app.add_subcommand("sync", "Bring a migrated target up to date: insert new, update changed, delete removed");
    cmd->footer("Examples:\n"
                "  chroma2pg sync --from http://localhost:8000 --to postgresql://app@db/rag --dry-run\n"
                "  chroma2pg sync --from ./chroma_db --to \"$DATABASE_URL\" --collections docs\n"
                "  chroma2pg sync --from http://localhost:8000 --to \"$DATABASE_URL\" --layout llamaindex\n"
                "  chroma2pg sync --from http://localhost:8000 --to \"$DATABASE_URL\" --summary sync-summary.json\n"
                "Compares each source record's digest with the digest stored at migration; only rows that changed are\n"
                "written, in one transaction per collection, so it is safe to run repeatedly (the catch-up step of a\n"
                "cut-over while the application keeps writing to Chroma). --dry-run reports and changes nothing.\n"
                "The summary (per collection: read, new, changed, removed, written, rejected, duration, rates) is\n"
                "printed on stdout, and written as JSON to --summary FILE when given.\n"
                "--layout langchain|llamaindex syncs the framework's tables, their shape unchanged: the target's\n"
                "digests are computed from its rows, read back as verify reads them (docs/layouts.md). A halfvec\n"
                "column (--halfvec) is compared at float16 precision.\n"
                "--follow repeats it until stopped, each round logging the changes applied, its duration and the\n"
                "time since the previous round. For the cut-over: stop the application's writes, create the\n"
                "--stop-file; one final round runs (it starts after the file appeared) and the command exits 0,\n"
                "its summary saying how many changes the last round applied in how long (the write-freeze window).\n"
                "SIGINT/SIGTERM stop at the next batch (exit 0); the collection in progress keeps its previous state.\n"
                "See docs/runbook.md.");
    add_source_flags(*cmd, a->src);
    add_target_flags(*cmd, a->to, a->schema);
    add_layout_option(*cmd, a->layout, "Target tables to sync, as migrated");
    cmd->add_flag("--langchain-id-prefix", a->langchain_id_prefix,
                  "langchain: ids are stored as '<collection>:<id>' (migrated with --langchain-id-prefix)")
        ->envname("CHROMA2PG_LANGCHAIN_ID_PREFIX");
    cmd->add_option("--batch-size", a->batch_size, "Records per batch read from the source")
        ->envname("CHROMA2PG_BATCH_SIZE")
        ->capture_default_str();
    cmd->add_flag("--dry-run", a->dry_run, "Report what would change; change nothing")->envname("CHROMA2PG_DRY_RUN");
    cmd->add_option("--on-bad-record", a->on_bad_record, "fail or skip records PostgreSQL cannot store (see migrate)")
        ->check(CLI::IsMember({"fail", "skip"}))
        ->envname("CHROMA2PG_ON_BAD_RECORD")
        ->capture_default_str();
    cmd->add_flag("--escape-nul", a->escape_nul, "Store U+0000 as U+2400 (see migrate)")->envname("CHROMA2PG_ESCAPE_NUL");
    cmd->add_option("--reject-dir", a->reject_dir, "Where the reject files (<table>.sync-rejects.jsonl) go")
        ->envname("CHROMA2PG_REJECT_DIR")
        ->capture_default_str();
    cmd->add_flag("--follow", a->follow,
                  "Repeat the sync until stopped (SIGINT/SIGTERM, or --stop-file), printing each round's lag")
        ->envname("CHROMA2PG_FOLLOW");
    cmd->add_option("--interval", a->interval, "--follow: seconds between the end of a round and the next")
        ->envname("CHROMA2PG_INTERVAL")
        ->capture_default_str();
    cmd->add_option("--stop-file", a->stop_file,
                    "--follow: when this file appears, run one final round (it sees every write made before) and exit")
        ->envname("CHROMA2PG_STOP_FILE");
    cmd->add_option("--retries", a->retries,
                    "Attempts per collection when the PostgreSQL session is lost (a restart), with backoff up to 30 s; "
                    "each compares the collection again")
        ->envname("CHROMA2PG_RETRIES")
        ->capture_default_str();
    cmd->add_option("--jobs,-j", a->jobs,
                    "Collections synced at once, each in its own transaction on its own PostgreSQL session and source "
                    "handle (the final round of a cut-over waits for the slowest)")
        ->envname("CHROMA2PG_JOBS")
        ->capture_default_str();
    add_summary_option(*cmd, a->summary);
    cmd->callback([a] { run_sync(*a); });
}

} // namespace c2p
