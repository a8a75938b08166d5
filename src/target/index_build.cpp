#include "target/index_build.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "util/log.hpp"
#include "util/progress.hpp"

namespace c2p {

PgvectorPolicy apply_pgvector_policy(const std::string &extversion, IndexOptions &idx) {
    PgvectorPolicy p = pgvector_policy(extversion);
    if (!p.parallel_build_safe && idx.method == IndexMethod::hnsw) idx.parallel_build = false;
    for (const auto &problem : p.problems)
        log::warn("pgvector_version", fmt::format("pgvector {}: {}", extversion, problem),
                  {{"pgvector_version", extversion}});
    return p;
}

void set_index_build_session(PgConnection &pg, const IndexOptions &o, int jobs) {
    if (!o.maintenance_work_mem.empty())
        pg.exec("SET LOCAL maintenance_work_mem = " + quote_literal(o.maintenance_work_mem));
    if (!o.parallel_build) {
        // pgvector issue 959: a parallel HNSW build can overflow a buffer before 0.8.2.
        pg.exec("SET LOCAL max_parallel_maintenance_workers = 0");
        return;
    }
    if (jobs > 1) {
        // The leader plus jobs - 1 workers (capped by max_worker_processes).
        int current = std::stoi(pg.scalar("SHOW max_parallel_maintenance_workers").value_or("0"));
        if (jobs - 1 > current) pg.exec(fmt::format("SET LOCAL max_parallel_maintenance_workers = {}", jobs - 1));
    }
}

std::string describe_index_progress(const std::string &phase, long long done, long long total, double elapsed_s) {
    std::string s = phase.empty() ? "starting" : phase;
    if (total > 0) {
        double frac = std::min(1.0, double(done) / double(total));
        s += fmt::format(", {} of {} tuples ({:.0f}%)", done, total, frac * 100);
        if (frac > 0.02 && frac < 1.0) s += fmt::format(", ETA {:.0f} s", elapsed_s * (1 - frac) / frac);
    }
    return s;
}

void build_vector_index(PgConnection &pg, const std::string &target, const std::string &collection, uint64_t rows,
                        const std::string &sql) {
    log::info("index", fmt::format("collection '{}': building the vector index", collection),
              {{"collection", collection}, {"sql", sql}});
    std::optional<IndexBuildWatch> watch;
    if (!target.empty()) watch.emplace(target, PQbackendPID(pg.raw()), collection, rows);
    pg.exec(sql);
}

IndexBuildWatch::IndexBuildWatch(std::string target, int pid, std::string collection, uint64_t rows, double period_s)
    : target_(std::move(target)), collection_(std::move(collection)), pid_(pid), rows_(rows),
      period_s_(period_s > 0 ? period_s : progress_interval()) {
    thread_ = std::thread([this] { run(); });
}

IndexBuildWatch::~IndexBuildWatch() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void IndexBuildWatch::run() {
    auto t0 = std::chrono::steady_clock::now();
    auto wait = [&] {
        std::unique_lock<std::mutex> lk(mu_);
        return !cv_.wait_for(lk, std::chrono::duration<double>(period_s_), [&] { return stop_; });
    };
    if (!wait()) return; // short builds: no second session at all
    try {
        PgConnection pg(target_);
        do {
            auto r = pg.exec_params("SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index "
                                    "WHERE pid = $1::int",
                                    {std::to_string(pid_)});
            if (r.rows() == 0) continue;
            double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            long long done = std::stoll(r.text(0, 1)), total = std::stoll(r.text(0, 2));
            if (total == 0 && done > 0) total = static_cast<long long>(rows_);
            std::string what = describe_index_progress(r.text(0, 0), done, total, el);
            ++reports_;
            log::info("index_progress",
                      fmt::format("collection '{}': vector index after {:.0f} s: {}", collection_, el, what),
                      {{"collection", collection_}, {"phase", r.text(0, 0)}, {"tuples_done", done},
                       {"tuples_total", total}, {"elapsed_seconds", el}});
        } while (wait());
    } catch (const std::exception &e) {
        log::debug("index_progress", fmt::format("collection '{}': no progress for the index build: {}", collection_, e.what()));
    }
}

} // namespace c2p
