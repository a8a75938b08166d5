#include <fmt/format.h>

#include "commands/commands.hpp"
#include "commands/common.hpp"
#include "commands/dry_run.hpp"
#include "commands/migrate_run.hpp"
#include "commands/run_summary.hpp"
#include "target/layout_sink.hpp"
#include "target/pgvector_sink.hpp"
#include "target/target_layout.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"

namespace c2p {
namespace {

void run_migrate(MigrateArgs &a) {
    a.idx.method = parse_index_method(a.index);
    if (a.batch_size == 0) throw UsageError("--batch-size must be at least 1");
    if (a.index_builds < 0 || a.index_builds > kMaxJobs)
        throw UsageError(fmt::format("--index-builds must be 0..{} (0: chosen for the server), not {}", kMaxJobs,
                                     a.index_builds));
    refuse_options_for_layout(target_layout(parse_layout(a.layout)),
                              {a.langchain_id_prefix, a.metadata_index_given, a.index_builds});
    if (a.dry_run) {
        run_migrate_dry_run(a.src, a.to, plan_options(a), a.skip_space_check);
        return;
    }
    interrupt::install(); // from here on Ctrl-C stops at a batch boundary and says how to continue
    if (a.jobs < 1 || a.jobs > kMaxJobs) throw UsageError(fmt::format("--jobs must be 1..{}, not {}", kMaxJobs, a.jobs));
    resolve_target(a.to); // no target at all: say so now, not after reading the source
    if (a.resume && a.restart) throw UsageError("--resume and --restart are mutually exclusive: --resume continues the "
                                                "interrupted migration, --restart discards it and starts over");
    if (a.checkpoint_records < kMinChunkRecords) throw UsageError("--checkpoint-records must be at least 1");
    if (a.retries < 1) throw UsageError("--retries must be at least 1");
    MigrateRun run(a);
    run.start();
    run.begin_loads();
    run.load();
    run.finish();
    run.report();
}

} // namespace

void register_migrate(CLI::App &app) {
    auto a = std::make_shared<MigrateArgs>();
    auto *cmd = app.add_subcommand("migrate", "Copy collections into PostgreSQL + pgvector, then index them");
    cmd->footer("Examples:\n"
                "  chroma2pg migrate --from http://localhost:8000 --to postgresql://app@db/rag\n"
                "  chroma2pg migrate --from ./chroma_db --to \"$DATABASE_URL\" --collections docs,faq --jobs 4\n"
                "  chroma2pg migrate --from ./chroma_db --index ivfflat --replace --json\n"
                "  chroma2pg migrate --from ./chroma_db --to \"$DATABASE_URL\" --resume     # after a crash or kill\n"
                "  chroma2pg migrate --from ./chroma_db --on-bad-record skip --reject-dir ./rejects\n"
                "  chroma2pg migrate --from http://localhost:8000 --to \"$DATABASE_URL\" --layout langchain  # docs/layouts.md\n"
                "  chroma2pg migrate --from ./chroma_db --to \"$DATABASE_URL\" --dry-run   # the plan; changes nothing\n"
                "  chroma2pg migrate --from ./chroma_db --to \"$DATABASE_URL\" --summary migrate-summary.json\n"
                "Each collection is loaded with binary COPY into a staging table in chunks, each committed with a\n"
                "checkpoint (tables chroma2pg_runs, chroma2pg_loads, chroma2pg_checkpoints in the target schema), then\n"
                "indexed and swapped in with its registry row in one transaction: the live table is never half-written.\n"
                "An interrupted run continues with --resume (or is discarded with --restart). Lost connections to\n"
                "PostgreSQL or Chroma are retried with backoff from the last checkpoint (--retries). See\n"
                "docs/resume.md and docs/bad-records.md.\n"
                "--dry-run prints the plan (tables, indexes and their parameters, estimated size, free space) using\n"
                "only read-only queries. Before a real run, a database on this machine must have twice the estimated\n"
                "size free (the guide's safety margin), else exit 3; --skip-space-check overrides.");
    add_source_flags(*cmd, a->src);
    add_target_flags(*cmd, a->to, a->schema);
    cmd->add_option("--batch-size", a->batch_size, "Records per batch read from the source")
        ->envname("CHROMA2PG_BATCH_SIZE")
        ->capture_default_str();
    cmd->add_option("--index", a->index, "Vector index: hnsw, ivfflat or none")
        ->check(CLI::IsMember({"hnsw", "ivfflat", "none"}))
        ->envname("CHROMA2PG_INDEX")
        ->capture_default_str();
    auto *m_opt = cmd->add_option("--hnsw-m", a->idx.hnsw_m, "HNSW m (default: the collection's Chroma max_neighbors, 16)")
                      ->envname("CHROMA2PG_HNSW_M")
                      ->capture_default_str()
                      ->check(CLI::Range(2, 100));
    auto *efc_opt = cmd->add_option("--hnsw-ef-construction", a->idx.hnsw_ef_construction,
                                    "HNSW ef_construction (default: the collection's Chroma ef_construction, 100)")
        ->envname("CHROMA2PG_HNSW_EF_CONSTRUCTION")
        ->capture_default_str()
        ->check(CLI::Range(4, 1000));
    cmd->add_option("--ivfflat-lists", a->idx.ivfflat_lists, "IVFFlat lists (default: rows/1000, sqrt(rows) above 1M)")
        ->envname("CHROMA2PG_IVFFLAT_LISTS");
    cmd->add_option("--maintenance-work-mem", a->idx.maintenance_work_mem,
                    "maintenance_work_mem for the index builds (e.g. 1GB; default: the HNSW graph's estimated size "
                    "when the server's setting is smaller, up to --max-maintenance-work-mem)")
        ->envname("CHROMA2PG_MAINTENANCE_WORK_MEM")
        ->check(memory_setting_check());
    cmd->add_option("--max-maintenance-work-mem", a->idx.max_maintenance_work_mem,
                    "The most maintenance_work_mem chroma2pg sets by itself for one HNSW build")
        ->envname("CHROMA2PG_MAX_MAINTENANCE_WORK_MEM")
        ->check(memory_setting_check())
        ->capture_default_str();
    cmd->add_option_function<std::string>(
           "--metadata-index",
           [a](const std::string &v) {
               a->idx.metadata_gin = v == "gin";
               a->metadata_index_given = true;
           },
           "GIN index on metadata for filtered search: gin (default) or none (build it later with CREATE INDEX); "
           "native layout only: a framework layout gets the indexes its framework's store creates")
        ->check(CLI::IsMember({"gin", "none"}))
        ->envname("CHROMA2PG_METADATA_INDEX");
    cmd->add_option("--app-role", a->app_role,
                    "Set the search settings (hnsw.ef_search from Chroma, iterative scans) for this role in the database "
                    "(ALTER ROLE … IN DATABASE) instead of for the whole database")
        ->envname("CHROMA2PG_APP_ROLE");
    cmd->add_flag("--no-search-settings", a->no_search_settings,
                  "Leave the database's search settings alone (default: new sessions get Chroma's ef_search and "
                  "hnsw.iterative_scan = relaxed_order)")
        ->envname("CHROMA2PG_NO_SEARCH_SETTINGS");
    add_layout_option(*cmd, a->layout, "Target tables");
    cmd->add_flag("--halfvec", a->halfvec, "Store embeddings as halfvec (half the space, float16 precision)")
        ->envname("CHROMA2PG_HALFVEC");
    cmd->add_flag("--langchain-id-prefix", a->langchain_id_prefix,
                  "langchain: store ids as '<collection>:<id>' (when collections share ids)")
        ->envname("CHROMA2PG_LANGCHAIN_ID_PREFIX");
    cmd->add_flag("--replace", a->replace, "Reload collections that are already migrated")->envname("CHROMA2PG_REPLACE");
    cmd->add_option("--jobs,-j", a->jobs,
                    "Parallel PostgreSQL connections: collections in parallel, large ones split into ranges; the index "
                    "build uses jobs-1 parallel maintenance workers")
        ->envname("CHROMA2PG_JOBS")
        ->capture_default_str();
    cmd->add_option("--index-builds", a->index_builds,
                    "Collections whose indexes build at once, each on its own session while the next one loads (0: "
                    "one at a time with parallel workers, or side by side where pgvector < 0.8.2 builds without them)")
        ->envname("CHROMA2PG_INDEX_BUILDS")
        ->capture_default_str();
    cmd->add_option("--checkpoint-records", a->checkpoint_records,
                    "Commit and checkpoint every this many source records (what a crash can cost)")
        ->envname("CHROMA2PG_CHECKPOINT_RECORDS")
        ->capture_default_str();
    cmd->add_flag("--resume", a->resume, "Continue the interrupted migration from its last checkpoints")
        ->envname("CHROMA2PG_RESUME");
    cmd->add_flag("--restart", a->restart, "Discard an interrupted migration and start over")
        ->envname("CHROMA2PG_RESTART");
    cmd->add_option("--retries", a->retries,
                    "Attempts per range on a lost connection (PostgreSQL or Chroma), with backoff up to 30 s")
        ->envname("CHROMA2PG_RETRIES")
        ->capture_default_str();
    cmd->add_option("--on-bad-record", a->on_bad_record,
                    "Records PostgreSQL cannot store (NaN/Inf, wrong dimension, NUL, invalid UTF-8, id too long): fail "
                    "(stop, resumable, after listing the batch's bad records) or skip (migrate the rest, exit 1)")
        ->check(CLI::IsMember({"fail", "skip"}))
        ->envname("CHROMA2PG_ON_BAD_RECORD")
        ->capture_default_str();
    cmd->add_flag("--escape-nul", a->escape_nul,
                  "Store text containing U+0000 with it replaced by U+2400 (the original is kept in the reject file)")
        ->envname("CHROMA2PG_ESCAPE_NUL");
    cmd->add_option("--reject-dir", a->reject_dir, "Where the per-collection reject files (<table>.rejects.jsonl) go")
        ->envname("CHROMA2PG_REJECT_DIR")
        ->capture_default_str();
    cmd->add_option("--salvage-report", a->salvage_report, "Where --salvage lists the records it could not recover")
        ->envname("CHROMA2PG_SALVAGE_REPORT")
        ->capture_default_str();
    auto *dry = cmd->add_flag("--dry-run", a->dry_run,
                              "Print the plan (collections, target tables, indexes, estimated size, free space) and "
                              "change nothing")
                    ->envname("CHROMA2PG_DRY_RUN");
    cmd->add_flag("--skip-space-check", a->skip_space_check,
                  "Go ahead even when the database has less free space than twice the estimated size")
        ->envname("CHROMA2PG_SKIP_SPACE_CHECK");
    add_summary_option(*cmd, a->summary)->excludes(dry);
    cmd->callback([a, m_opt, efc_opt] {
        a->idx.hnsw_m_given = m_opt->count() > 0;
        a->idx.hnsw_ef_construction_given = efc_opt->count() > 0;
        run_migrate(*a);
    });
}

} // namespace c2p
