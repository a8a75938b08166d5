// Options and helpers every command shares: source flags, target flags, collection selection, output.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "pipeline/retry.hpp"
#include "sources/source.hpp"
#include "util/interrupt.hpp"

namespace c2p {

class TargetLayout;

struct GlobalOptions {
    bool json = false;
    bool quiet = false;
    bool verbose = false;
    std::string log_format = "text";
    double progress_interval = 5.0; // seconds between progress lines when stderr is not a terminal
};

struct SourceFlags {
    std::string from;
    std::vector<std::string> collections;
    std::vector<std::string> exclude_collections;
    SourceOptions opts;
};

// Registers --from, --tenant, --database, --token, --token-header, --insecure, --collections,
// --exclude-collections.
void add_source_flags(CLI::App &cmd, SourceFlags &f, bool with_collections = true);
// --collections NAME,... and --exclude-collections NAME|GLOB,... (each also repeatable).
void add_collection_flags(CLI::App &cmd, std::vector<std::string> &only, std::vector<std::string> &exclude);
// Registers --to (libpq conninfo or URL; DATABASE_URL / PG* when absent) and --schema.
void add_target_flags(CLI::App &cmd, std::string &to, std::string &schema);
// Accepts what PostgreSQL accepts for a memory setting: a number with an optional kB, MB, GB or TB.
CLI::Validator memory_setting_check();
// Registers --layout (env CHROMA2PG_LAYOUT): `what` says what the layout is for this command.
void add_layout_option(CLI::App &cmd, std::string &layout, const std::string &what);
// Registers --pg-timeout and --pg-connect-wait (pg_settings()); add_target_flags includes them.
void add_pg_wait_flags(CLI::App &cmd);

// The collections to work on, in source order: `wanted` (all when empty; an unknown name is a usage
// error listing what exists) minus those `exclude` names or matches as a glob (an exclusion that
// matches nothing is a warning).
std::vector<CollectionInfo> select_collections(Source &src, const std::vector<std::string> &wanted,
                                               const std::vector<std::string> &exclude = {});
std::vector<CollectionInfo> select_collections(Source &src, const SourceFlags &f);
std::vector<CollectionInfo> filter_collections(const std::vector<CollectionInfo> &all, const std::vector<std::string> &wanted,
                                               const std::string &source_description,
                                               const std::vector<std::string> &exclude = {});


// The options a command was given whose use depends on the --layout.
struct LayoutOptionsGiven {
    bool id_prefix = false;      // --langchain-id-prefix
    bool metadata_index = false; // --metadata-index (flag or environment)
    int index_builds = 0;        // --index-builds
};
// Refuses (UsageError, exit 2) an option the layout has no use for, saying why: nothing is silently ignored.
void refuse_options_for_layout(const TargetLayout &l, const LayoutOptionsGiven &given);

// Prints the machine-readable result on stdout (one JSON document).
void print_json(const nlohmann::ordered_json &j);
// Source token: the flag, else CHROMA_API_KEY, else CHROMA_TOKEN.
void resolve_token(SourceOptions &o);

GlobalOptions &global_options();

// Ctrl-C / SIGTERM: the one line an interrupted `command` ends with: what it kept (`state`) and the
// command line to run next (the one typed, secrets left out, with `add` flags and without `drop`).
Interrupted interrupted_run(const Interrupted &e, const std::string &command, const std::string &state,
                            const std::string &how, const std::vector<std::string> &add = {},
                            const std::vector<std::string> &drop = {});

// The most --jobs (parallel sessions) a command takes.
constexpr int kMaxJobs = 64;

// What a collection loop says when Ctrl-C stops it: "<command> interrupted by SIGINT: <done> of <n>
// collection(s) <finished>; <kept>; <how>: <the command line>".
struct LoopInterruptText {
    std::string command, finished, kept, how;
};
// How a collection is tried again after a transient failure (pipeline/retry.hpp): `attempts` in all, each
// running its step again, which goes on from what is committed; 1: not retried.
struct CollectionRetry {
    int attempts = 1;
    RetryText text{};
};
// Runs `step(c, worker)` on each collection on `jobs` workers, started in order: each collection is one
// task of the runner migrate's ranges run on (pipeline/range_runner.hpp); with one job, in this thread.
// The first failure stops the tasks not yet started, ends the others' retry waits, and is rethrown once
// the running ones end; a stop (Ctrl-C) between batches ends the run with `text`.
void each_collection(const std::vector<CollectionInfo> &cols, const LoopInterruptText &text, int jobs,
                     const CollectionRetry &retry, const std::function<void(const CollectionInfo &c, int worker)> &step);

} // namespace c2p
