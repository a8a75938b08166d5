// The whole of `verify`: environment, then per collection completeness, schema and search.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sources/source.hpp"
#include "target/layout_sink.hpp"
#include "verify/bench.hpp"
#include "verify/search_check.hpp"
#include "verify/verify_result.hpp"

namespace c2p {

struct VerifyOptions {
    std::string to, schema = "public";
    Layout layout = Layout::native;   // where the records are: chroma2pg's tables or a framework's
    bool langchain_id_prefix = false; // langchain: ids were stored as "<collection>:<id>"
    size_t queries = 100;
    SearchOptions search;
    size_t max_listed = 20; // records listed on stderr per kind; all go to the report
    size_t batch_size = 1000;
    bool show_progress = true;
    bool bench = false;
    BenchOptions bench_options;
};

// Runs every check and returns what it found (verdict PASS when nothing failed).
// Throws only for the environment (unreachable server, no pgvector): a mismatch is in the report.
VerifyReport run_verify(Source &src, const std::vector<CollectionInfo> &cols, bool all_collections,
                        const VerifyOptions &o);

} // namespace c2p
