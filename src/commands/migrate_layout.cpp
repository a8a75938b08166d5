#include "commands/migrate_layout.hpp"

#include <chrono>

#include <fmt/format.h>

#include "commands/dry_run.hpp"
#include "commands/run_summary.hpp"

#include "pipeline/pipeline.hpp"
#include "pipeline/task_pool.hpp"
#include "sources/http/chroma_http_source.hpp"
#include "target/client_config.hpp"
#include "target/index_build.hpp"
#include "target/table_layout.hpp"
#include "target/table_names.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {

void run_layout_migrate(LayoutMigrateArgs &a) {
    auto &g = global_options();
    if (a.batch_size == 0) throw UsageError("--batch-size must be at least 1");
    if (a.opts.langchain_id_prefix && a.layout != "langchain")
        throw UsageError("--langchain-id-prefix applies to --layout langchain only");
    SourceOptions so = a.src.opts;
    resolve_token(so);
    auto source = open_source(a.src.from, so);
    auto cols = select_collections(*source, a.src);
    require_storable_names(cols);
    const TableLayout *tl = find_table_layout(parse_layout(a.layout));
    if (tl && tl->fold_name) // every name of the source: two that fold alike each get a hash
        for (const auto &c : source->list_collections()) a.opts.source_names.push_back(c.name);
    std::unique_ptr<PgConnection> conn;
    std::string pgvector_version;
    PgvectorPolicy policy;
    auto run_start = std::chrono::steady_clock::now();
    // A PostgreSQL restart during start-up: reconnect and start over.
    retry_lost_connection("start-up", a.retries, [&] {
        if (!conn || !conn->ok()) conn = std::make_unique<PgConnection>(a.to);
        if (!a.skip_space_check) {
            MigratePlanOptions po;
            po.schema = a.opts.schema;
            po.layout = a.layout;
            po.index = a.opts.index;
            po.halfvec = a.opts.halfvec;
            po.langchain_id_prefix = a.opts.langchain_id_prefix;
            po.batch_size = a.batch_size;
            check_migrate_space(*conn, *source, cols, po);
        }
        run_start = std::chrono::steady_clock::now();
        pgvector_version = ensure_pgvector(*conn);
        policy = apply_pgvector_policy(pgvector_version, a.opts.index);
    });
    PgConnection &pg = *conn;
    a.opts.target = a.to;
    log::info("start", fmt::format("migrating {} collection(s) from {} to {} as the {} layout (pgvector {})", cols.size(),
                                   source->describe(), pg.describe(), a.layout, pgvector_version),
              {{"source", source->describe()}, {"target", pg.describe()}, {"layout", a.layout}});
    if (dynamic_cast<ChromaHttpSource *>(source.get()))
        log::warn("live_source", fmt::format("--layout {} reads the server page by page without the native layout's "
                                             "check against its live ids: if the app writes to Chroma meanwhile, run "
                                             "`chroma2pg sync --layout {}` with the same options afterwards (and once "
                                             "more inside the write freeze)",
                                             a.layout, a.layout));
    // --jobs: collections in parallel, each worker with its own session and its own source handle (a
    // collection is still one transaction). The schema exists before they start: CREATE SCHEMA races.
    ensure_schema(pg, a.opts.schema);
    const int nworkers = std::max(1, std::min<int>(a.jobs, static_cast<int>(cols.size())));
    std::vector<std::unique_ptr<PgConnection>> sessions;
    std::vector<std::unique_ptr<Source>> sources;
    for (int w = 1; w < nworkers; ++w) {
        sessions.push_back(std::make_unique<PgConnection>(a.to));
        sources.push_back(open_source(a.src.from, so));
    }
    auto session_of = [&](int w) -> PgConnection & { return w == 0 ? pg : *sessions[size_t(w - 1)]; };
    auto source_of = [&](int w) -> Source & { return w == 0 ? *source : *sources[size_t(w - 1)]; };

    std::vector<nlohmann::ordered_json> rows(cols.size()); // each worker writes its collection's own
    RunEta run_eta(!g.quiet);
    for (const auto &c : cols) run_eta.add_collection(c.record_count);
    TaskPool pool(nworkers);
    for (size_t k = 0; k < cols.size(); ++k)
        pool.add([&, k](int w) {
            const CollectionInfo &c = cols[k];
            auto sink = make_layout_sink(a.layout, session_of(w), a.opts);
            auto reader = source_of(w).read(c, a.batch_size);
            Progress progress(c.name, c.record_count, !g.quiet);
            auto st = run_pipeline(c, *reader, *sink, &progress);
            progress.finish();
            log::info("collection_done",
                      fmt::format("{}: {} records into {}.{} in {:.2f}s (index {:.2f}s)", c.name, st.records,
                                  a.opts.schema, sink->table_name(), st.seconds, sink->index_seconds()),
                      {{"collection", c.name}, {"records", st.records}, {"seconds", st.seconds}});
            nlohmann::ordered_json row = {{"name", c.name}, {"id", c.id}, {"table", sink->table_name()}};
            put_figures(row, RunFigures{st.records, sink->rows_written(), sink->rejected(), st.bytes, st.seconds});
            if (sink->escaped() > 0) row["escaped"] = sink->escaped();
            if (!sink->reject_file().empty()) row["reject_file"] = sink->reject_file();
            row["index_seconds"] = sink->index_seconds();
            row["dimension"] = c.dimension ? nlohmann::ordered_json(*c.dimension) : nlohmann::ordered_json();
            row["space"] = space_name(c.space);
            // What the app pastes into its store's configuration (docs/layouts.md).
            if (auto cc = client_config(parse_layout(a.layout), a.opts.schema, sink->table_name(), c)) {
                log::info("client_config", fmt::format("{}: {} reads it with {}", c.name, cc->client, cc->snippet),
                          {{"collection", c.name}, {"client_config", cc->config}});
                row["client_config"] = std::move(cc->config);
            }
            rows[k] = std::move(row);
            run_eta.collection_done(c.record_count);
        });
    pool.run();
    nlohmann::ordered_json summary = nlohmann::ordered_json::array();
    double load_seconds = 0; // the collections' own, added up (the run's wall time is in the figures)
    for (auto &row : rows) {
        load_seconds += row.value("seconds", 0.0);
        summary.push_back(std::move(row));
    }
    auto search_settings = carry_search_settings(pg, cols, a.opts.index, a.app_role, a.search_settings);
    nlohmann::ordered_json totals = {{"collections", summary.size()}};
    const RunFigures sum = sum_figures(summary, run_start);
    put_figures(totals, sum);
    totals["records"] = sum.read;
    totals["load_seconds"] = load_seconds;
    nlohmann::ordered_json result = {{"command", "migrate"}, {"layout", a.layout}, {"source", source->describe()},
                                     {"target", pg.describe()}, {"schema", a.opts.schema},
                                     {"pgvector_version", pgvector_version}, {"collections", summary},
                                     {"totals", totals}};
    result["pgvector"] = policy.to_json();
    result["search_settings"] = search_settings;
    report_run(result, a.summary, {{"table", "table"}});
    if (sum.rejected > 0)
        throw DataError(fmt::format("migrated everything else; {} record(s) PostgreSQL cannot store were skipped and "
                                    "are listed in the reject file(s) under {}",
                                    sum.rejected, a.opts.reject_dir));
}

} // namespace c2p
