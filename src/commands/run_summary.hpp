// The end-of-run summary shared by migrate, backup, restore and sync: per collection the records
// read, written and rejected, the duration and the rates; the totals; as a table on stdout, as the
// --json result, and in the --summary file.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace c2p {

struct RunFigures {
    uint64_t read = 0, written = 0, rejected = 0;
    uint64_t bytes = 0; // for MB/s: payload read (migrate, sync, restore) or bytes written (backup)
    double seconds = 0;
};

// Sets records_read, records_written, rejected, seconds, records_per_second (records read per second:
// the run's throughput, also for a sync that writes little), mb_per_second, bytes on `row`.
void put_figures(nlohmann::ordered_json &row, const RunFigures &f);
// Totals over the rows' figures; rates over the wall time since `run_start` (collections may run in
// parallel).
RunFigures sum_figures(const nlohmann::ordered_json &rows, std::chrono::steady_clock::time_point run_start);

// --summary FILE (env CHROMA2PG_SUMMARY).
CLI::Option *add_summary_option(CLI::App &cmd, std::string &path);

// Writes `doc` to `path` atomically: a temporary file beside it, fsync, rename. EnvError on failure.
void write_json_file_atomically(const std::string &path, const nlohmann::ordered_json &doc);

struct SummaryColumn {
    std::string header, key; // a per-collection field shown after the collection name
};
// The per-collection table and totals of result["collections"] / result["totals"], on stdout.
void print_run_table(const nlohmann::ordered_json &result, const std::vector<SummaryColumn> &extra = {});
// Writes the summary file (when asked), then prints the result: JSON with --json, else the table
// unless --quiet.
void report_run(const nlohmann::ordered_json &result, const std::string &summary_path,
                const std::vector<SummaryColumn> &extra = {});

} // namespace c2p
