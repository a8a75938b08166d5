// The end-of-run summary shared by migrate, backup, restore and sync: per collection the records
// read, written and rejected, the duration and the rates; the totals; as a table on stdout, as the
// --json result, and in the --summary file.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
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

// One collection's row of the summary: its name and status, the command's own fields, and what this
// run read and wrote of it.
struct SummaryRow {
    std::string name;
    std::string status;                                           // empty: none shown (backup, restore)
    nlohmann::ordered_json head = nlohmann::ordered_json::object(); // the command's fields before the figures
    std::optional<RunFigures> figures; // none: this run did not load the collection (sync: not migrated)
    nlohmann::ordered_json tail = nlohmann::ordered_json::object(); // the command's fields after them

    // name, status, head, then records_read, records_written, rejected, seconds, records_per_second
    // (records read per second: the run's throughput, also for a sync that writes little), mb_per_second,
    // bytes; then tail.
    nlohmann::ordered_json to_json() const;
    // The command's field `key` (head or tail) for an extra column; nullptr when it has none.
    const nlohmann::ordered_json *field(const std::string &key) const;
};

// A run's summary: the collections' rows and their totals.
struct RunSummary {
    std::vector<SummaryRow> rows;
    RunFigures totals;                                                      // set by close()
    nlohmann::ordered_json totals_extra = nlohmann::ordered_json::object(); // the command's own totals

    // Sums the rows' figures; rates over the wall time since `run_start` (collections may run in parallel).
    void close(std::chrono::steady_clock::time_point run_start);
    nlohmann::ordered_json rows_json() const;
    nlohmann::ordered_json totals_json() const; // {"collections": n, the figures, then totals_extra}
};

// --summary FILE (env CHROMA2PG_SUMMARY).
CLI::Option *add_summary_option(CLI::App &cmd, std::string &path);

// Writes `doc` to `path` atomically: a temporary file beside it, fsync, rename. EnvError on failure.
void write_json_file_atomically(const std::string &path, const nlohmann::ordered_json &doc);

struct SummaryColumn {
    std::string header, key; // a per-collection field (SummaryRow::field) shown after the collection name
};
// The per-collection table and the totals, on stdout.
void print_run_table(const RunSummary &run, const std::vector<SummaryColumn> &extra = {});
// Sets result["collections"] and result["totals"] from `run`; writes the summary file (when asked),
// then prints the result: JSON with --json, else the table unless --quiet.
void report_run(nlohmann::ordered_json result, const RunSummary &run, const std::string &summary_path,
                const std::vector<SummaryColumn> &extra = {});

} // namespace c2p
