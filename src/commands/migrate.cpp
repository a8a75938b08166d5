#include <fstream>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "commands/common.hpp"
#include "pipeline/pipeline.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"
#include "target/pgvector_sink.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {

struct MigrateArgs {
    SourceFlags src;
    std::string to, schema = "public";
    size_t batch_size = 1000;
    std::string index = "hnsw";
    IndexOptions idx;
    bool replace = false;
    std::string salvage_report = "chroma2pg-salvage-report.json";
};

void run_migrate(MigrateArgs &a) {
    auto &g = global_options();
    SourceOptions so = a.src.opts;
    resolve_token(so);
    a.idx.method = parse_index_method(a.index);
    if (a.batch_size == 0) throw UsageError("--batch-size must be at least 1");

    auto source = open_source(a.src.from, so);
    auto cols = select_collections(*source, a.src.collections);
    PgConnection pg(a.to);
    std::string pgvector_version = ensure_pgvector(pg);
    ensure_schema_and_registry(pg, a.schema);
    log::info("start", fmt::format("migrating {} collection(s) from {} to {} (pgvector {})", cols.size(),
                                   source->describe(), pg.describe(), pgvector_version),
              {{"source", source->describe()}, {"target", pg.describe()}, {"collections", cols.size()}});

    // Refuse before writing anything when a collection is already there and --replace was not given.
    std::vector<std::string> present;
    for (const auto &c : cols)
        if (auto r = find_registered(pg, a.schema, c.id, c.name); r && r->rows >= 0)
            present.push_back(fmt::format("'{}' (table {}, {} rows)", c.name, r->table_name, r->rows));
    if (!present.empty() && !a.replace) {
        std::string list;
        for (const auto &p : present) list += (list.empty() ? "" : ", ") + p;
        throw UsageError("already migrated: " + list +
                         "; pass --replace to reload from the source, or run `chroma2pg sync` to apply only the changes");
    }

    nlohmann::ordered_json summary = nlohmann::ordered_json::array();
    uint64_t total_records = 0, total_bytes = 0;
    double total_seconds = 0;
    PgvectorSinkOptions sopts{a.schema, a.idx, source->describe()};
    for (const auto &c : cols) {
        PgvectorSink sink(pg, sopts);
        auto reader = source->read(c, a.batch_size);
        Progress progress(c.name, c.record_count, !g.quiet);
        auto st = run_pipeline(c, *reader, sink, &progress);
        progress.finish();
        double rate = st.seconds > 0 ? st.records / st.seconds : 0;
        double mbps = st.seconds > 0 ? st.bytes / st.seconds / 1e6 : 0;
        log::info("collection_done",
                  fmt::format("{}: {} records into {}.{} in {:.2f}s ({:.0f} rec/s, {:.1f} MB/s; index {:.2f}s)", c.name,
                              st.records, a.schema, sink.table_name(), st.seconds, rate, mbps, sink.index_seconds()),
                  {{"collection", c.name}, {"records", st.records}, {"seconds", st.seconds}});
        if (st.records != c.record_count)
            log::warn("count_changed",
                      fmt::format("{}: the source reported {} records before the read and {} were read: it changed "
                                  "during the migration; run `chroma2pg sync` to catch up",
                                  c.name, c.record_count, st.records),
                      {{"collection", c.name}});
        summary.push_back({{"name", c.name}, {"id", c.id}, {"table", sink.table_name()}, {"records_read", st.records},
                           {"records_written", sink.rows_written()}, {"rejected", 0}, {"seconds", st.seconds},
                           {"index_seconds", sink.index_seconds()}, {"records_per_second", rate}, {"mb_per_second", mbps},
                           {"dimension", c.dimension ? nlohmann::ordered_json(*c.dimension) : nlohmann::ordered_json()},
                           {"space", space_name(c.space)}});
        total_records += st.records;
        total_bytes += st.bytes;
        total_seconds += st.seconds;
    }
    // --salvage: what could not be recovered goes to a report, and the run says so with exit 1.
    nlohmann::ordered_json lost = nlohmann::ordered_json::array();
    uint64_t lost_count = 0;
    for (const auto &c : cols) {
        const auto &ids = c.details.contains("unrecoverable_ids") ? c.details["unrecoverable_ids"] : nlohmann::ordered_json::array();
        if (ids.empty()) continue;
        lost_count += ids.size();
        lost.push_back({{"collection", c.name}, {"id", c.id}, {"unrecoverable_ids", ids},
                        {"damage", c.details.value("damage", nlohmann::ordered_json::array())}});
    }
    if (!lost.empty()) {
        std::ofstream f(a.salvage_report);
        f << nlohmann::ordered_json({{"source", source->describe()}, {"collections", lost}}).dump(2) << "\n";
        if (!f) throw EnvError("cannot write the salvage report " + a.salvage_report);
    }
    nlohmann::ordered_json result = {
        {"command", "migrate"}, {"source", source->describe()}, {"target", pg.describe()}, {"schema", a.schema},
        {"pgvector_version", pgvector_version}, {"collections", summary},
        {"totals", {{"records", total_records}, {"bytes", total_bytes}, {"seconds", total_seconds}}}};
    if (!lost.empty()) result["salvage"] = {{"unrecoverable_records", lost_count}, {"report", a.salvage_report}};
    auto fail_if_lost = [&] {
        if (lost.empty()) return;
        throw DataError(fmt::format("salvage: migrated everything recoverable; {} record(s) could not be recovered, "
                                    "listed in {}", lost_count, a.salvage_report));
    };
    if (g.json) {
        print_json(result);
        fail_if_lost();
        return;
    }
    if (g.quiet) {
        fail_if_lost();
        return;
    }
    fmt::print(stderr, "\n{:<28} {:<30} {:>10} {:>9} {:>10} {:>8}\n", "collection", "table", "records", "seconds",
               "rec/s", "MB/s");
    for (const auto &s : summary)
        fmt::print(stderr, "{:<28} {:<30} {:>10} {:>9.2f} {:>10.0f} {:>8.1f}\n", s["name"].get<std::string>(),
                   s["table"].get<std::string>(), s["records_written"].get<uint64_t>(), s["seconds"].get<double>(),
                   s["records_per_second"].get<double>(), s["mb_per_second"].get<double>());
    fmt::print(stderr, "total: {} records in {:.2f}s\n", total_records, total_seconds);
    fail_if_lost();
}

} // namespace

void register_migrate(CLI::App &app) {
    auto a = std::make_shared<MigrateArgs>();
    auto *cmd = app.add_subcommand("migrate", "Copy collections into PostgreSQL + pgvector, then index them");
    cmd->footer("Examples:\n"
                "  chroma2pg migrate --from http://localhost:8000 --to postgresql://app@db/rag\n"
                "  chroma2pg migrate --from ./chroma_db --to \"$DATABASE_URL\" --collections docs,faq\n"
                "  chroma2pg migrate --from ./chroma_db --index ivfflat --replace --json\n"
                "Each collection is loaded with binary COPY into a staging table, indexed, then swapped in with\n"
                "its registry row in one transaction: an interrupted run leaves the previous state untouched.");
    add_source_flags(*cmd, a->src);
    add_target_flags(*cmd, a->to, a->schema);
    cmd->add_option("--batch-size", a->batch_size, "Records per batch read from the source")
        ->envname("CHROMA2PG_BATCH_SIZE")
        ->capture_default_str();
    cmd->add_option("--index", a->index, "Vector index: hnsw, ivfflat or none")
        ->check(CLI::IsMember({"hnsw", "ivfflat", "none"}))
        ->envname("CHROMA2PG_INDEX")
        ->capture_default_str();
    cmd->add_option("--hnsw-m", a->idx.hnsw_m, "HNSW m")->envname("CHROMA2PG_HNSW_M")->capture_default_str()->check(CLI::Range(2, 100));
    cmd->add_option("--hnsw-ef-construction", a->idx.hnsw_ef_construction, "HNSW ef_construction")
        ->envname("CHROMA2PG_HNSW_EF_CONSTRUCTION")
        ->capture_default_str()
        ->check(CLI::Range(4, 1000));
    cmd->add_option("--ivfflat-lists", a->idx.ivfflat_lists, "IVFFlat lists (default: rows/1000, sqrt(rows) above 1M)")
        ->envname("CHROMA2PG_IVFFLAT_LISTS");
    cmd->add_option("--maintenance-work-mem", a->idx.maintenance_work_mem,
                    "maintenance_work_mem for the index build (e.g. 1GB; default: the server's)")
        ->envname("CHROMA2PG_MAINTENANCE_WORK_MEM");
    cmd->add_flag("--replace", a->replace, "Reload collections that are already migrated")->envname("CHROMA2PG_REPLACE");
    cmd->add_option("--salvage-report", a->salvage_report, "Where --salvage lists the records it could not recover")
        ->envname("CHROMA2PG_SALVAGE_REPORT")
        ->capture_default_str();
    cmd->callback([a] { run_migrate(*a); });
}

} // namespace c2p
