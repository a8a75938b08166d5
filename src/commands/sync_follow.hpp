// `sync --follow`: sync rounds until stopped, for a cut-over while the application keeps writing to
// Chroma. Each round is an ordinary sync (one transaction per collection) and reports its lag. A stop
// file asks for one final round that starts after the file was seen, so it holds every write made
// before: stop the application's writes, create the file, and switch once the command exits. SIGINT or
// SIGTERM stops at the next batch: a collection's changes commit together, so none is half-applied
// (a second signal ends the process).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands/run_summary.hpp"
#include "commands/sync_collection.hpp"
#include "target/pg_connection.hpp"

namespace c2p {

// What one pass over the collections found and did.
struct SyncRound {
    std::vector<SummaryRow> rows; // per collection, as sync reports them
    SyncCounts total;
    std::vector<std::string> not_migrated;
};

struct FollowOptions {
    double interval = 5;   // seconds from the end of a round to the start of the next
    std::string stop_file; // empty: only a signal stops
    std::string to;        // for reconnecting after a lost connection
};

struct FollowResult {
    SyncRound last;               // the final round
    nlohmann::ordered_json report; // rounds, changes applied, the last round's window, what stopped it
};

// Runs `round` until stopped. A round that fails with a lost connection (EnvError) is reported and
// retried at the next interval on a fresh PostgreSQL connection, up to kFollowFailures in a row.
constexpr int kFollowFailures = 10;
FollowResult follow_sync(const FollowOptions &o, PgConnection &pg,
                         const std::function<SyncRound(PgConnection &)> &round);

} // namespace c2p
