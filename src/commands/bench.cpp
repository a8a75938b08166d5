#include <ctime>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "commands/common.hpp"
#include "target/pg_connection.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/utc_time.hpp"
#include "util/version_info.hpp"
#include "verify/bench.hpp"
#include "verify/environment.hpp"
#include "verify/report_writer.hpp"
#include "verify/schema_check.hpp"

namespace c2p {
namespace {

struct BenchArgs {
    std::string to, schema = "public", collection, report_dir;
    BenchOptions opts;
    size_t queries = 200;
};

void run_bench_cmd(BenchArgs &a) {
    auto &g = global_options();
    if (a.opts.duration <= 0) throw UsageError("--duration must be positive");
    if (a.opts.clients.empty()) throw UsageError("--clients needs at least one client count");
    for (int c : a.opts.clients)
        if (c < 1 || c > 256) throw UsageError(fmt::format("--clients: {} is outside 1..256", c));
    for (int e : a.opts.ef_search)
        if (e < 1 || e > 1000) throw UsageError(fmt::format("--ef-search: {} is outside 1..1000", e));
    a.opts.queries = a.queries;

    PgConnection pg(a.to);
    auto rows = all_registry_rows(pg, a.schema);
    if (rows.empty())
        throw UsageError("no migrated collections in schema '" + a.schema + "' (no rows in " + a.schema +
                         ".chroma_collections): run `chroma2pg migrate` first, or pass --schema; a framework "
                         "layout keeps no registry: benchmark its tables with `chroma2pg verify --layout LAYOUT "
                         "--bench`");
    const RegistryRow *pick = nullptr;
    if (!a.collection.empty()) {
        for (const auto &r : rows)
            if (r.name == a.collection || r.id == a.collection) pick = &r;
        if (!pick) {
            std::string names;
            for (const auto &r : rows) names += (names.empty() ? "" : ", ") + r.name;
            throw UsageError("--collection '" + a.collection + "' is not migrated in schema '" + a.schema +
                             "' (there: " + names + ")");
        }
    } else {
        for (const auto &r : rows) // the largest one: the figures that matter
            if (r.table_exists && (!pick || r.record_count.value_or(0) > pick->record_count.value_or(0))) pick = &r;
    }
    if (!pick || !pick->table_exists) throw DataError("bench: the collection's table does not exist");
    if (!pick->dimension) throw DataError("bench: collection '" + pick->name + "' has no dimension (empty?)");

    BenchTarget t{a.to, a.schema, pick->table_name, pick->name, *pick->dimension, parse_space(pick->space)};
    log::info("start", fmt::format("benchmarking {} ({}.{}) on {}", pick->name, a.schema, pick->table_name, pg.describe()));
    BenchReport report;
    const BenchResult &b = report.bench = run_bench(t, a.opts);

    EnvironmentFacts facts;
    facts.k = a.opts.k;
    if (b.index) facts.vector_index_bytes = b.index->bytes;
    report.tool_version = std::string(C2P_VERSION) + " (git " + C2P_GIT_REV + ")";
    report.generated_at = utc_iso8601(std::time(nullptr));
    report.target_server = pg.describe();
    report.schema = a.schema;
    for (const auto &s : b.search)
        if (!s.index_used)
            report.warnings.push_back(fmt::format("hnsw.ef_search {}: the planner did not use the vector index; "
                                                  "these figures are for exact scans",
                                                  s.ef_search));
    report.environment = collect_environment(pg, facts);
    report.resources = process_resources();
    if (!a.report_dir.empty()) {
        auto paths = write_bench_report(a.report_dir, report);
        report.report_files = paths;
        log::info("report", fmt::format("report written: {}", fmt::join(paths, ", ")), {{"files", paths}});
    }
    if (g.json) {
        print_json(report.to_json());
        return;
    }
    if (g.quiet) return;
    fmt::print("\n{} ({} records, {} dims, {}), k = {}\n", pick->name, b.rows, t.dim, space_name(t.space), a.opts.k);
    fmt::print("{:>9} {:>9} {:>8} {:>10} {:>9} {:>9} {:>9}\n", "ef_search", "recall", "clients", "queries/s",
               "p50 ms", "p95 ms", "p99 ms");
    for (const auto &s : b.search)
        for (const auto &r : s.runs)
            fmt::print("{:>9} {:>9.3f} {:>8} {:>10.0f} {:>9.3f} {:>9.3f} {:>9.3f}\n", s.ef_search, s.recall_at_k.value_or(0),
                       r.clients, r.latency.qps, r.latency.p50_ms, r.latency.p95_ms, r.latency.p99_ms);
    if (b.insert)
        fmt::print("insert: {:.0f} records/s (binary COPY, {} rows)\n", b.insert->records_per_second, b.insert->rows);
    fmt::print("tool: peak RSS {} MB, CPU {:.2f} s\n", report.resources.peak_rss_bytes / (1 << 20),
               report.resources.cpu_seconds);
}

} // namespace

void register_bench(CLI::App &app) {
    auto a = std::make_shared<BenchArgs>();
    auto *cmd = app.add_subcommand("bench", "Measure search throughput/latency, recall per ef_search, and insert rate");
    cmd->footer("Examples:\n"
                "  chroma2pg bench --to postgresql://app@db/rag\n"
                "  chroma2pg bench --collection docs --clients 1,4,16 --duration 10 --ef-search 40,100,200 --report ./bench\n"
                "  chroma2pg --json bench --duration 2 --clients 1 > bench.json\n"
                "Each (ef_search, clients) run opens one connection and thread per client running a prepared\n"
                "ORDER BY embedding <op> $1 LIMIT k query for --duration seconds, with query vectors drawn from the\n"
                "table; recall@k is measured against exact search. The insert rate is a binary COPY of synthetic rows\n"
                "into a temporary scratch table (dropped afterwards). Nothing in the collection is changed.");
    add_target_flags(*cmd, a->to, a->schema);
    cmd->add_option("--collection", a->collection, "Collection to benchmark (default: the largest migrated one)")
        ->envname("CHROMA2PG_COLLECTION");
    cmd->add_option("--clients", a->opts.clients, "Concurrent clients (comma-separated counts)")
        ->delimiter(',')
        ->envname("CHROMA2PG_CLIENTS")
        ->capture_default_str();
    cmd->add_option("--duration", a->opts.duration, "Seconds per run")->envname("CHROMA2PG_DURATION")->capture_default_str();
    cmd->add_option("--ef-search", a->opts.ef_search, "hnsw.ef_search values (comma-separated)")
        ->delimiter(',')
        ->envname("CHROMA2PG_EF_SEARCH")
        ->capture_default_str();
    cmd->add_option("--k", a->opts.k, "Neighbours per query")->envname("CHROMA2PG_K")->capture_default_str()->check(CLI::Range(1, 1000));
    cmd->add_option("--queries", a->queries, "Distinct query vectors drawn from the table")
        ->envname("CHROMA2PG_QUERIES")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--insert-rows", a->opts.insert_rows, "Synthetic rows for the insert benchmark (0: skip)")
        ->envname("CHROMA2PG_INSERT_ROWS")
        ->capture_default_str();
    cmd->add_option("--report", a->report_dir, "Write report.json, report.md and report.html into this directory")
        ->envname("CHROMA2PG_REPORT");
    cmd->callback([a] { run_bench_cmd(*a); });
}

} // namespace c2p
