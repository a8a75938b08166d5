// Benchmarks against a migrated collection: search throughput and latency per client count at
// several hnsw.ef_search values (with the recall each gives), and the bulk insert rate.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/record.hpp"

namespace c2p {

struct BenchOptions {
    std::vector<int> clients{1, 2, 4};
    double duration = 5;                // seconds per (ef_search, clients) run
    std::vector<int> ef_search{40, 100, 200};
    int k = 10;
    size_t queries = 200;               // distinct query vectors, drawn from the table
    size_t recall_queries = 50;         // of those, how many get an exact ground truth
    size_t insert_rows = 20000;         // 0: skip the insert benchmark
    // The source's own search for the same query vectors (pgvector's text form is a JSON array), returning
    // the ids it found: timed from one client as a baseline, with its recall. Empty: no baseline.
    std::function<std::vector<std::string>(const std::string &vector_json)> source_search;
    std::string source_name = "Chroma";
};

struct BenchTarget {
    std::string conninfo, schema, table, collection;
    uint32_t dim = 0;
    Space space = Space::l2;
    // How the app's query reaches the collection's rows in its layout (TargetLayout::search_shape()).
    std::string id_expr = "id", embedding_column = "embedding";
    std::string filter;               // the collection's rows in a shared table (langchain); empty: every row
    std::optional<Space> index_space; // the operator the client always uses, when not the collection's
    std::string index_name;           // the collection's vector index (a shared table has one per collection);
                                      // empty: the table's first valid one
};

struct LatencySummary {
    uint64_t queries = 0;
    double qps = 0, mean_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};

// One (ef_search, clients) run.
struct BenchRun {
    int clients = 0;
    LatencySummary latency;
};

// The runs at one hnsw.ef_search value.
struct EfSearchBench {
    int ef_search = 0;
    bool database_default = false; // ef_search is what the database's sessions get
    bool planner_prefers_index = false, index_used = false;
    std::optional<double> recall_at_k; // no recall queries: none
    std::vector<BenchRun> runs;
};

// The same queries through the source's own search, one client.
struct SourceBaseline {
    std::string source;
    bool recall_measured = false;
    std::optional<double> recall_at_k;
    std::optional<LatencySummary> latency;
    std::optional<std::string> error;
};

struct InsertRate {
    uint64_t rows = 0;
    double seconds = 0, records_per_second = 0, mb_per_second = 0;
};

struct BenchResult {
    std::string collection, table, space;
    uint32_t dimension = 0;
    int k = 0;
    double duration_seconds = 0;
    uint64_t rows = 0;
    struct Index {
        std::string name, method;
        uint64_t bytes = 0;
    };
    std::optional<Index> index;
    std::vector<EfSearchBench> search;
    std::optional<SourceBaseline> source_baseline;
    std::optional<InsertRate> insert, insert_with_hnsw_index;
    nlohmann::ordered_json to_json() const;
};

// One connection and one thread per client, each running a prepared statement in a loop.
BenchResult run_bench(const BenchTarget &t, const BenchOptions &o);

// Latency summary of one run (pure; for tests).
LatencySummary latency_summary(std::vector<double> latencies_ms, double seconds);

} // namespace c2p
