// What verify found, as typed fields: run_verify() fills it, the command and the report read it, and
// to_json() is the one place that names the keys of report.json and `--json verify`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "target/target_layout.hpp"
#include "util/process_resources.hpp"
#include "verify/bench.hpp"
#include "verify/completeness.hpp"
#include "verify/schema_check.hpp"
#include "verify/search_result.hpp"

namespace c2p {

struct CompletenessCounts {
    uint64_t source_records = 0, target_records = 0, missing = 0, extra = 0, different = 0;
    bool digest_parity = false;
    nlohmann::ordered_json to_json() const;
};

struct CollectionVerify {
    std::string name, id, space, layout;
    std::optional<uint32_t> dimension;
    std::optional<TargetCollection> located; // its rows as the layout locates them; none: not migrated
    bool registered_without_table = false;   // langchain: a collection row, no embedding table yet
    std::optional<SchemaCheck> schema_check;
    std::optional<CompletenessResult> completeness; // every record compared
    std::optional<CompletenessCounts> unread;       // not migrated: the counts without a comparison
    std::optional<SearchCheckResult> search;
    std::vector<std::string> failures, warnings;

    bool ok() const { return failures.empty(); }
    CompletenessCounts counts() const; // zero when the table has no vector column to compare
    std::optional<double> recall_at_k() const { return search ? search->recall_at_k : std::nullopt; }
    nlohmann::ordered_json to_json() const;
};

// A native registry row as the report lists it.
struct RegistrySummary {
    std::string name, migrated_at, index_method, embedding_type, source;
    std::optional<int64_t> record_count;
};

struct VerifyTotals {
    uint64_t collections = 0, source_records = 0, target_records = 0, missing = 0, extra = 0, different = 0;
};

struct VerifyReport {
    std::string tool_version, generated_at;
    std::vector<std::string> failures, warnings, notes; // notes: how something was compared, not a problem
    std::string source_description;
    nlohmann::ordered_json source_details = nlohmann::ordered_json::object();
    std::string target_server, schema, layout;
    bool langchain_id_prefix = false;
    size_t queries = 0, max_listed = 0;
    int k = 0, ef_search = 0; // 0: the database's default
    double min_recall = 0;
    std::vector<CollectionVerify> collections;
    std::vector<RegistrySummary> registry;
    std::optional<std::string> layout_note;
    nlohmann::ordered_json runs;           // chroma2pg_runs rows, newest first; null when there is no such table
    std::optional<std::string> runs_note;  // why there are no run figures
    nlohmann::ordered_json environment;    // collect_environment()
    double seconds = 0, read_seconds = 0;
    ProcessResources resources;
    std::optional<BenchResult> bench;      // verify --bench
    std::vector<std::string> report_files; // once written

    bool passed() const { return failures.empty(); }
    VerifyTotals totals() const; // the collections' counts summed
    double records_per_second() const { return read_seconds > 0 ? double(totals().source_records) / read_seconds : 0; }
    nlohmann::ordered_json to_json() const;
};

} // namespace c2p
