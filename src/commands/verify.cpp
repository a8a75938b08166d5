#include <fmt/format.h>

#include "commands/commands.hpp"
#include "commands/common.hpp"
#include "sources/http/chroma_http_source.hpp"
#include "target/layout_sink.hpp"
#include "target/target_layout.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "verify/report_writer.hpp"
#include "verify/schema_check.hpp"
#include "verify/verifier.hpp"

namespace c2p {
namespace {

struct VerifyArgs {
    SourceFlags src;
    VerifyOptions opts;
    std::string layout = "native";
    std::string report_dir;
    int queries = 100;
    bool bench = false;
};

void print_human(const VerifyReport &r) {
    fmt::print("\n{:<28} {:>10} {:>10} {:>8} {:>6} {:>9} {:>9}  {}\n", "collection", "source", "target",
               "missing", "extra", "different", "recall@k", "result");
    for (const auto &c : r.collections) {
        const CompletenessCounts cp = c.counts();
        fmt::print("{:<28} {:>10} {:>10} {:>8} {:>6} {:>9} {:>9}  {}\n", c.name, cp.source_records, cp.target_records,
                   cp.missing, cp.extra, cp.different, fraction_text(c.recall_at_k()),
                   c.ok() ? "PASS" : "FAIL");
    }
    for (const auto &c : r.collections) {
        if (!c.search) continue;
        const SearchCheckResult &s = *c.search;
        for (const auto &f : s.filtered)
            fmt::print("  {} filtered ({:.1f}% of rows) {}: recall@k {:.3f}{}, fewest rows {} of {}\n", c.name,
                       f.selectivity * 100, f.sql, f.recall_at_k,
                       f.chroma_recall_at_k ? fmt::format(" (Chroma {:.3f})", *f.chroma_recall_at_k) : std::string(),
                       f.fewest_rows, f.expected_rows);
        if (s.source.queried && s.recall_at_k)
            fmt::print("  {} unfiltered: recall@k pgvector {:.3f}, Chroma {:.3f} (same queries)\n", c.name,
                       *s.recall_at_k, s.source.chroma_recall_vs_exact);
    }
    const auto &env = r.environment;
    if (env.contains("pgvector_policy"))
        fmt::print("pgvector {}: {}\n", env["pgvector_version"].get<std::string>(),
                   env["pgvector_policy"]["verdict"].get<std::string>());
    for (const auto &w : r.warnings) fmt::print("warning: {}\n", w);
    for (const auto &n : r.notes) fmt::print("note: {}\n", n);
    for (const auto &a : env.value("advice", nlohmann::ordered_json::array()))
        fmt::print("advice: {}: {}\n", a["setting"].get<std::string>(), a["advice"].get<std::string>());
    for (const auto &f : r.failures) fmt::print("FAIL: {}\n", f);
    fmt::print("verdict: {}\n", r.passed() ? "PASS" : "FAIL");
}

void run_verify_cmd(VerifyArgs &a) {
    auto &g = global_options();
    SourceOptions so = a.src.opts;
    resolve_token(so);
    if (a.queries < 1) throw UsageError("--queries must be at least 1");
    a.opts.layout = parse_layout(a.layout);
    const TargetLayout &target = target_layout(a.opts.layout);
    refuse_options_for_layout(target, {.id_prefix = a.opts.langchain_id_prefix});
    a.opts.queries = static_cast<size_t>(a.queries);
    a.opts.show_progress = !g.quiet;
    auto source = open_source(a.src.from, so);
    auto cols = select_collections(*source, a.src);
    log::info("start", fmt::format("verifying {} collection(s): {} against postgresql", cols.size(), source->describe()));
    auto report = run_verify(*source, cols, a.src.collections.empty() && a.src.exclude_collections.empty(), a.opts);

    if (a.bench) {
        // The benchmark runs on the largest verified collection that has a table, queried as its layout's client does.
        const CollectionVerify *best = nullptr;
        for (const auto &c : report.collections)
            if (c.located && (!best || c.counts().target_records > best->counts().target_records)) best = &c;
        if (best && best->counts().target_records > 0) {
            const TargetCollection &t = *best->located;
            const SearchShape shape = target.search_shape(t);
            BenchTarget bt{a.opts.to, t.schema, t.table, best->name, best->dimension.value_or(0), parse_space(best->space)};
            bt.id_expr = shape.id_expr;
            bt.embedding_column = shape.embedding_column;
            bt.filter = shape.filter;
            bt.index_space = shape.index_space;
            if (best->schema_check && best->schema_check->index) bt.index_name = best->schema_check->index->name;
            BenchOptions bo = a.opts.bench_options;
            auto *chroma = dynamic_cast<ChromaHttpSource *>(source.get());
            const CollectionInfo *info = nullptr;
            for (const auto &c : cols)
                if (c.name == bt.collection) info = &c;
            // The baseline: the same queries through Chroma's /query (its neighbours are in the collection's
            // space, so only where the client searches in that space too).
            if (chroma && info && (!bt.index_space || *bt.index_space == bt.space))
                bo.source_search = [chroma, info, k = bo.k](const std::string &v) {
                    auto r = chroma->client().post(chroma->collection_path(*info) + "/query",
                                                   fmt::format("{{\"query_embeddings\":[{}],\"n_results\":{},"
                                                               "\"include\":[\"distances\"]}}",
                                                               v, k));
                    if (r.status != 200) throw_http_error(chroma->describe(), "query collection '" + info->name + "'", r);
                    std::vector<std::string> ids;
                    const auto j = nlohmann::json::parse(r.body); // named: a range-for over a temporary's member dangles
                    for (const auto &id : j.at("ids").at(0)) ids.push_back(id.get<std::string>());
                    return ids;
                };
            if (bt.dim) report.bench = run_bench(bt, bo);
        }
        report.resources = process_resources();
    }
    if (!a.report_dir.empty()) {
        auto paths = write_report(a.report_dir, report);
        report.report_files = paths;
        log::info("report", fmt::format("report written: {}", fmt::join(paths, ", ")), {{"files", paths}});
    }
    if (g.json) print_json(report.to_json());
    else if (!g.quiet) print_human(report);
    if (!report.passed())
        throw DataError(fmt::format("verification failed: {} problem(s); first: {}", report.failures.size(),
                                    report.failures.front()));
}

} // namespace

void register_verify(CLI::App &app) {
    auto a = std::make_shared<VerifyArgs>();
    auto *cmd = app.add_subcommand("verify", "Prove a migration: every record, the schema, the index and search quality");
    cmd->footer(
        "Examples:\n"
        "  chroma2pg verify --from http://localhost:8000 --to postgresql://app@db/rag --report ./verify-report\n"
        "  chroma2pg verify --from ./chroma_db --to \"$DATABASE_URL\" --collections docs --queries 200 --k 20\n"
        "  chroma2pg --json verify --from ./backup-2024-06-01 --min-recall 0 > verify.json\n"
        "  chroma2pg verify --from http://localhost:8000 --to \"$DATABASE_URL\" --layout langchain --langchain-id-prefix\n"
        "Checks: pgvector installed and the settings that matter; per collection the record count and the digest of\n"
        "EVERY record (id, embedding bits, document, uri, typed metadata) computed from the values on both sides;\n"
        "registry dimension/space, column type, vector index present, valid and with the space's operator class;\n"
        "recall@k of the index against exact search (and, for a Chroma server source, agreement with its own\n"
        "query results and distances). Exit 0 only when everything matches; 1 on any missing, extra or different\n"
        "record, schema or index problem, distance disagreement, pgvector recall more than 0.02 below Chroma's own on\n"
        "the same queries beyond their sampling noise (or below --min-recall when given), or a filtered query returning fewer rows than its LIMIT.\n"
        "Search runs as the app runs it: a new session with the database's defaults (hnsw.ef_search,\n"
        "hnsw.iterative_scan, set by migrate), unfiltered and filtered by the collection's own metadata. After a\n"
        "recall gap it tries larger hnsw.ef_search values on the same queries and names the first that closes it.\n"
        "--layout langchain|llamaindex reads the framework's tables back through the documented mapping (uri and\n"
        "null documents from the metadata keys _chroma_uri / _chroma_document_null, node_id = id, the id prefix);\n"
        "a halfvec column is compared at float16 precision, and the report says so (docs/layouts.md).\n"
        "Memory: 24 bytes per record per side (ids are hashed), plus the query sample.");
    add_source_flags(*cmd, a->src);
    add_target_flags(*cmd, a->opts.to, a->opts.schema);
    add_layout_option(*cmd, a->layout, "Where the records are");
    cmd->add_flag("--langchain-id-prefix", a->opts.langchain_id_prefix,
                  "langchain: the ids were stored as '<collection>:<id>' (migrate --langchain-id-prefix)")
        ->envname("CHROMA2PG_LANGCHAIN_ID_PREFIX");
    cmd->add_option("--report", a->report_dir, "Write report.json, report.md and report.html into this directory")
        ->envname("CHROMA2PG_REPORT");
    cmd->add_option("--queries", a->queries, "Query vectors for the search check (drawn from the data)")
        ->envname("CHROMA2PG_QUERIES")
        ->capture_default_str();
    cmd->add_option("--k", a->opts.search.k, "Neighbours per query (recall@k)")
        ->envname("CHROMA2PG_K")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    cmd->add_option("--ef-search", a->opts.search.ef_search,
                    "hnsw.ef_search for the indexed queries (0: what the app's sessions get, the database's default)")
        ->envname("CHROMA2PG_EF_SEARCH")
        ->capture_default_str()
        ->check(CLI::Range(0, 1000));
    cmd->add_option("--app-role", a->opts.search.app_role,
                    "The role the application connects as: search is checked with that role's defaults "
                    "(ALTER ROLE … IN DATABASE … SET, as migrate --app-role sets them)")
        ->envname("CHROMA2PG_APP_ROLE");
    cmd->add_option("--min-recall", a->opts.search.min_recall,
                    "Recall@k below this fails the verification (0: no floor; pgvector's recall is judged against "
                    "Chroma's own on the same queries when the source is a Chroma server)")
        ->envname("CHROMA2PG_MIN_RECALL")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--max-listed", a->opts.max_listed,
                    "Differing records named in the output per kind, with their fields (all are in the report)")
        ->envname("CHROMA2PG_MAX_LISTED")
        ->capture_default_str();
    cmd->add_option("--batch-size", a->opts.batch_size, "Records per batch read from each side")
        ->envname("CHROMA2PG_BATCH_SIZE")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    cmd->add_flag("--bench", a->bench, "Also run a short benchmark (bench's defaults, 2 s per run) on the largest collection")
        ->envname("CHROMA2PG_BENCH");
    cmd->callback([a] {
        a->opts.bench_options.duration = 2;
        a->opts.bench_options.ef_search = {a->opts.search.ef_search};
        a->opts.bench_options.k = a->opts.search.k;
        run_verify_cmd(*a);
    });
}

} // namespace c2p
