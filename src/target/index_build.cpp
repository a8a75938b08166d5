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
    restrict_to_policy(p, idx);
    for (const auto &problem : p.problems)
        log::warn("pgvector_version", fmt::format("pgvector {}: {}", extversion, problem),
                  {{"pgvector_version", extversion}});
    return p;
}

void restrict_to_policy(const PgvectorPolicy &p, IndexOptions &idx) {
    if (!p.parallel_build_safe && idx.method == IndexMethod::hnsw) idx.parallel_build = false;
}

IndexBuilds choose_index_builds(int requested, const IndexOptions &idx, const std::string &pgvector_version,
                                int server_parallel_workers, size_t collections, int local_cores) {
    const int most = int(std::max<size_t>(1, collections));
    if (requested > 0) {
        int n = std::min(requested, most);
        return {n, n > 1 ? fmt::format("--index-builds {}", requested) : ""};
    }
    if (idx.method != IndexMethod::hnsw || idx.parallel_build || server_parallel_workers < 1 || most < 2) return {};
    // More builds than cores only take turns (BENCHMARKS.md: 3 side by side on 2 cores lose to 2).
    const int processes = local_cores > 0 ? std::min(server_parallel_workers + 1, local_cores) : server_parallel_workers + 1;
    int n = std::min(processes, most);
    if (n < 2) return {};
    return {n, fmt::format("pgvector {} builds HNSW without parallel workers, so {} collections build side by side "
                           "(the server's max_parallel_maintenance_workers {} + 1{})",
                           pgvector_version, n, server_parallel_workers,
                           local_cores > 0 ? fmt::format(", at most its {} cores", local_cores) : "")};
}

void set_index_build_session(PgConnection &pg, const IndexOptions &o, int jobs) {
    if (!o.maintenance_work_mem.empty()) // else the vector index build sizes its own (build_vector_index)
        pg.exec("SET LOCAL maintenance_work_mem = " + quote_literal(o.maintenance_work_mem));
    if (!o.parallel_build || o.concurrent_builds > 1) {
        // pgvector issue 959: a parallel HNSW build can overflow a buffer before 0.8.2. Builds running
        // side by side share the cores already: workers of their own would only oversubscribe them.
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

uint64_t hnsw_build_memory(uint64_t rows, uint32_t dim, bool halfvec, int m) {
    const uint64_t value = 8 + (halfvec ? 2ull : 4ull) * dim; // the varlena copy of the vector
    const uint64_t candidate = 16;                             // a neighbour: element pointer + distance
    const uint64_t mm = uint64_t(std::max(m, 2));
    // Layer 0 holds 2m neighbours; a fraction 1/(m-1) of the elements have upper layers of m each.
    const uint64_t neighbours = candidate * (2 * mm + mm / (mm - 1) + 1);
    const uint64_t element = 160; // the element, its neighbour arrays' headers, allocator overhead
    return rows * (value + neighbours + element);
}

namespace {

// maintenance_work_mem for this build, set with SET LOCAL when it should change; says why.
void size_build_memory(PgConnection &pg, const std::string &collection, const IndexBuildShape &shape,
                       const IndexOptions &o) {
    if (!o.maintenance_work_mem.empty()) return; // the user's, set by set_index_build_session
    const uint64_t graph = hnsw_build_memory(shape.rows, shape.dim, shape.halfvec, o.hnsw_m);
    // Builds side by side share the cap: together they never take more than one build would.
    auto r = pg.exec_params("SELECT (SELECT setting::bigint * 1024 FROM pg_settings WHERE name = "
                            "'maintenance_work_mem'), pg_size_bytes($1) / $2::int",
                            {o.max_maintenance_work_mem, std::to_string(std::max(1, o.concurrent_builds))});
    const uint64_t have = std::stoull(r.text(0, 0)), cap = std::stoull(r.text(0, 1));
    const std::string what = fmt::format("the graph of {} × {} needs about {}", shape.rows, shape.dim,
                                         human_bytes(double(graph)));
    if (have >= graph) return; // the server's setting holds it already
    const uint64_t set = std::min(graph, cap);
    if (set > have) pg.exec(fmt::format("SET LOCAL maintenance_work_mem = '{}kB'", (set + 1023) / 1024));
    if (graph <= cap)
        log::info("index_memory",
                  fmt::format("collection '{}': maintenance_work_mem {} for its HNSW build ({}; the server's is {})",
                              collection, human_bytes(double(set)), what, human_bytes(double(have))),
                  {{"collection", collection}, {"maintenance_work_mem", set}, {"graph_bytes", graph}});
    else
        log::warn("index_memory",
                  fmt::format("collection '{}': {}, more than --max-maintenance-work-mem {}{}: the build runs with {} "
                              "and slows down once the graph outgrows it; raise --max-maintenance-work-mem (the "
                              "server must have the memory) to build faster",
                              collection, what, o.max_maintenance_work_mem,
                              o.concurrent_builds > 1 ? fmt::format(" shared by {} builds at once", o.concurrent_builds) : "",
                              human_bytes(double(std::max(set, have)))),
                  {{"collection", collection}, {"maintenance_work_mem", std::max(set, have)}, {"graph_bytes", graph}});
}

bool is_shared_memory_shortage(const std::string &msg) {
    return msg.find("shared memory segment") != std::string::npos;
}

} // namespace

void build_vector_index(PgConnection &pg, const std::string &target, const std::string &collection,
                        const IndexBuildShape &shape, const IndexOptions &o, const std::string &sql) {
    if (sql.find("USING hnsw") != std::string::npos) size_build_memory(pg, collection, shape, o);
    log::info("index", fmt::format("collection '{}': building the vector index", collection),
              {{"collection", collection}, {"sql", sql}});
    auto build = [&] {
        std::optional<IndexBuildWatch> watch;
        if (!target.empty()) watch.emplace(target, PQbackendPID(pg.raw()), collection, shape.rows);
        pg.exec(sql);
    };
    pg.exec("SAVEPOINT c2p_index_build");
    try {
        build();
    } catch (const PgRefused &e) {
        // A parallel build keeps the graph in dynamic shared memory (/dev/shm), which may be smaller than
        // maintenance_work_mem; a build without workers keeps it in the backend's own memory.
        if (!is_shared_memory_shortage(e.what())) throw;
        log::warn("index_shared_memory",
                  fmt::format("collection '{}': the server could not give the parallel index build its shared memory "
                              "({}); building again without parallel workers (slower). To build in parallel, give the "
                              "server more /dev/shm (Docker: shm_size) or lower --maintenance-work-mem",
                              collection, e.what()),
                  {{"collection", collection}});
        pg.exec("ROLLBACK TO SAVEPOINT c2p_index_build");
        pg.exec("SET LOCAL max_parallel_maintenance_workers = 0");
        build();
    }
    pg.exec("RELEASE SAVEPOINT c2p_index_build");
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
