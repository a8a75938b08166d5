#include "verify/verifier.hpp"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "sources/http/chroma_http_source.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/version_info.hpp"
#include "verify/completeness.hpp"
#include "verify/environment.hpp"
#include "verify/report_writer.hpp"
#include "verify/schema_check.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

} // namespace

json run_verify(Source &src, const std::vector<CollectionInfo> &cols, bool all_collections, const VerifyOptions &o) {
    auto t_start = std::chrono::steady_clock::now();
    PgConnection pg(o.to);
    json failures = json::array(), warnings = json::array();
    auto pgv = pg.scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'");
    if (!pgv)
        throw EnvError("postgresql " + pg.describe() + ": the pgvector extension is not installed in this database: "
                       "nothing can have been migrated here (wrong --to database?)");
    auto *chroma = dynamic_cast<ChromaHttpSource *>(&src);

    json collections = json::array();
    json registry = json::array();
    uint64_t tot_src = 0, tot_tgt = 0, tot_missing = 0, tot_extra = 0, tot_diff = 0;
    double read_seconds = 0;
    EnvironmentFacts facts;
    facts.k = o.search.k;
    for (const auto &c : cols) {
        json cj = {{"name", c.name}, {"id", c.id}, {"space", space_name(c.space)},
                   {"dimension", c.dimension ? json(*c.dimension) : json()}};
        std::vector<std::string> cf, cw;
        auto reg = lookup_registry(pg, o.schema, c.id, c.name);
        if (!reg) {
            cf.push_back(fmt::format("collection '{}': not migrated (no row in {}.chroma_collections); its {} source "
                                     "records are all missing",
                                     c.name, o.schema, c.record_count));
            cj["completeness"] = {{"source_records", c.record_count}, {"target_records", 0},
                                  {"missing", c.record_count},        {"extra", 0},
                                  {"different", 0},                   {"digest_parity", false}};
            tot_src += c.record_count;
            tot_missing += c.record_count;
        } else {
            cj["table"] = o.schema + "." + reg->table_name;
            registry.push_back({{"name", reg->name}, {"migrated_at", reg->migrated_at},
                                {"record_count", reg->record_count ? json(*reg->record_count) : json()},
                                {"index_method", reg->index_method}, {"source", reg->source}});
            SchemaCheck sc = check_schema(pg, o.schema, c, *reg);
            for (auto &f : sc.failures) cf.push_back(f);
            for (auto &w : sc.warnings) cw.push_back(w);
            cj["schema"] = sc.to_json();
            if (sc.index) facts.vector_index_bytes += sc.index->bytes;
            facts.table_bytes += sc.table_bytes;
            if (reg->table_exists && (sc.column_type.rfind("vector", 0) == 0)) {
                CompletenessOptions co{o.batch_size, o.max_listed, o.queries, o.show_progress};
                CompletenessResult cr = check_completeness(src, c, pg, o.schema, reg->table_name, co);
                cj["completeness"] = cr.to_json();
                const auto &d = cr.diff;
                tot_src += d.source_count;
                tot_tgt += d.target_count;
                tot_missing += cr.missing_ids.size();
                tot_extra += cr.extra_ids.size();
                tot_diff += cr.different.size();
                read_seconds += cr.read_seconds;
                if (d.source_count != d.target_count)
                    cf.push_back(fmt::format("collection '{}': {} records in the source, {} in the target", c.name,
                                             d.source_count, d.target_count));
                auto name_some = [&](const std::vector<std::string> &ids) {
                    std::string s;
                    for (size_t i = 0; i < ids.size() && i < o.max_listed; ++i) s += (i ? ", '" : "'") + ids[i] + "'";
                    if (ids.size() > o.max_listed) s += fmt::format(" and {} more", ids.size() - o.max_listed);
                    return s;
                };
                if (!cr.missing_ids.empty())
                    cf.push_back(fmt::format("collection '{}': {} record(s) missing in the target: {}", c.name,
                                             cr.missing_ids.size(), name_some(cr.missing_ids)));
                if (!cr.extra_ids.empty())
                    cf.push_back(fmt::format("collection '{}': {} record(s) in the target that the source does not "
                                             "have: {}", c.name, cr.extra_ids.size(), name_some(cr.extra_ids)));
                for (size_t i = 0; i < cr.different.size(); ++i) {
                    const auto &r = cr.different[i];
                    if (i >= o.max_listed) {
                        cf.push_back(fmt::format("collection '{}': {} more record(s) differ (all listed in the report)",
                                                 c.name, cr.different.size() - o.max_listed));
                        break;
                    }
                    std::string det;
                    for (const auto &x : r.details) det += (det.empty() ? "" : "; ") + x;
                    cf.push_back(fmt::format("collection '{}': record '{}' differs{}", c.name, r.id,
                                             det.empty() ? "" : ": " + det));
                }
                if (cr.stored_digest_stale > 0)
                    cw.push_back(fmt::format("collection '{}': {} row(s) have a stored digest that no longer matches "
                                             "their values (changed in PostgreSQL after the migration; `sync` would "
                                             "misjudge them)",
                                             c.name, cr.stored_digest_stale));
                // Search check on the sample.
                SearchTarget st{o.schema, reg->table_name, cr.dim, c.space, "", "", ""};
                if (sc.index && sc.index->valid && sc.index->opclass == space_opclass(c.space, cr.dim > kMaxVectorIndexDims)) {
                    st.index_name = sc.index->name;
                    st.index_method = sc.index->method;
                    st.index_options = sc.index->options;
                }
                json sj = run_search_check(pg, st, c, cr.sample, o.search, chroma);
                for (const auto &f : sj["failures"]) cf.push_back(f.get<std::string>());
                for (const auto &w : sj["warnings"]) cw.push_back(w.get<std::string>());
                cj["search"] = sj;
            }
        }
        cj["ok"] = cf.empty();
        cj["failures"] = cf;
        cj["warnings"] = cw;
        for (auto &f : cf) failures.push_back(f);
        for (auto &w : cw) warnings.push_back(w);
        log::info("collection_verified",
                  fmt::format("{}: {}", c.name, cf.empty() ? "PASS" : fmt::format("FAIL ({} problem(s))", cf.size())),
                  {{"collection", c.name}, {"ok", cf.empty()}});
        collections.push_back(cj);
    }
    if (all_collections) {
        for (const auto &r : all_registry_rows(pg, o.schema)) {
            bool known = false;
            for (const auto &c : cols) known = known || c.id == r.id || c.name == r.name;
            if (!known)
                warnings.push_back(fmt::format("the target has collection '{}' (table {}) that the source does not "
                                               "have (deleted in Chroma after the migration?)",
                                               r.name, r.table_name));
        }
    }

    json env = collect_environment(pg, facts);
    json migration = {{"registry", registry}};
    auto runs_exists = pg.scalar("SELECT to_regclass(" + quote_literal(qualified(o.schema, "chroma2pg_runs")) + ") IS NOT NULL");
    if (runs_exists && *runs_exists == "t") {
        auto r = pg.scalar("SELECT coalesce(json_agg(r), '[]') FROM (SELECT * FROM " + qualified(o.schema, "chroma2pg_runs") +
                           " ORDER BY 1 DESC LIMIT 20) r");
        migration["runs"] = json::parse(r.value_or("[]"));
    } else {
        migration["runs"] = nullptr;
        migration["note"] = "The migration's own throughput figures are not recorded in the database (no " + o.schema +
                            ".chroma2pg_runs table); see the output of `chroma2pg migrate --json`. The registry above "
                            "has when each collection was migrated and its record count.";
    }
    double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    json report = {{"kind", "verify"},
                   {"tool_version", std::string(C2P_VERSION) + " (git " + C2P_GIT_REV + ")"},
                   {"generated_at", utc_now()},
                   {"verdict", failures.empty() ? "PASS" : "FAIL"},
                   {"failures", failures},
                   {"warnings", warnings},
                   {"source", {{"description", src.describe()}, {"details", src.details()}}},
                   {"target", {{"server", pg.describe()}, {"schema", o.schema}}},
                   {"settings",
                    {{"queries", o.queries}, {"k", o.search.k}, {"ef_search", o.search.ef_search},
                     {"min_recall", o.search.min_recall}, {"max_listed", o.max_listed}}},
                   {"totals",
                    {{"collections", cols.size()}, {"source_records", tot_src}, {"target_records", tot_tgt},
                     {"missing", tot_missing}, {"extra", tot_extra}, {"different", tot_diff}}},
                   {"collections", collections},
                   {"migration", migration},
                   {"environment", env}};
    report["verification"] = {{"seconds", total_seconds}, {"read_seconds", read_seconds},
                              {"records_per_second", read_seconds > 0 ? double(tot_src) / read_seconds : 0}};
    report["resources"] = process_resources();
    return report;
}

} // namespace c2p
