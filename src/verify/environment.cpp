#include "verify/environment.hpp"

#include <fmt/format.h>

#include "target/search_settings.hpp"
#include "util/progress.hpp"

namespace c2p {
namespace {

const char *kSettings[] = {"shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size",
                           "max_parallel_maintenance_workers", "max_parallel_workers_per_gather", "hnsw.ef_search",
                           "hnsw.iterative_scan", "ivfflat.probes", "random_page_cost", "jit"};

int64_t bytes_of(const nlohmann::ordered_json &settings, const char *name) {
    if (!settings.contains(name)) return -1;
    const auto &s = settings[name];
    if (s.contains("bytes") && s["bytes"].is_number()) return s["bytes"].get<int64_t>();
    return -1;
}
int64_t int_of(const nlohmann::ordered_json &settings, const char *name) {
    if (!settings.contains(name)) return -1;
    try {
        return std::stoll(settings[name]["value"].get<std::string>());
    } catch (...) {
        return -1;
    }
}

} // namespace

nlohmann::ordered_json settings_advice(const nlohmann::ordered_json &st, const std::string &pgv,
                                       const EnvironmentFacts &f) {
    nlohmann::ordered_json advice = nlohmann::ordered_json::array();
    auto add = [&](const std::string &setting, const std::string &text) {
        advice.push_back({{"setting", setting}, {"advice", text}});
    };
    const int64_t MB = 1 << 20, GB = int64_t(1) << 30;
    int64_t sb = bytes_of(st, "shared_buffers");
    if (sb >= 0) {
        if (f.vector_index_bytes > 0 && sb < int64_t(f.vector_index_bytes))
            add("shared_buffers", fmt::format("the vector indexes ({}) do not fit in shared_buffers ({}): searches will "
                                              "read index pages from the OS cache or disk; set it to about 25% of RAM "
                                              "and at least the index size",
                                              human_bytes(double(f.vector_index_bytes)), human_bytes(double(sb))));
        else if (sb <= 128 * MB)
            add("shared_buffers", fmt::format("{} is PostgreSQL's default; about 25% of RAM is usual for a vector "
                                              "database", human_bytes(double(sb))));
    }
    int64_t wm = bytes_of(st, "work_mem");
    if (wm >= 0 && wm < 16 * MB)
        add("work_mem", fmt::format("{} is low for exact searches and re-ranking sorts; 32-64MB per connection is "
                                    "typical", human_bytes(double(wm))));
    int64_t mwm = bytes_of(st, "maintenance_work_mem");
    if (mwm >= 0) {
        int64_t want = std::max<int64_t>(GB, int64_t(f.vector_index_bytes));
        if (mwm < want)
            add("maintenance_work_mem",
                fmt::format("{}: HNSW builds are several times faster when the graph fits in maintenance_work_mem "
                            "(indexes here: {}); use at least {} for builds (migrate --maintenance-work-mem, in "
                            "Docker also shm_size)",
                            human_bytes(double(mwm)), human_bytes(double(f.vector_index_bytes)), human_bytes(double(want))));
    }
    int64_t ecs = bytes_of(st, "effective_cache_size");
    if (ecs >= 0 && (ecs < 4 * GB || (sb > 0 && ecs < 2 * sb)))
        add("effective_cache_size", fmt::format("{}: set it to 50-75% of RAM so the planner costs index scans "
                                                "realistically", human_bytes(double(ecs))));
    int64_t pmw = int_of(st, "max_parallel_maintenance_workers");
    if (pmw >= 0 && pmw < 2)
        add("max_parallel_maintenance_workers", fmt::format("{}: pgvector (≥ 0.6) builds HNSW indexes in parallel with "
                                                            "these workers; 2-7 is typical", pmw));
    int64_t ef = int_of(st, "hnsw.ef_search");
    if (ef >= 0) {
        if (ef < f.k)
            add("hnsw.ef_search", fmt::format("{} is below k = {}: an HNSW scan returns at most ef_search rows", ef, f.k));
        else if (ef < 100)
            add("hnsw.ef_search", fmt::format("{} (pgvector's default is 40); Chroma searched with ef_search 100: "
                                              "ALTER DATABASE ... SET hnsw.ef_search = 100 gives the application "
                                              "comparable recall",
                                              ef));
    }
    if (pgv.empty()) add("pgvector", "the vector extension is not installed in this database");
    else if (auto p = pgvector_policy(pgv); !(p.parallel_build_safe && p.vacuum_safe && p.iterative_scan))
        add("pgvector", p.verdict + "; upgrade to 0.8.3 or later");
    return advice;
}

nlohmann::ordered_json collect_environment(PgConnection &pg, const EnvironmentFacts &f) {
    nlohmann::ordered_json env;
    env["server"] = pg.describe();
    env["server_version"] = pg.scalar("SHOW server_version").value_or("?");
    env["server_version_num"] = pg.server_version();
    auto pgv = pg.scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'");
    env["pgvector_version"] = pgv ? nlohmann::ordered_json(*pgv) : nlohmann::ordered_json();
    auto avail = pg.scalar("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'");
    env["pgvector_available"] = avail ? nlohmann::ordered_json(*avail) : nlohmann::ordered_json();
    if (pgv) env["pgvector_policy"] = pgvector_policy(*pgv).to_json();
    // pgvector's settings exist once its library is loaded in this session.
    if (pgv) pg.exec("SELECT '[1]'::vector");
    nlohmann::ordered_json settings = nlohmann::ordered_json::object();
    for (const char *name : kSettings) {
        auto r = pg.exec_params("SELECT current_setting($1, true), (SELECT unit FROM pg_settings WHERE name = $1)",
                                {std::string(name)});
        if (r.rows() == 0 || r.is_null(0, 0)) continue;
        nlohmann::ordered_json s = {{"value", r.text(0, 0)}};
        if (!r.is_null(0, 1)) {
            std::string unit = r.text(0, 1);
            if (unit == "8kB" || unit == "kB" || unit == "MB" || unit == "B") {
                auto b = pg.scalar("SELECT pg_size_bytes(current_setting($1))", {std::string(name)});
                if (b) s["bytes"] = std::stoll(*b);
            }
        }
        settings[name] = s;
    }
    env["settings"] = settings;
    if (f.vector_index_bytes > 0) env["vector_index_bytes"] = f.vector_index_bytes;
    env["advice"] = settings_advice(settings, pgv.value_or(""), f);
    return env;
}

} // namespace c2p
