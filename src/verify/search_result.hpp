// What the search check found for one collection, as typed fields: the verifier and the report read
// these, and to_json() is the one place that names the report.json keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace c2p {

// An optional figure in a report: its value, or null.
template <class T> nlohmann::ordered_json or_null(const std::optional<T> &v) {
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json();
}
// A recall or an overlap for people: three decimals, or "n/a" where it was not measured.
std::string fraction_text(const std::optional<double> &v);

// One hnsw.ef_search tried on the same queries, after a recall gap.
struct EfSearchTrial {
    int ef_search = 0;
    double recall = 0;
};

// pgvector's recall judged against Chroma's own on the same queries (and --min-recall when given).
struct RecallVerdict {
    double pgvector = 0;
    std::optional<double> chroma;
    double gap_noise = 0;
    std::string verdict; // PASS, WARN or FAIL
    // After a gap on an HNSW index: larger ef_search values on the same queries, and the first that closes it.
    std::vector<EfSearchTrial> ef_search_trials;
    std::optional<int> ef_search_closing_gap;
    nlohmann::ordered_json to_json() const;
};

// One metadata filter as the app writes it, run on the index path and (a Chroma server) through Chroma.
struct FilteredSearch {
    std::string kind, key, sql;
    nlohmann::ordered_json chroma_where; // Chroma's `where` for the same condition
    uint64_t matching_rows = 0;
    double selectivity = 0;
    uint64_t queries = 0, expected_rows = 0, fewest_rows = 0, queries_short = 0, queries_short_planner_choice = 0;
    double recall_at_k = 0;
    std::optional<double> chroma_recall_at_k, recall_gap_noise, overlap_pgvector_vs_chroma;
    std::optional<std::string> chroma_error;
    std::optional<RecallVerdict> recall_verdict;
    nlohmann::ordered_json to_json() const;
};

// The source's own answers to the sample queries (a Chroma server only).
struct SourceAgreement {
    bool queried = false;
    std::optional<std::string> reason, error; // why not queried
    double chroma_recall_vs_exact = 0;
    int chroma_ef_search = 0;
    std::optional<double> overlap_pgvector_index_vs_chroma;
    uint64_t distances_compared = 0, distances_disagree = 0;
    double max_abs_distance_difference = 0;
    std::string distance_convention;
    double tolerance_relative = 0, tolerance_absolute = 0;
    nlohmann::ordered_json disagreements = nlohmann::ordered_json::array(); // the first few, as examples
    nlohmann::ordered_json to_json() const;
};

// Whether the sample has near neighbours at all (uniform noise has none, and no index recalls well on it).
struct SampleStructure {
    double kth_neighbour_l2_median = 0, pairwise_l2_median = 0, contrast = 0;
    bool looks_unstructured = false;
};

struct SearchCheckResult {
    uint64_t queries = 0;
    int k = 0;
    std::optional<std::string> skipped; // no records to query: nothing below is measured
    double exact_ms_per_query = 0;
    std::string operator_sql;           // the index's distance operator
    std::optional<std::string> note;
    nlohmann::ordered_json session_settings = nlohmann::ordered_json::object(); // {name: {value, source}} as the server says
    std::optional<std::string> app_role;
    std::optional<int> ef_search_override;
    int ef_search = 0;
    std::string index_path;
    bool index_used = false;
    std::optional<std::string> ivfflat_probes;
    std::optional<double> indexed_ms_per_query;
    std::optional<double> recall_at_k, recall_min, recall_p10; // no recall without a vector index
    SampleStructure structure;
    std::vector<FilteredSearch> filtered;
    std::optional<std::string> filtered_note;
    std::optional<double> recall_gap_noise;
    SourceAgreement source;
    std::optional<RecallVerdict> recall_verdict;
    std::vector<std::string> failures, warnings;
    nlohmann::ordered_json to_json() const;
};

} // namespace c2p
