#include "verify/search_result.hpp"

#include <fmt/format.h>

namespace c2p {
using json = nlohmann::ordered_json;

std::string fraction_text(const std::optional<double> &v) { return v ? fmt::format("{:.3f}", *v) : "n/a"; }

json RecallVerdict::to_json() const {
    json trials = json::array();
    for (const auto &t : ef_search_trials) trials.push_back({{"ef_search", t.ef_search}, {"recall", t.recall}});
    return {{"pgvector", pgvector},
            {"chroma", or_null(chroma)},
            {"gap_noise", gap_noise},
            {"verdict", verdict},
            {"ef_search_trials", trials},
            {"ef_search_closing_gap", or_null(ef_search_closing_gap)}};
}

json FilteredSearch::to_json() const {
    json j = {{"kind", kind},
              {"key", key},
              {"sql", sql},
              {"chroma_where", chroma_where},
              {"matching_rows", matching_rows},
              {"selectivity", selectivity},
              {"queries", queries},
              {"expected_rows", expected_rows},
              {"fewest_rows", fewest_rows},
              {"queries_short", queries_short},
              {"queries_short_planner_choice", queries_short_planner_choice},
              {"recall_at_k", recall_at_k}};
    if (chroma_recall_at_k) j["chroma_recall_at_k"] = *chroma_recall_at_k;
    if (recall_gap_noise) j["recall_gap_noise"] = *recall_gap_noise;
    if (overlap_pgvector_vs_chroma) j["overlap_pgvector_vs_chroma"] = *overlap_pgvector_vs_chroma;
    if (chroma_error) j["chroma_error"] = *chroma_error;
    if (recall_verdict) j["recall_verdict"] = recall_verdict->to_json();
    return j;
}

json SourceAgreement::to_json() const {
    json j = {{"queried", queried}};
    if (!queried) {
        if (reason) j["reason"] = *reason;
        if (error) j["error"] = *error;
        return j;
    }
    j["chroma_recall_vs_exact"] = chroma_recall_vs_exact;
    j["chroma_ef_search"] = chroma_ef_search;
    j["overlap_pgvector_index_vs_chroma"] = or_null(overlap_pgvector_index_vs_chroma);
    j["distances_compared"] = distances_compared;
    j["distances_disagree"] = distances_disagree;
    j["max_abs_distance_difference"] = max_abs_distance_difference;
    j["distance_convention"] = distance_convention;
    j["distance_tolerance"] = {{"relative", tolerance_relative}, {"absolute", tolerance_absolute}};
    j["disagreements"] = disagreements;
    return j;
}

json SearchCheckResult::to_json() const {
    json j = {{"queries", queries}, {"k", k}};
    if (skipped) {
        j["skipped"] = *skipped;
        j["failures"] = failures;
        j["warnings"] = warnings;
        return j;
    }
    j["exact_ms_per_query"] = exact_ms_per_query;
    j["operator"] = operator_sql;
    if (note) j["note"] = *note;
    j["session_settings"] = session_settings;
    if (app_role) j["app_role"] = *app_role;
    if (ef_search_override) j["ef_search_override"] = *ef_search_override;
    j["ef_search"] = ef_search;
    j["index_path"] = index_path;
    j["index_used"] = index_used;
    if (ivfflat_probes) j["ivfflat_probes"] = *ivfflat_probes;
    if (indexed_ms_per_query) j["indexed_ms_per_query"] = *indexed_ms_per_query;
    j["recall_at_k"] = or_null(recall_at_k);
    if (recall_min) j["recall_min"] = *recall_min;
    if (recall_p10) j["recall_p10"] = *recall_p10;
    j["structure"] = {{"kth_neighbour_l2_median", structure.kth_neighbour_l2_median},
                      {"pairwise_l2_median", structure.pairwise_l2_median},
                      {"contrast", structure.contrast},
                      {"looks_unstructured", structure.looks_unstructured}};
    j["filtered"] = json::array();
    for (const auto &f : filtered) j["filtered"].push_back(f.to_json());
    if (filtered_note) j["filtered_note"] = *filtered_note;
    if (recall_gap_noise) j["recall_gap_noise"] = *recall_gap_noise;
    j["source"] = source.to_json();
    if (recall_verdict) j["recall_verdict"] = recall_verdict->to_json();
    j["failures"] = failures;
    j["warnings"] = warnings;
    return j;
}

} // namespace c2p
