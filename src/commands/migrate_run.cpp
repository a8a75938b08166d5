#include "commands/migrate_run.hpp"

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <future>
#include <fstream>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands/common.hpp"
#include "commands/dry_run.hpp"
#include "commands/live_reconcile.hpp"
#include "commands/publish_layout.hpp"
#include "commands/run_summary.hpp"
#include "pipeline/pipeline.hpp"
#include "pipeline/range_runner.hpp"
#include "pipeline/retry.hpp"
#include "target/checkpoint_store.hpp"
#include "target/client_config.hpp"
#include "target/index_build.hpp"
#include "target/layout_sink.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"
#include "target/pgvector_sink.hpp"
#include "core/reject_file.hpp"
#include "target/table_layout.hpp"
#include "target/target_layout.hpp"
#include "target/table_names.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"
#include "util/log_scope.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

// A range is worth its own connection from this many records on (or one chunk, if larger).
constexpr uint64_t kMinRangeRecords = 10000;
// How long a new run waits for a killed run's server session to release the migration lock.
constexpr int kLockWaitSeconds = 60;

// One collection's load, shared by the workers loading its ranges.
struct Job {
    CollectionInfo c;
    std::string table, staging;
    LoadRow load;
    bool fresh = true;        // false: continues an interrupted load
    bool done_before = false; // finished by the interrupted run this one resumes
    std::unique_ptr<RejectFile> rejects;
    std::unique_ptr<Progress> progress;
    std::atomic<uint64_t> records_read{0}, bytes{0};
    FinalizeResult fin;
    LiveCheck live;
    std::chrono::steady_clock::time_point t0; // when a worker first started on it: its figures are its own
    std::once_flag started;
    double seconds = 0;
    void start_clock() {
        std::call_once(started, [this] { t0 = std::chrono::steady_clock::now(); });
    }
};

// What each worker thread owns: its PostgreSQL session and its source handle.
struct Worker {
    std::unique_ptr<PgConnection> pg;
    Source *source = nullptr;
    std::unique_ptr<Source> own_source;
};

// Runs fn on the worker's session (a fresh one after a failure), retried from the checkpoints (retry.hpp).
template <class Fn>
void with_retries(const std::string &what, int retries, Worker &w, const std::string &to, const std::atomic<bool> &cancel,
                  Fn fn) {
    retry_transient(
        what, retries, cancel,
        [&] {
            if (!w.pg || !w.pg->ok()) w.pg = std::make_unique<PgConnection>(to);
            fn(*w.pg);
        },
        [&] { w.pg.reset(); }, kMigrateRetry);
}

std::string describe_progress(const LoadRow &l) {
    return fmt::format("'{}' ({} of {} records committed)", l.name, l.committed_records(), l.source_count);
}

// Ctrl-C / SIGTERM: one line with what the checkpoints hold and the command that continues the run.
Interrupted interrupted_migration(const Interrupted &e, const CheckpointStore &store, std::unique_ptr<PgConnection> &pg,
                                  const std::string &to, const std::string &run_id, size_t collections) {
    std::string state;
    try {
        if (!pg->ok()) pg = std::make_unique<PgConnection>(to);
        std::vector<std::string> done, partial;
        for (const auto &l : store.loads_of_run(*pg, run_id)) {
            if (l.status == "done") done.push_back("'" + l.name + "'");
            else if (l.committed_records() > 0) partial.push_back(describe_progress(l));
        }
        state = fmt::format("{} of {} collection(s) finished", done.size(), collections);
        if (!done.empty()) state += " (" + fmt::format("{}", fmt::join(done, ", ")) + ")";
        if (!partial.empty()) state += ", " + fmt::format("{}", fmt::join(partial, ", "));
        state += "; everything committed is kept";
    } catch (const Error &) {
        state = "the committed checkpoints are kept";
    }
    return interrupted_run(e, "migration", state, "continue with", {"--resume"}, {"--restart"});
}

void report_live_check(const std::string &name, const LiveCheck &l) {
    log::info("live_source",
              fmt::format("{}: checked against the live source in {:.2f}s: {} ids there now; {} record(s) the read "
                          "skipped or that were added during it fetched by id; {} deleted during it",
                          name, l.seconds, l.listed, l.fetched, l.deleted),
              {{"collection", name}, {"listed", l.listed}, {"fetched", l.fetched}, {"deleted", l.deleted}});
    if (l.deleted > 0)
        log::warn("live_source", fmt::format("{}: {} record(s) deleted from the source during the read are still in the "
                                             "target: `chroma2pg sync` removes them",
                                             name, l.deleted),
                  {{"collection", name}, {"deleted", l.deleted}});
    if (!l.consistent)
        log::warn("live_source", fmt::format("{}: the collection kept changing while its ids were listed (beyond the "
                                             "retry bound): records may be missing; `chroma2pg sync` catches up",
                                             name),
                  {{"collection", name}});
}

} // namespace

MigratePlanOptions plan_options(const MigrateArgs &a) {
    MigratePlanOptions o;
    o.schema = a.schema;
    o.layout = parse_layout(a.layout);
    o.index = a.idx;
    o.halfvec = a.halfvec;
    o.langchain_id_prefix = a.langchain_id_prefix;
    o.replace = a.replace;
    o.resume = a.resume;
    o.restart = a.restart;
    o.batch_size = a.batch_size;
    o.checkpoint_records = a.checkpoint_records;
    o.index_builds = a.index_builds;
    return o;
}

struct MigrateRun::State {
    MigrateArgs &a;
    const Layout layout;
    const TargetLayout &target;
    // The staging table is indexed and swapped in (finalize_collection); a framework layout's is published
    // through its LayoutSink instead (publish_layout.hpp).
    const bool native;
    SourceOptions so;
    PgvectorSinkOptions sopts;
    std::future<std::unique_ptr<PgConnection>> connecting, connecting_worker;
    std::unique_ptr<Source> source;
    std::vector<CollectionInfo> cols;
    LayoutOptions lopts;
    std::unique_ptr<PgConnection> main_pg;
    std::string pgvector_version;
    PgvectorPolicy policy;
    CheckpointStore store;
    std::chrono::steady_clock::time_point run_start = std::chrono::steady_clock::now(), load_start = run_start;
    json options;
    std::string run_id;
    bool resuming = false;
    std::vector<std::unique_ptr<Job>> jobs;
    std::vector<std::string> present;
    std::string target_description;
    json search_settings;

    explicit State(MigrateArgs &args);
    std::unique_ptr<PgConnection> connect() const { return std::make_unique<PgConnection>(a.to); }
    void start();
    void begin_loads();
    void load();
    void finish();
    void report();
};

MigrateRun::State::State(MigrateArgs &args)
    : a(args), layout(parse_layout(args.layout)), target(target_layout(layout)), native(layout == Layout::native),
      so(args.src.opts), store(args.schema) {
    resolve_token(so);
    so.readers = a.jobs; // the loaders; the finishers only read a live source, and that is not shared
    sopts.schema = a.schema;
    sopts.index = a.idx;
    sopts.chunk_records = a.checkpoint_records;
    sopts.on_bad_record = parse_bad_record_policy(a.on_bad_record);
    sopts.escape_nul = a.escape_nul;
    sopts.jobs = a.jobs;
    sopts.halfvec = a.halfvec;
    sopts.target = a.to;
    // Connecting (password hashing, TLS) overlaps reading the source's catalog and plans. A source
    // error still comes first: the connection's own error is only seen when it is needed.
    connecting = std::async(std::launch::async, [this] { return connect(); });
    // The first worker's session too (it loads while the main one keeps the migration lock).
    connecting_worker = std::async(std::launch::async, [this] { return connect(); });
    source = open_source(a.src.from, so);
    sopts.source_description = source->describe();
    cols = select_collections(*source, a.src);
    require_storable_names(cols);
    // A framework layout: the same checkpointed load into the native staging table, then each collection
    // is published into the layout's tables (publish_layout.hpp).
    lopts = layout_options(plan_options(a), a.to, a.jobs, *source);
}

void MigrateRun::State::start() {
    // Start-up (connect, catalog queries, CREATE EXTENSION, schema, lock, the run's state) starts over
    // when a PostgreSQL restart takes the session, as the load's ranges do.
    retry_lost_connection("start-up", a.retries, [&] {
        if (!main_pg || !main_pg->ok()) main_pg = connecting.valid() ? connecting.get() : connect();
        PgConnection &pg = *main_pg;
        // Before anything is written: room for twice the estimated size, when the database is measurable.
        if (!a.skip_space_check) check_migrate_space(pg, *source, cols, plan_options(a));
        run_start = std::chrono::steady_clock::now();
        pgvector_version = ensure_pgvector(pg);
        policy = apply_pgvector_policy(pgvector_version, a.idx);
        sopts.index = a.idx; // after the policy, which may turn parallel HNSW builds off
        lopts.index = a.idx;
        if (target.has_registry()) ensure_schema_and_registry(pg, a.schema);
        else ensure_schema(pg, a.schema); // a framework's tables only: no registry
        store.ensure_tables(pg);
        store.lock(pg, kLockWaitSeconds);
        log::info("start", fmt::format("migrating {} collection(s) from {} to {}{} (pgvector {}, {} job(s))", cols.size(),
                                       source->describe(), pg.describe(),
                                       native ? "" : fmt::format(" as the {} layout", a.layout), pgvector_version, a.jobs),
                  {{"source", source->describe()}, {"target", pg.describe()}, {"collections", cols.size()}, {"jobs", a.jobs},
                   {"layout", a.layout}});

        // --- the run: new, resumed, or refused because an interrupted one exists
        options = {{"source", source->describe()}, {"schema", a.schema}, {"collections", json::array()}};
        if (a.halfvec) options["halfvec"] = true; // the staging tables' column type: a resume must keep it
        if (!native) options["layout"] = a.layout;  // where the staged rows go
        for (const auto &c : cols) options["collections"].push_back(c.id);
        run_id.clear();
        resuming = false;
        if (auto prev = store.unfinished_run(pg)) {
            auto loads = store.loads_of_run(pg, prev->run_id);
            std::string state;
            for (const auto &l : loads)
                state += (state.empty() ? "" : ", ") + (l.status == "done" ? "'" + l.name + "' (done)" : describe_progress(l));
            if (state.empty()) state = "nothing committed yet";
            if (a.restart) {
                for (const auto &l : loads)
                    if (l.status != "done") store.discard_load(pg, l);
                store.finish_run(pg, prev->run_id, "abandoned");
                log::info("restart", fmt::format("discarded the interrupted migration {} started {}: {}", prev->run_id,
                                                 prev->started_at, state));
            } else if (a.resume) {
                auto diff = run_option_differences(prev->options, options);
                if (!diff.empty()) {
                    std::string list;
                    for (const auto &d : diff) list += "\n  " + d;
                    throw UsageError("--resume: the interrupted migration " + prev->run_id +
                                     " was started with different options; resume it with the same --from/--schema/"
                                     "--collections, or pass --restart to discard it:" + list);
                }
                run_id = prev->run_id;
                resuming = true;
                log::info("resume", fmt::format("resuming the migration {} started {}: {}", run_id, prev->started_at, state),
                          {{"run_id", run_id}});
            } else {
                throw UsageError(fmt::format("an interrupted migration exists in schema '{}' (run {} started {}: {}); rerun "
                                             "the same command with --resume to continue it, or with --restart to discard "
                                             "it and start over",
                                             a.schema, prev->run_id, prev->started_at, state));
            }
        } else if (a.resume) {
            log::info("resume", "--resume: no interrupted migration to resume; starting a new one");
        }

        // --- classify each collection: finished by the resumed run, continued, or loaded afresh
        jobs.clear();
        present.clear();
        for (const auto &c : cols) {
            log::Scope scope(json{{"collection", c.name}});
            auto j = std::make_unique<Job>();
            j->c = c;
            j->table = derive_table_name(c.name);
            j->staging = staging_table_name(c.name);
            if (target.has_registry())
                if (auto clash = registered_table_clash(pg, a.schema, j->table, c)) throw DataError(*clash);
            std::string reject_path = (std::filesystem::path(a.reject_dir) / (j->table + ".rejects.jsonl")).string();
            j->rejects = std::make_unique<RejectFile>(reject_path, c.name);
            auto l = store.load(pg, c.id);
            if (resuming && l && l->finished_by(run_id)) {
                j->done_before = true;
                j->load = *l;
            } else if (resuming && l && l->run_id == run_id && l->status == "loading") {
                if (l->source_count != c.record_count && source->live())
                    log::warn("resume", fmt::format("collection '{}' has {} records in the source now and had {} when the "
                                                    "interrupted migration started; continuing: the records the change "
                                                    "moved past the checkpoints are fetched by id once the ranges are in",
                                                    c.name, c.record_count, l->source_count),
                              {{"collection", c.name}});
                else if (l->source_count != c.record_count)
                    throw DataError(fmt::format(
                        "collection '{}' has {} records in the source now and had {} when the interrupted migration started: "
                        "continuing by position could miss or repeat records; rerun with --restart (then `chroma2pg sync` "
                        "catches up with later changes)",
                        c.name, c.record_count, l->source_count));
                const bool exists = relation_exists(pg, a.schema, l->staging_table);
                uint64_t have = exists ? std::stoull(*pg.scalar("SELECT count(*) FROM " + qualified(a.schema, l->staging_table))) : 0;
                if (!exists || have != l->committed_records()) {
                    log::warn("resume", fmt::format("collection '{}': the staging table holds {} rows, the checkpoints say {}; "
                                                    "reloading this collection from the start",
                                                    c.name, have, l->committed_records()));
                } else {
                    j->fresh = false;
                    j->load = *l;
                }
            }
            if (!native && (j->done_before || !j->fresh)) {
                j->table = j->load.table_name; // the layout's table, recorded when the load began
            } else if (!native) {
                // The layout's DDL and its checks, rolled back: a collection already there without --replace
                // (or in a table of another dimension) is refused before anything is loaded.
                j->table = make_layout_sink(a.layout, pg, lopts)->check_target(c);
            } else if (j->fresh && !j->done_before && !a.replace) {
                // Only a refusal needs it, and it counts the old table's rows (a scan of the whole table).
                if (auto r = find_registered(pg, a.schema, c.id, c.name); r && r->rows >= 0)
                    present.push_back(fmt::format("'{}' (table {}, {} rows)", c.name, r->table_name, r->rows));
            }
            jobs.push_back(std::move(j));
        }
    });
    PgConnection &pg = *main_pg;
    target_description = pg.describe();
    // Refuse before writing anything when a collection is already there and --replace was not given.
    if (!present.empty() && !a.replace) {
        std::string list;
        for (const auto &p : present) list += (list.empty() ? "" : ", ") + p;
        throw UsageError("already migrated: " + list +
                         "; pass --replace to reload from the source, or run `chroma2pg sync` to apply only the changes");
    }
    if (run_id.empty()) run_id = store.start_run(pg, options);
    size_t to_build = 0;
    for (const auto &j : jobs) to_build += j->done_before ? 0 : 1;
    IndexBuilds b = plan_index_builds(pg, plan_options(a), a.idx, pgvector_version, to_build);
    sopts.index.concurrent_builds = b.builds;
    if (b.builds > 1)
        log::info("index_builds",
                  fmt::format("{}: up to {} collections' indexes build at once, each on its own session without parallel "
                              "workers, while the next collection loads; together within --max-maintenance-work-mem {}",
                              b.why, b.builds, a.idx.max_maintenance_work_mem),
                  {{"index_builds", b.builds}});
}

void MigrateRun::State::begin_loads() {
    PgConnection &pg = *main_pg;
    // --- prepare each load: staging table + plan (fresh), or prune the reject file to the checkpoints (resumed)
    uint64_t min_range = std::max<uint64_t>(kMinRangeRecords, a.checkpoint_records);
    for (auto &jp : jobs) {
        Job &j = *jp;
        if (j.done_before) continue;
        log::Scope scope(json{{"collection", j.c.name}});
        if (j.fresh) {
            if (auto stale = store.load(pg, j.c.id); stale && stale->status != "done") store.discard_load(pg, *stale);
            j.load = LoadRow{j.c.id, run_id, j.c.name, j.table, j.staging, "loading", j.c.record_count,
                             plan_ranges(j.c.record_count, a.jobs, min_range), {}};
            j.load.progress.assign(j.load.ranges.size(), RangeProgress{});
            for (size_t r = 0; r < j.load.ranges.size(); ++r) j.load.progress[r].next = j.load.ranges[r].start;
            store.begin_load(pg, j.load, create_table_sql(a.schema, j.staging, j.c.dimension, a.halfvec));
            j.rejects->reset();
        } else {
            const LoadRow &l = j.load;
            j.rejects->prune([&l](uint64_t off) {
                for (size_t r = 0; r < l.ranges.size(); ++r)
                    if (off >= l.ranges[r].start && off < l.ranges[r].end) return off < l.progress[r].next;
                return false;
            });
            log::info("resume", fmt::format("collection '{}': continuing after {} committed records ({} range(s))", j.c.name,
                                            l.committed_records(), l.ranges.size()),
                      {{"collection", j.c.name}, {"committed", l.committed_records()}});
        }
    }
}

void MigrateRun::State::load() {
    auto &g = global_options();
    // --- load: one task per unfinished range; whoever completes a collection's last range indexes and swaps it
    int nworkers = a.jobs;
    // Index builds side by side (each on a finisher's session of its own) while the loaders go on.
    const int builds = sopts.index.concurrent_builds;
    const int finishers = builds > 1 ? builds : 0;
    std::vector<Worker> workers(static_cast<size_t>(nworkers + finishers));
    workers[0].source = source.get();
    try {
        workers[0].pg = connecting_worker.get();
    } catch (const EnvError &) { // with_retries connects (and retries) itself
    }
    for (size_t w = 1; w < workers.size(); ++w) {
        workers[w].own_source = open_worker_source(*source, a.src.from, so);
        workers[w].source = workers[w].own_source.get();
    }
    RangeRunner runner(nworkers, finishers);
    const auto &cancel = runner.cancelled();
    RunEta run_eta(!g.quiet);
    auto finalize = [&](Job &j, Worker &w) {
        log::Scope scope(json{{"collection", j.c.name}});
        with_retries(fmt::format("collection '{}': checking against the live source", j.c.name), a.retries, w, a.to, cancel,
                     [&](PgConnection &conn) {
                         if (!a.live_check) return;
                         if (auto l = store.load(conn, j.c.id); l && l->status == "done") return;
                         j.live = reconcile_with_live_source(
                             *w.source, j.c, a.batch_size, conn, a.schema, j.staging, j.rejects->path(),
                             [&](BatchReader &reader) {
                                 // Loaded as the continuation of the last (open-ended) range, one past its
                                 // end: the range's closing checkpoint may be an empty chunk starting there.
                                 const int last = int(j.load.ranges.size()) - 1;
                                 RangeProgress p = store.range_progress(conn, j.c.id, last, j.load.ranges[size_t(last)]);
                                 j.rejects->prune([&](uint64_t off) { return off <= p.next; });
                                 RangeLoader loader(conn, sopts, store, run_id, j.staging, last, p.next + 1, *j.rejects,
                                                    &cancel);
                                 auto st = run_pipeline(j.c, reader, loader, j.progress.get());
                                 j.records_read += st.records;
                                 j.bytes += st.bytes;
                                 return st.records;
                             });
                     });
        if (j.live.checked) report_live_check(j.c.name, j.live);
        BadRecordCounts bad{j.rejects->rejected(), j.rejects->escaped(), j.rejects->path()};
        if (native) {
            with_retries(fmt::format("collection '{}': index and swap", j.c.name), a.retries, w, a.to, cancel,
                         [&](PgConnection &conn) { j.fin = finalize_collection(conn, sopts, store, j.c, j.table, j.staging, bad); });
        } else {
            with_retries(fmt::format("collection '{}': publish as the {} layout", j.c.name, a.layout), a.retries, w, a.to,
                         cancel, [&](PgConnection &conn) {
                             auto sink = make_layout_sink(a.layout, conn, lopts);
                             auto r = publish_layout_collection(conn, a.to, *sink, store, j.c, j.staging, a.halfvec,
                                                                a.batch_size, j.c.record_count - std::min(j.c.record_count, bad.rejected));
                             j.fin = FinalizeResult{r.rows, r.index_seconds, r.already_done};
                             if (!r.already_done) j.table = sink->table_name();
                         });
        }
        j.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - j.t0).count();
        if (j.progress) j.progress->finish();
        run_eta.collection_done(j.c.record_count);
    };
    load_start = std::chrono::steady_clock::now();
    std::vector<Job *> todo;
    std::vector<RangeWork> work;
    for (auto &jp : jobs) {
        Job &j = *jp;
        if (j.done_before) continue;
        run_eta.add_collection(j.c.record_count);
        j.progress = std::make_unique<Progress>(j.c.name, j.c.record_count, !g.quiet);
        if (!j.fresh) j.progress->add(j.load.committed_records() + j.load.committed_rejected(), 0);
        RangeWork rw;
        for (size_t r = 0; r < j.load.ranges.size(); ++r)
            if (!j.load.progress[r].done) rw.ranges.push_back(r);
        todo.push_back(&j);
        work.push_back(std::move(rw));
    }
    RangeSteps steps;
    steps.started = [&](size_t c) { todo[c]->start_clock(); };
    steps.finish = [&](size_t c, int w) { finalize(*todo[c], workers[size_t(w)]); };
    steps.load = [&](size_t c, size_t r, int wi) {
        Job &job = *todo[c];
        Worker &w = workers[size_t(wi)];
        const SourceRange range = job.load.ranges[r];
        bool retried = false;
        with_retries(fmt::format("collection '{}' range {}", job.c.name, r), a.retries, w, a.to, cancel,
                     [&](PgConnection &conn) {
                         RangeProgress p = store.range_progress(conn, job.c.id, int(r), range);
                         if (p.done) return;
                         if (retried) // lines of the chunk that did not commit will be written again
                             job.rejects->prune([&](uint64_t off) { return off < p.next || off >= range.end; });
                         retried = true;
                         uint64_t count = range.end == kOpenEnd ? kToTheEnd : range.end - p.next;
                         auto reader = w.source->read_range(job.c, a.batch_size, p.next, count);
                         RangeLoader loader(conn, sopts, store, run_id, job.staging, int(r), p.next, *job.rejects,
                                            &cancel);
                         auto st = run_pipeline(job.c, *reader, loader, job.progress.get());
                         job.records_read += st.records;
                         job.bytes += st.bytes;
                     });
    };
    try {
        runner.run(work, steps);
    } catch (const Cancelled &) {
        throw EnvError("migration cancelled; rerun with --resume to continue");
    } catch (const Interrupted &e) {
        throw interrupted_migration(e, store, main_pg, a.to, run_id, jobs.size());
    }}

void MigrateRun::State::finish() {
    // The session that opened the run may have died with a PostgreSQL restart the workers rode out.
    for (int attempt = 1;; ++attempt) {
        try {
            if (!main_pg->ok()) main_pg = std::make_unique<PgConnection>(a.to);
            store.finish_run(*main_pg, run_id, "done");
            break;
        } catch (const EnvError &e) {
            if (attempt >= a.retries) throw;
            log::warn("retry", fmt::format("recording the end of the run: {}; retrying", e.what()));
            std::this_thread::sleep_for(std::chrono::seconds(std::min(attempt, 10)));
            main_pg = std::make_unique<PgConnection>(a.to);
        }
    }

    search_settings = carry_search_settings(*main_pg, cols, a.idx, a.app_role, !a.no_search_settings);
}

void MigrateRun::State::report() {
    // --- report
    RunSummary summary;
    uint64_t total_records = 0, total_rejected = 0, total_escaped = 0;
    for (auto &jp : jobs) {
        Job &j = *jp;
        const CollectionInfo &c = j.c;
        if (j.done_before) {
            summary.rows.push_back({c.name, "done in the resumed run", {{"id", c.id}, {"table", j.table}},
                                    RunFigures{}, // this run read and wrote none of it
                                    {{"rows", j.load.source_count}, {"escaped", 0}, {"index_seconds", 0.0},
                                     {"dimension", c.dimension ? json(*c.dimension) : json()},
                                     {"space", space_name(c.space)}}});
            continue;
        }
        // The load's own rate: the index build (most of a large collection's time) is reported apart.
        double load_s = std::max(0.0, j.seconds - j.fin.index_seconds);
        double rate = load_s > 0 ? double(j.records_read) / load_s : 0;
        double mbps = load_s > 0 ? double(j.bytes) / load_s / 1e6 : 0;
        uint64_t rejected = j.rejects->rejected(), escaped = j.rejects->escaped();
        log::info("collection_done",
                  fmt::format("{}: {} records into {}.{} in {:.2f}s: load {:.2f}s ({:.0f} rec/s, {:.1f} MB/s), index "
                              "{:.2f}s{}",
                              c.name, j.fin.rows, a.schema, j.table, j.seconds, load_s, rate, mbps, j.fin.index_seconds,
                              rejected + escaped ? fmt::format("; {} rejected, {} escaped, see {}", rejected, escaped,
                                                               j.rejects->path())
                                                 : ""),
                  {{"collection", c.name}, {"records", j.fin.rows}, {"seconds", j.seconds}, {"rejected", rejected}});
        if (j.fin.rows + rejected != c.record_count && !j.live.checked)
            log::warn("count_changed",
                      fmt::format("{}: the source reported {} records before the read; {} were written and {} rejected: "
                                  "it changed during the migration; run `chroma2pg sync` to catch up",
                                  c.name, c.record_count, j.fin.rows, rejected),
                      {{"collection", c.name}});
        // This run's own figures (a resumed load wrote only what the interrupted one had not committed:
        // the checkpoints it started from), over the collection's own load-and-index time; `rows` is what
        // the table holds now.
        const uint64_t rows_before = j.load.committed_records(); // 0 for a fresh load
        SummaryRow row{c.name, j.fresh ? "migrated" : "resumed", {{"id", c.id}, {"table", j.table}},
                   RunFigures{j.records_read.load(), j.fin.rows - std::min(rows_before, j.fin.rows), rejected,
                              j.bytes.load(), j.seconds}};
        json &s = row.tail;
        s["rows"] = j.fin.rows;
        s["escaped"] = escaped;
        s["index_seconds"] = j.fin.index_seconds;
        s["load_seconds"] = load_s;
        s["load_records_per_second"] = rate;
        s["ranges"] = j.load.ranges.size();
        if (j.live.checked)
            s["live_source"] = {{"listed", j.live.listed}, {"fetched_by_id", j.live.fetched},
                                {"deleted_during_read", j.live.deleted}, {"read_twice", j.live.duplicates},
                                {"listing_consistent", j.live.consistent}, {"check_seconds", j.live.seconds}};
        s["dimension"] = c.dimension ? json(*c.dimension) : json();
        s["space"] = space_name(c.space);
        if (rejected + escaped) s["reject_file"] = j.rejects->path();
        // What the app pastes into its store's configuration (docs/layouts.md).
        if (auto cc = client_config(layout, a.schema, j.table, c)) {
            log::info("client_config", fmt::format("{}: {} reads it with {}", c.name, cc->client, cc->snippet),
                      {{"collection", c.name}, {"client_config", cc->config}});
            s["client_config"] = std::move(cc->config);
        }
        summary.rows.push_back(std::move(row));
        total_records += j.fin.rows;
        total_rejected += rejected;
        total_escaped += escaped;
    }
    // --salvage: what could not be recovered goes to a report, and the run says so with exit 1.
    json lost = json::array();
    uint64_t lost_count = 0;
    for (const auto &c : cols) {
        const auto &ids = c.diagnostics.unrecoverable_ids;
        if (ids.empty()) continue;
        lost_count += ids.size();
        lost.push_back({{"collection", c.name}, {"id", c.id}, {"unrecoverable_ids", ids},
                        {"damage", c.diagnostics.damage_json()}});
    }
    if (!lost.empty()) {
        std::ofstream f(a.salvage_report);
        f << json({{"source", source->describe()}, {"collections", lost}}).dump(2) << "\n";
        if (!f) throw EnvError("cannot write the salvage report " + a.salvage_report);
    }
    // Rates over the whole run's wall time: collections load in parallel with --jobs.
    summary.close(run_start);
    summary.totals_extra = {
        {"records", total_records},
        {"escaped", total_escaped},
        {"load_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count()}};
    json result = {{"command", "migrate"}, {"layout", a.layout}, {"source", source->describe()}, {"target", target_description}, {"schema", a.schema},
                   {"pgvector_version", pgvector_version}, {"run_id", run_id}, {"resumed", resuming}, {"jobs", a.jobs},
                   {"index_builds", sopts.index.concurrent_builds}};
    result["pgvector"] = policy.to_json();
    result["search_settings"] = search_settings;
    if (!lost.empty()) result["salvage"] = {{"unrecoverable_records", lost_count}, {"report", a.salvage_report}};
    auto fail_if_lost = [&] {
        if (total_rejected > 0)
            throw DataError(fmt::format("migrated everything else; {} record(s) PostgreSQL cannot store were skipped and "
                                        "are listed in the reject file(s) under {}",
                                        total_rejected, a.reject_dir));
        if (lost.empty()) return;
        throw DataError(fmt::format("salvage: migrated everything recoverable; {} record(s) could not be recovered, "
                                    "listed in {}", lost_count, a.salvage_report));
    };
    report_run(std::move(result), summary, a.summary, {{"table", "table"}});
    // Deleted during the read: still in the target until `sync`. A listing that kept moving: the
    // read may have skipped records, which only `sync` can tell.
    std::vector<std::string> to_sync, unsure;
    for (auto &jp : jobs) {
        if (jp->live.deleted > 0 || !jp->live.consistent) to_sync.push_back(jp->c.name);
        if (!jp->live.consistent) unsure.push_back(jp->c.name);
    }
    if (!to_sync.empty()) {
        std::string cmd = sync_command(source->describe(), so, a.to, a.schema, to_sync);
        if (!unsure.empty())
            throw DataError(fmt::format("the source changed too fast while it was read: the ids of {} could not be "
                                        "listed without the collection shifting under the listing, so records may be "
                                        "missing from the target; catch up (and repeat until it reports no changes) "
                                        "with:\n  {}",
                                        fmt::join(unsure, ", "), cmd));
        log::warn("live_source", "records deleted from the source during the read are still in the target; remove them with: " + cmd,
                  {{"command", cmd}});
    }
    fail_if_lost();
}

MigrateRun::MigrateRun(MigrateArgs &a) : s_(std::make_unique<State>(a)) {}
MigrateRun::~MigrateRun() = default;
void MigrateRun::start() { s_->start(); }
void MigrateRun::begin_loads() { s_->begin_loads(); }
void MigrateRun::load() { s_->load(); }
void MigrateRun::finish() { s_->finish(); }
void MigrateRun::report() { s_->report(); }

} // namespace c2p
