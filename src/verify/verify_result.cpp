#include "verify/verify_result.hpp"

namespace c2p {
using json = nlohmann::ordered_json;

json CompletenessCounts::to_json() const {
    return {{"source_records", source_records}, {"target_records", target_records}, {"missing", missing},
            {"extra", extra},                   {"different", different},           {"digest_parity", digest_parity}};
}

CompletenessCounts CollectionVerify::counts() const {
    if (completeness)
        return {completeness->diff.source_count, completeness->diff.target_count, completeness->missing_ids.size(),
                completeness->extra_ids.size(),  completeness->different.size(),  completeness->diff.clean()};
    return unread.value_or(CompletenessCounts{});
}

json CollectionVerify::to_json() const {
    json j = {{"name", name}, {"id", id}, {"space", space}, {"dimension", or_null(dimension)}, {"layout", layout}};
    if (located) j["table"] = located->describe();
    else if (registered_without_table) j["table"] = nullptr;
    if (schema_check) j["schema"] = schema_check->to_json();
    if (completeness) j["completeness"] = completeness->to_json();
    else if (unread) j["completeness"] = unread->to_json();
    if (search) j["search"] = search->to_json();
    j["ok"] = ok();
    j["failures"] = failures;
    j["warnings"] = warnings;
    return j;
}

VerifyTotals VerifyReport::totals() const {
    VerifyTotals t{.collections = collections.size()};
    for (const auto &c : collections) {
        const CompletenessCounts n = c.counts();
        t.source_records += n.source_records;
        t.target_records += n.target_records;
        t.missing += n.missing;
        t.extra += n.extra;
        t.different += n.different;
    }
    return t;
}

json VerifyReport::to_json() const {
    const VerifyTotals t = totals();
    json cols = json::array(), reg = json::array();
    for (const auto &c : collections) cols.push_back(c.to_json());
    for (const auto &r : registry)
        reg.push_back({{"name", r.name}, {"migrated_at", r.migrated_at}, {"record_count", or_null(r.record_count)},
                       {"index_method", r.index_method}, {"embedding_type", r.embedding_type}, {"source", r.source}});
    json migration = {{"registry", reg}};
    if (layout_note) migration["layout_note"] = *layout_note;
    migration["runs"] = runs;
    if (runs_note) migration["note"] = *runs_note;
    json j = {{"kind", "verify"},
              {"tool_version", tool_version},
              {"generated_at", generated_at},
              {"verdict", passed() ? "PASS" : "FAIL"},
              {"failures", failures},
              {"warnings", warnings},
              {"notes", notes},
              {"source", {{"description", source_description}, {"details", source_details}}},
              {"target", {{"server", target_server}, {"schema", schema}, {"layout", layout},
                          {"langchain_id_prefix", langchain_id_prefix}}},
              {"settings",
               {{"queries", queries}, {"k", k},
                {"ef_search", ef_search > 0 ? json(ef_search) : json("the database's default")},
                {"min_recall", min_recall}, {"max_listed", max_listed}}},
              {"totals",
               {{"collections", t.collections}, {"source_records", t.source_records},
                {"target_records", t.target_records}, {"missing", t.missing}, {"extra", t.extra},
                {"different", t.different}}},
              {"collections", cols},
              {"migration", migration},
              {"environment", environment},
              {"verification",
               {{"seconds", seconds}, {"read_seconds", read_seconds}, {"records_per_second", records_per_second()}}},
              {"resources", resources.to_json()}};
    if (bench) j["bench"] = bench->to_json();
    if (!report_files.empty()) j["report_files"] = report_files;
    return j;
}

} // namespace c2p
