#include "target/search_settings.hpp"

#include <cmath>
#include <algorithm>
#include <cstdio>
#include <tuple>

#include <fmt/format.h>

#include "target/native_layout.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

// The settings that decide what the app's vector searches return, as an SQL list.
constexpr const char *kSearchParameterList =
    "('hnsw.ef_search', 'hnsw.iterative_scan', 'hnsw.max_scan_tuples', 'ivfflat.probes', 'ivfflat.iterative_scan')";

std::optional<int> int_at(const json &j, std::initializer_list<const char *> path) {
    const json *cur = &j;
    for (const char *k : path) {
        if (!cur->is_object() || !cur->contains(k)) return std::nullopt;
        cur = &(*cur)[k];
    }
    if (cur->is_number_integer() || cur->is_number_unsigned()) return cur->get<int>();
    return std::nullopt;
}

// The first of: 1.x configuration, 0.5/0.6 configuration, legacy collection metadata.
std::optional<int> hnsw_param(const CollectionInfo &c, const char *name, const char *legacy) {
    if (auto v = int_at(c.configuration, {"hnsw", name})) return v;
    if (auto v = int_at(c.configuration, {"hnsw_configuration", name})) return v;
    if (auto v = int_at(c.metadata, {legacy})) return v;
    return std::nullopt;
}

} // namespace

ChromaHnswParams chroma_hnsw_params(const CollectionInfo &c) {
    ChromaHnswParams p;
    if (auto v = hnsw_param(c, "max_neighbors", "hnsw:M")) p.m = *v;
    else if (auto v2 = hnsw_param(c, "M", "hnsw:M")) p.m = *v2;
    if (auto v = hnsw_param(c, "ef_construction", "hnsw:construction_ef")) p.ef_construction = *v;
    if (auto v = hnsw_param(c, "ef_search", "hnsw:search_ef")) {
        p.ef_search = *v;
        p.ef_search_given = true;
    }
    return p;
}

std::vector<std::pair<std::string, std::string>> SearchSettings::parameters() const {
    std::vector<std::pair<std::string, std::string>> out{{"hnsw.ef_search", std::to_string(hnsw_ef_search)}};
    if (!iterative_scan.empty()) out.emplace_back("hnsw.iterative_scan", iterative_scan);
    if (ivfflat_probes > 0) {
        out.emplace_back("ivfflat.probes", std::to_string(ivfflat_probes));
        if (!iterative_scan.empty()) out.emplace_back("ivfflat.iterative_scan", "relaxed_order");
    }
    return out;
}

SearchSettings choose_search_settings(const std::vector<CollectionInfo> &cols, bool ivfflat, int ivfflat_lists_max) {
    SearchSettings s;
    s.ef_search_from = "Chroma's default";
    int best = 0;
    for (const auto &c : cols) {
        auto p = chroma_hnsw_params(c);
        if (p.ef_search > best) {
            best = p.ef_search;
            s.ef_search_from = p.ef_search_given ? fmt::format("collection '{}'", c.name) : "Chroma's default";
        }
    }
    // pgvector accepts 1..1000.
    s.hnsw_ef_search = std::clamp(best > 0 ? best : 100, 1, 1000);
    if (ivfflat && ivfflat_lists_max > 0)
        s.ivfflat_probes = std::max(1, static_cast<int>(std::lround(std::sqrt(double(ivfflat_lists_max)))));
    return s;
}

std::vector<std::string> search_settings_sql(const std::string &database, const std::string &role, const SearchSettings &s) {
    std::string head = role.empty() ? "ALTER DATABASE " + quote_ident(database)
                                    : "ALTER ROLE " + quote_ident(role) + " IN DATABASE " + quote_ident(database);
    std::vector<std::string> out;
    for (const auto &[name, value] : s.parameters()) out.push_back(head + " SET " + name + " = " + quote_literal(value));
    return out;
}

json apply_search_settings(PgConnection &pg, const std::string &role, const SearchSettings &s) {
    std::string db = pg.scalar("SELECT current_database()").value_or("");
    auto sql = search_settings_sql(db, role, s);
    json params = json::object();
    for (const auto &[name, value] : s.parameters()) params[name] = value;
    json out = {{"scope", role.empty() ? fmt::format("database {}", db) : fmt::format("role {} in database {}", role, db)},
                {"parameters", params},
                {"ef_search_from", s.ef_search_from},
                {"sql", sql}};
    // The parameters are pgvector's: known (and checked) only once its library is loaded in this session.
    pg.exec("SELECT '[1]'::vector");
    pg.exec("BEGIN");
    try {
        for (const auto &q : sql) pg.exec(q);
        pg.exec("COMMIT");
        out["applied"] = true;
    } catch (const Error &e) {
        // Refused (not the owner: 42501, exit 3 elsewhere): print the SQL instead. A lost session is not that.
        if (!pg.ok()) throw;
        pg.rollback_quietly();
        out["applied"] = false;
        out["error"] = e.what();
    }
    return out;
}

namespace {
// hnsw.ef_search as set for the scope migrate writes (the database, or the role in it); 0 when not set.
int ef_search_already_set(PgConnection &pg, const std::string &role) {
    auto r = pg.exec_params("SELECT substr(c, strpos(c, '=') + 1) FROM (SELECT unnest(setconfig) AS c FROM "
                            "pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = "
                            "current_database()) AND setrole = COALESCE((SELECT oid FROM pg_roles WHERE rolname = "
                            "NULLIF($1, '')), 0)) x WHERE c LIKE 'hnsw.ef\\_search=%'",
                            {role});
    if (r.rows() == 0) return 0;
    try {
        return std::stoi(r.text(0, 0));
    } catch (const std::exception &) {
        return 0;
    }
}
} // namespace

json carry_search_settings(PgConnection &pg, const std::vector<CollectionInfo> &cols, const IndexOptions &index,
                           const std::string &role, bool enabled) {
    uint64_t max_rows = 0;
    for (const auto &c : cols) max_rows = std::max(max_rows, c.record_count);
    bool ivf = index.method == IndexMethod::ivfflat;
    SearchSettings s = choose_search_settings(cols, ivf, ivf ? int(ivfflat_lists(index, max_rows)) : 0);
    // One value per database: an earlier migration into it (other collections) may need a larger one.
    if (int already = ef_search_already_set(pg, role); already > s.hnsw_ef_search) {
        s.hnsw_ef_search = already;
        s.ef_search_from = "the value already set there (an earlier migration's or yours; the larger is kept)";
    }
    std::string list;
    for (const auto &[name, value] : s.parameters()) list += (list.empty() ? "" : ", ") + name + " = " + value;
    std::string why = fmt::format("hnsw.ef_search {} is {}{}", s.hnsw_ef_search,
                                  s.ef_search_from == "Chroma's default"       ? "Chroma's default ef_search"
                                  : s.ef_search_from.rfind("collection ", 0) == 0 ? "the ef_search of " + s.ef_search_from
                                                                                  : s.ef_search_from,
                                  cols.size() > 1 ? " (the largest of the collections': one value per database)" : "");
    if (!enabled) {
        json out = {{"applied", false}, {"reason", "--no-search-settings"}, {"sql", search_settings_sql(
                        pg.scalar("SELECT current_database()").value_or(""), role, s)}};
        log::info("search_settings", "search settings left alone (--no-search-settings); the app's sessions get the "
                                     "server's: pgvector's hnsw.ef_search 40 and no iterative scans unless set elsewhere");
        return out;
    }
    json out = apply_search_settings(pg, role, s);
    out["reason"] = why;
    if (out["applied"].get<bool>()) {
        log::info("search_settings", fmt::format("new sessions of {} get {}; {}; iterative scans so filtered queries "
                                                 "return LIMIT rows",
                                                 out["scope"].get<std::string>(), list, why),
                  {{"parameters", out["parameters"]}});
    } else {
        std::string sql;
        for (const auto &q : out["sql"]) sql += "\n  " + q.get<std::string>() + ";";
        log::warn("search_settings",
                  fmt::format("could not set the search settings for {} ({}); run as the database owner or a "
                              "superuser:{}\n{}; `chroma2pg verify` checks them",
                              out["scope"].get<std::string>(), out["error"].get<std::string>(), sql, why));
    }
    return out;
}

json session_search_settings(PgConnection &pg) {
    pg.exec("SELECT '[1]'::vector");
    auto r = pg.exec(std::string("SELECT name, setting, source FROM pg_settings WHERE name IN ") + kSearchParameterList +
                     " ORDER BY name");
    json out = json::object();
    for (int i = 0; i < r.rows(); ++i) out[r.text(i, 0)] = {{"value", r.text(i, 1)}, {"source", r.text(i, 2)}};
    return out;
}

std::vector<std::pair<std::string, std::string>> role_search_defaults(PgConnection &pg, const std::string &role) {
    if (!pg.scalar("SELECT 1 FROM pg_roles WHERE rolname = " + quote_literal(role)))
        throw UsageError(fmt::format("--app-role: role '{}' does not exist in this cluster", role));
    // Lower rank wins, as PostgreSQL applies them at login.
    auto r = pg.exec_params(
        "SELECT split_part(c, '=', 1), substr(c, strpos(c, '=') + 1) FROM ("
        "  SELECT unnest(s.setconfig) AS c, CASE WHEN s.setdatabase <> 0 AND s.setrole <> 0 THEN 0"
        "         WHEN s.setrole <> 0 THEN 1 ELSE 2 END AS rank"
        "  FROM pg_db_role_setting s"
        "  WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))"
        "    AND s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = $1))"
        "    AND NOT (s.setdatabase = 0 AND s.setrole = 0)) x "
        "WHERE split_part(c, '=', 1) IN " + std::string(kSearchParameterList) + " ORDER BY 1, rank",
        {role});
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < r.rows(); ++i)
        if (out.empty() || out.back().first != r.text(i, 0)) out.emplace_back(r.text(i, 0), r.text(i, 1));
    return out;
}

PgvectorPolicy pgvector_policy(const std::string &extversion) {
    PgvectorPolicy p;
    p.version = extversion;
    int a = 0, b = 0, c = 0;
    int n = std::sscanf(extversion.c_str(), "%d.%d.%d", &a, &b, &c);
    if (n < 2) {
        p.verdict = fmt::format("pgvector version '{}' not understood: assuming a current release", extversion);
        return p;
    }
    p.known = true;
    auto at_least = [&](int x, int y, int z) { return std::tie(a, b, c) >= std::tie(x, y, z); };
    p.iterative_scan = at_least(0, 8, 0);
    p.parallel_build_safe = at_least(0, 8, 2);
    p.vacuum_safe = at_least(0, 8, 3);
    // What each fixed release fixed: one table, read by migrate's warnings, verify and the report.
    const struct {
        bool ok;
        const char *text;
    } known_bugs[] = {
        {p.parallel_build_safe, "parallel HNSW builds can overflow a buffer before 0.8.2 (pgvector issue 959): HNSW "
                                "indexes are built without parallel workers (slower); upgrade to 0.8.3 or later"},
        {p.vacuum_safe, "vacuuming an HNSW index can corrupt it before 0.8.3: upgrade pgvector before the app "
                        "deletes or updates rows"},
        {p.iterative_scan, "no iterative index scans before 0.8.0: filtered queries can return fewer rows than LIMIT"},
    };
    for (const auto &b : known_bugs)
        if (!b.ok) p.problems.emplace_back(b.text);
    if (p.problems.empty()) {
        p.verdict = "ok (0.8.3 or later: past the parallel-build overflow and the HNSW-vacuum corruption)";
    } else {
        p.verdict = fmt::format("pgvector {}: ", extversion);
        for (size_t i = 0; i < p.problems.size(); ++i) p.verdict += (i ? "; " : "") + p.problems[i];
    }
    return p;
}

json PgvectorPolicy::to_json() const {
    return {{"version", version},
            {"parallel_build_safe", parallel_build_safe},
            {"vacuum_safe", vacuum_safe},
            {"iterative_scan", iterative_scan},
            {"ok", parallel_build_safe && vacuum_safe && iterative_scan},
            {"verdict", verdict}};
}

} // namespace c2p
