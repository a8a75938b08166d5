#include "target/checkpoint_store.hpp"

#include <chrono>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <unistd.h>

#include "target/native_layout.hpp"
#include "target/pg_transaction.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {

using json = nlohmann::ordered_json;

std::vector<SourceRange> plan_ranges(uint64_t records, int jobs, uint64_t min_range) {
    uint64_t k = 1;
    if (jobs > 1 && min_range > 0) k = std::max<uint64_t>(1, std::min<uint64_t>(uint64_t(jobs), records / min_range));
    std::vector<SourceRange> out;
    for (uint64_t i = 0; i < k; ++i)
        out.push_back({records * i / k, i + 1 == k ? kOpenEnd : records * (i + 1) / k});
    return out;
}

std::vector<std::string> run_option_differences(const json &before, const json &now) {
    std::vector<std::string> out;
    for (auto it = now.begin(); it != now.end(); ++it) {
        json was = before.contains(it.key()) ? before[it.key()] : json(nullptr);
        if (was != it.value()) out.push_back(fmt::format("{}: {} then, {} now", it.key(), was.dump(), it.value().dump()));
    }
    for (auto it = before.begin(); it != before.end(); ++it)
        if (!now.contains(it.key())) out.push_back(fmt::format("{}: {} then, absent now", it.key(), it.value().dump()));
    return out;
}

uint64_t LoadRow::committed_records() const {
    uint64_t n = 0;
    for (auto &p : progress) n += p.records;
    return n;
}
uint64_t LoadRow::committed_rejected() const {
    uint64_t n = 0;
    for (auto &p : progress) n += p.rejected;
    return n;
}
bool LoadRow::all_done() const {
    for (auto &p : progress)
        if (!p.done) return false;
    return true;
}

std::string CheckpointStore::t(const char *name) const { return qualified(schema_, name); }

void CheckpointStore::ensure_tables(PgConnection &pg) const {
    pg.exec("CREATE TABLE IF NOT EXISTS " + t("chroma2pg_runs") +
            " (run_id text PRIMARY KEY, status text NOT NULL, options jsonb NOT NULL, started_at timestamptz NOT NULL"
            " DEFAULT now(), finished_at timestamptz, client_pid int)");
    pg.exec("CREATE TABLE IF NOT EXISTS " + t("chroma2pg_loads") +
            " (collection_id text PRIMARY KEY, run_id text NOT NULL, name text NOT NULL, table_name text NOT NULL,"
            " staging_table text NOT NULL, source_count bigint NOT NULL, ranges jsonb NOT NULL, status text NOT NULL,"
            " started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz)");
    pg.exec("CREATE TABLE IF NOT EXISTS " + t("chroma2pg_checkpoints") +
            " (collection_id text NOT NULL, run_id text NOT NULL, range_no int NOT NULL, range_start bigint NOT NULL,"
            " range_end bigint NOT NULL, records bigint NOT NULL, rejected bigint NOT NULL, range_done boolean NOT NULL,"
            " committed_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (collection_id, range_no, range_start))");
}

void CheckpointStore::lock(PgConnection &pg, int wait_seconds) const {
    std::string key = "chroma2pg migrate " + schema_;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
    bool logged = false;
    for (;;) {
        if (pg.scalar("SELECT pg_try_advisory_lock(hashtext($1))", {key}) == "t") return;
        if (std::chrono::steady_clock::now() >= deadline)
            throw UsageError(fmt::format("another chroma2pg migrate is running against schema '{}' of {} (it holds the "
                                         "migration lock); wait for it to finish, or stop it",
                                         schema_, pg.describe()));
        if (!logged)
            log::info("lock_wait", fmt::format("schema '{}': waiting for another migrate session to end (a killed run's "
                                               "server session can take a moment)", schema_));
        logged = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
}

std::optional<RunRow> CheckpointStore::unfinished_run(PgConnection &pg) const {
    auto r = pg.exec("SELECT run_id, status, started_at::text, options::text FROM " + t("chroma2pg_runs") +
                     " WHERE status = 'running' ORDER BY started_at DESC LIMIT 1");
    if (r.rows() == 0) return std::nullopt;
    return RunRow{r.text(0, 0), r.text(0, 1), r.text(0, 2), json::parse(r.text(0, 3))};
}

std::string CheckpointStore::start_run(PgConnection &pg, const json &options) const {
    std::random_device rd;
    std::string id = fmt::format("{:08x}{:08x}", rd(), rd());
    pg.exec_params("INSERT INTO " + t("chroma2pg_runs") + " (run_id, status, options, client_pid) VALUES ($1, 'running', $2::jsonb, $3::int)",
                   {id, options.dump(), std::to_string(::getpid())});
    return id;
}

void CheckpointStore::finish_run(PgConnection &pg, const std::string &run_id, const std::string &status) const {
    pg.exec_params("UPDATE " + t("chroma2pg_runs") + " SET status = $2, finished_at = now() WHERE run_id = $1", {run_id, status});
}

namespace {
std::vector<SourceRange> ranges_from_json(const std::string &text) {
    std::vector<SourceRange> out;
    for (auto &r : json::parse(text)) out.push_back({r[0].get<uint64_t>(), r[1].is_null() ? kOpenEnd : r[1].get<uint64_t>()});
    return out;
}
std::string ranges_to_json(const std::vector<SourceRange> &rs) {
    json a = json::array();
    for (auto &r : rs) a.push_back({r.start, r.end == kOpenEnd ? json(nullptr) : json(r.end)});
    return a.dump();
}
} // namespace

std::vector<LoadRow> CheckpointStore::loads_of_run(PgConnection &pg, const std::string &run_id) const {
    auto r = pg.exec_params("SELECT collection_id FROM " + t("chroma2pg_loads") + " WHERE run_id = $1 ORDER BY started_at", {run_id});
    std::vector<LoadRow> out;
    for (int i = 0; i < r.rows(); ++i)
        if (auto l = load(pg, r.text(i, 0))) out.push_back(std::move(*l));
    return out;
}

std::optional<LoadRow> CheckpointStore::load(PgConnection &pg, const std::string &collection_id) const {
    auto r = pg.exec_params("SELECT collection_id, run_id, name, table_name, staging_table, status, source_count, ranges::text FROM " +
                                t("chroma2pg_loads") + " WHERE collection_id = $1",
                            {collection_id});
    if (r.rows() == 0) return std::nullopt;
    LoadRow l{r.text(0, 0), r.text(0, 1), r.text(0, 2), r.text(0, 3), r.text(0, 4), r.text(0, 5),
              std::stoull(r.text(0, 6)), ranges_from_json(r.text(0, 7)), {}};
    for (size_t i = 0; i < l.ranges.size(); ++i) l.progress.push_back(range_progress(pg, collection_id, int(i), l.ranges[i]));
    return l;
}

void CheckpointStore::begin_load(PgConnection &pg, const LoadRow &l, const std::string &create_staging_sql) const {
    in_transaction(pg, [&] {
        pg.exec("DROP TABLE IF EXISTS " + qualified(schema_, l.staging_table));
        pg.exec(create_staging_sql);
        pg.exec_params("DELETE FROM " + t("chroma2pg_checkpoints") + " WHERE collection_id = $1", {l.collection_id});
        pg.exec_params("INSERT INTO " + t("chroma2pg_loads") +
                           " (collection_id, run_id, name, table_name, staging_table, source_count, ranges, status)"
                           " VALUES ($1, $2, $3, $4, $5, $6::bigint, $7::jsonb, 'loading') ON CONFLICT (collection_id) DO UPDATE"
                           " SET run_id = EXCLUDED.run_id, name = EXCLUDED.name, table_name = EXCLUDED.table_name,"
                           " staging_table = EXCLUDED.staging_table, source_count = EXCLUDED.source_count,"
                           " ranges = EXCLUDED.ranges, status = 'loading', started_at = now(), finished_at = NULL",
                       {l.collection_id, l.run_id, l.name, l.table_name, l.staging_table, std::to_string(l.source_count),
                        ranges_to_json(l.ranges)});
    });
}

void CheckpointStore::discard_load(PgConnection &pg, const LoadRow &l) const {
    pg.exec("DROP TABLE IF EXISTS " + qualified(schema_, l.staging_table));
    pg.exec_params("DELETE FROM " + t("chroma2pg_checkpoints") + " WHERE collection_id = $1", {l.collection_id});
    pg.exec_params("DELETE FROM " + t("chroma2pg_loads") + " WHERE collection_id = $1 AND status <> 'done'", {l.collection_id});
}

RangeProgress CheckpointStore::range_progress(PgConnection &pg, const std::string &collection_id, int range_no,
                                              const SourceRange &rg) const {
    auto r = pg.exec_params("SELECT coalesce(max(range_end), $3::bigint), coalesce(sum(records), 0), coalesce(sum(rejected), 0),"
                            " coalesce(bool_or(range_done), false) FROM " +
                                t("chroma2pg_checkpoints") + " WHERE collection_id = $1 AND range_no = $2::int",
                            {collection_id, std::to_string(range_no), std::to_string(rg.start)});
    return RangeProgress{std::stoull(r.text(0, 0)), std::stoull(r.text(0, 1)), std::stoull(r.text(0, 2)), r.text(0, 3) == "t"};
}

void CheckpointStore::record_chunk(PgConnection &pg, const std::string &collection_id, const std::string &run_id, int range_no,
                                   uint64_t start, uint64_t end, uint64_t records, uint64_t rejected, bool range_done) const {
    pg.exec_params("INSERT INTO " + t("chroma2pg_checkpoints") +
                       " (collection_id, run_id, range_no, range_start, range_end, records, rejected, range_done)"
                       " VALUES ($1, $2, $3::int, $4::bigint, $5::bigint, $6::bigint, $7::bigint, $8::boolean)",
                   {collection_id, run_id, std::to_string(range_no), std::to_string(start), std::to_string(end),
                    std::to_string(records), std::to_string(rejected), std::string(range_done ? "true" : "false")});
}

void CheckpointStore::mark_done(PgConnection &pg, const std::string &collection_id) const {
    pg.exec_params("DELETE FROM " + t("chroma2pg_checkpoints") + " WHERE collection_id = $1", {collection_id});
    pg.exec_params("UPDATE " + t("chroma2pg_loads") + " SET status = 'done', finished_at = now() WHERE collection_id = $1",
                   {collection_id});
}

} // namespace c2p
