// Benchmarks against a migrated collection: search throughput and latency per client count at
// several hnsw.ef_search values (with the recall each gives), and the bulk insert rate.
#pragma once

#include <functional>
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
};

// Returns {collection, rows, dimension, space, k, index, search: [{ef_search, recall_at_k, index_used,
// runs: [{clients, queries, qps, mean_ms, p50_ms, p95_ms, p99_ms}]}], insert: {...}}.
// One connection and one thread per client, each running a prepared statement in a loop.
nlohmann::ordered_json run_bench(const BenchTarget &t, const BenchOptions &o);

// Latency summary of one run (pure; for tests): {queries, qps, mean_ms, p50_ms, p95_ms, p99_ms}.
nlohmann::ordered_json latency_summary(std::vector<double> latencies_ms, double seconds);

} // namespace c2p
