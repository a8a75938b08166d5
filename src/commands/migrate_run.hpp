// migrate's run, step by step: the same checkpointed load for every layout (resume, --jobs ranges,
// retries, rejects, the live-source check), ending in the native index and swap or a framework
// layout's publish. commands/migrate.cpp holds the options and calls the steps in order.
#pragma once

#include <memory>
#include <string>

#include "commands/common.hpp"
#include "commands/dry_run.hpp"
#include "target/native_layout.hpp"
#include "target/pgvector_sink.hpp"

namespace c2p {

struct MigrateArgs {
    SourceFlags src;
    std::string to, schema = "public";
    size_t batch_size = 1000;
    std::string index = "hnsw";
    IndexOptions idx;
    bool replace = false;
    std::string salvage_report = "chroma2pg-salvage-report.json";
    int jobs = 1;
    int index_builds = 0; // --index-builds: collections whose indexes build at once; 0: choose_index_builds decides
    uint64_t checkpoint_records = kDefaultChunkRecords;
    bool resume = false, restart = false;
    std::string on_bad_record = "fail";
    bool escape_nul = false;
    std::string reject_dir = "chroma2pg-rejects";
    int retries = 8;
    std::string layout = "native"; // a framework layout: loaded as native, then published (publish_layout.hpp)
    bool halfvec = false, langchain_id_prefix = false;
    bool metadata_index_given = false; // --metadata-index (or its env) was set: native only
    bool dry_run = false, skip_space_check = false;
    std::string summary; // --summary FILE
    // Off only for measuring what the check costs (bench/live_read.py sets C2P_BENCH_NO_LIVE_CHECK=1):
    // without it, a server changed during the read can lose records.
    bool live_check = std::getenv("C2P_BENCH_NO_LIVE_CHECK") == nullptr;
    std::string app_role;           // --app-role: search settings for this role in the database, not the whole database
    bool no_search_settings = false;
};

MigratePlanOptions plan_options(const MigrateArgs &a);

class MigrateRun {
public:
    // Opens the source and selects its collections while connecting to PostgreSQL.
    explicit MigrateRun(MigrateArgs &a);
    ~MigrateRun();
    // Space check, pgvector, schema, the migration lock; the run new, resumed or refused; each
    // collection finished before, continued, or loaded afresh (a framework layout's target checked).
    void start();
    // Staging tables and range plans for fresh loads; reject files pruned to the checkpoints of resumed ones.
    void begin_loads();
    // Every unfinished range on --jobs workers; the last range of a collection ends it (index and swap, or publish).
    void load();
    // The run marked done; search settings carried over.
    void finish();
    // The summary (--json, --summary), the salvage report, the exit status.
    void report();

private:
    struct State;
    std::unique_ptr<State> s_;
};

} // namespace c2p
