// The session of a vector index build: parallel workers as the pgvector version allows, and a second
// session that reports the build's progress (pg_stat_progress_create_index) while it runs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"
#include "target/search_settings.hpp"

namespace c2p {

// The version policy for the builds of this run: below 0.8.2 HNSW builds without parallel workers
// (idx.parallel_build = false); below 0.8.3 a warning about the vacuum fix. Logs what it decided and why.
PgvectorPolicy apply_pgvector_policy(const std::string &extversion, IndexOptions &idx);
// The same decision without the log: what the policy leaves of `idx` (the dry run plans with it).
void restrict_to_policy(const PgvectorPolicy &p, IndexOptions &idx);

// How many collections' indexes migrate builds at once, each on its own session, while the next
// collection loads. `requested`: --index-builds, 0 for the choice below. Where pgvector builds HNSW in
// parallel, one build at a time with the server's parallel workers is fastest (they scale with the
// cores; BENCHMARKS.md "Many collections"). Where the version policy turns parallel HNSW builds off,
// builds side by side use those cores safely instead: as many as a parallel build's processes would be
// (the server's max_parallel_maintenance_workers + 1), no more than the server's cores where they are
// known (`local_cores`: a server on this host; 0 when not), nor than the collections left to build.
struct IndexBuilds {
    int builds = 1;
    std::string why; // empty for one build at a time, as chosen by default
};
IndexBuilds choose_index_builds(int requested, const IndexOptions &idx, const std::string &pgvector_version,
                                int server_parallel_workers, size_t collections, int local_cores = 0);

// SET LOCAL (inside the build's transaction) maintenance_work_mem and max_parallel_maintenance_workers:
// jobs - 1 workers when the version builds HNSW safely in parallel, none below pgvector 0.8.2.
void set_index_build_session(PgConnection &pg, const IndexOptions &o, int jobs);

// Polls pg_stat_progress_create_index for the backend `pid` from its own connection every `period_s`
// and logs phase, tuples done of total and an ETA; stops (and joins) on destruction. Never throws:
// without a second session there is simply no progress line.
class IndexBuildWatch {
public:
    // rows: the table's, the total when the view has none (pgvector's HNSW build counts tuples_done only).
    // period_s: progress_interval() when not given.
    IndexBuildWatch(std::string target, int pid, std::string collection, uint64_t rows, double period_s = 0);
    ~IndexBuildWatch();
    IndexBuildWatch(const IndexBuildWatch &) = delete;
    IndexBuildWatch &operator=(const IndexBuildWatch &) = delete;
    int reports() const { return reports_.load(); }

private:
    void run();
    std::string target_, collection_;
    int pid_;
    uint64_t rows_;
    double period_s_;
    std::atomic<int> reports_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

// The memory pgvector's HNSW build takes to hold the whole graph: per element its vector (the index's
// type: halfvec above 2,000 dimensions), its neighbour lists (2m on layer 0, m on the few upper layers)
// and its bookkeeping. A build whose graph fits in maintenance_work_mem is several times faster.
uint64_t hnsw_build_memory(uint64_t rows, uint32_t dim, bool halfvec, int m);

// What an index build needs to size its session: the table's rows, the indexed type's dimension.
struct IndexBuildShape {
    uint64_t rows = 0;
    uint32_t dim = 0;
    bool halfvec = false; // the index is on halfvec (the column, or the cast above 2,000 dimensions)
};

// Runs a vector index's CREATE INDEX on pg for `collection`, inside the caller's transaction, logging it
// and, when `target` (the connection string) is given, its progress from a second session. Unless
// o.maintenance_work_mem was given (set_index_build_session sets it), an HNSW build gets
// maintenance_work_mem for its graph (SET LOCAL, up to o.max_maintenance_work_mem, never below the
// server's), and says what it chose. A parallel
// build the server cannot give shared memory to (/dev/shm too small, e.g. Docker's 64 MB) is run
// again without parallel workers, with a warning naming the fix.
void build_vector_index(PgConnection &pg, const std::string &target, const std::string &collection,
                        const IndexBuildShape &shape, const IndexOptions &o, const std::string &sql);

// "phase, 12,000 of 50,000 tuples (24%), ETA 40 s" from one row of the progress view.
std::string describe_index_progress(const std::string &phase, long long done, long long total, double elapsed_s);

} // namespace c2p
