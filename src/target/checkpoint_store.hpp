// Migration progress kept in the target itself, so a crash loses at most one uncommitted chunk:
//   chroma2pg_runs         one row per `migrate` run: its options (a resume must use the same), status
//   chroma2pg_loads        one row per collection being (or last) loaded: staging table, source count,
//                          the range plan, status loading | done
//   chroma2pg_checkpoints  one row per committed chunk: range number, source offsets [range_start,
//                          range_end), rows written, rows rejected, whether the range is complete.
//                          Written in the same transaction as the chunk's rows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "target/pg_connection.hpp"

namespace c2p {

// A slice of the source's read order; end == kOpenEnd reads to the end (the last range always does,
// so records added after the plan are not lost).
constexpr uint64_t kOpenEnd = UINT64_MAX;
struct SourceRange {
    uint64_t start = 0, end = kOpenEnd;
};
// Splits `records` into up to `jobs` ranges of at least `min_range` records; the last is open-ended.
std::vector<SourceRange> plan_ranges(uint64_t records, int jobs, uint64_t min_range);

// Options a resumed run must share with the interrupted one; empty when equal, else one line per difference.
std::vector<std::string> run_option_differences(const nlohmann::ordered_json &before, const nlohmann::ordered_json &now);

struct RunRow {
    std::string run_id, status, started_at;
    nlohmann::ordered_json options;
};

struct RangeProgress {
    uint64_t next = 0;     // next source offset to read
    uint64_t records = 0;  // rows committed
    uint64_t rejected = 0; // rows rejected in committed chunks
    bool done = false;
};

struct LoadRow {
    std::string collection_id, run_id, name, table_name, staging_table, status;
    uint64_t source_count = 0;
    std::vector<SourceRange> ranges;
    std::vector<RangeProgress> progress; // per range, from the checkpoints
    uint64_t committed_records() const;
    uint64_t committed_rejected() const;
    bool all_done() const;
    // Indexed and swapped in (or published) by run `run`: a resume of that run leaves it as it is.
    bool finished_by(const std::string &run) const { return run_id == run && status == "done"; }
};

class CheckpointStore {
public:
    explicit CheckpointStore(std::string schema) : schema_(std::move(schema)) {}
    void ensure_tables(PgConnection &pg) const;

    // Holds a session advisory lock for the schema so two runs never interleave; waits up to
    // `wait_seconds` for a killed run's backend to go away. Throws UsageError when still held.
    void lock(PgConnection &pg, int wait_seconds) const;

    std::optional<RunRow> unfinished_run(PgConnection &pg) const;
    std::string start_run(PgConnection &pg, const nlohmann::ordered_json &options) const;
    void finish_run(PgConnection &pg, const std::string &run_id, const std::string &status) const;

    std::optional<LoadRow> load(PgConnection &pg, const std::string &collection_id) const;
    std::vector<LoadRow> loads_of_run(PgConnection &pg, const std::string &run_id) const;
    // Creates the staging table and the load row (replacing any earlier one), in one transaction.
    void begin_load(PgConnection &pg, const LoadRow &l, const std::string &create_staging_sql) const;
    // Drops the staging table and forgets the load's checkpoints.
    void discard_load(PgConnection &pg, const LoadRow &l) const;
    RangeProgress range_progress(PgConnection &pg, const std::string &collection_id, int range_no,
                                 const SourceRange &r) const;
    // Inside the chunk's transaction.
    void record_chunk(PgConnection &pg, const std::string &collection_id, const std::string &run_id, int range_no,
                      uint64_t start, uint64_t end, uint64_t records, uint64_t rejected, bool range_done) const;
    // Inside the swap transaction: the load is complete, its checkpoints are no longer needed.
    void mark_done(PgConnection &pg, const std::string &collection_id) const;

    const std::string &schema() const { return schema_; }

private:
    std::string t(const char *name) const;
    std::string schema_;
};

} // namespace c2p
