// `sync`: brings one collection's rows up to date with the source, in every layout. The native table
// stores each record's digest; the framework tables have no digest column (and get none: their shape
// stays the framework's), so their digests are computed from their rows, read back exactly as verify
// does. The layout (TargetLayout) stages and applies the changes.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "sources/source.hpp"
#include "target/change_applier.hpp"
#include "target/target_layout.hpp"
#include "target/pg_connection.hpp"
#include "util/progress.hpp"

namespace c2p {

struct SyncOptions {
    size_t batch_size = 1000;
    bool dry_run = false;
    bool skip_bad_records = false; // --on-bad-record skip
    bool escape_nul = false;       // --escape-nul
    std::string reject_file;       // where records PostgreSQL cannot store are listed
};

// One transaction: new records inserted, changed ones rewritten, removed ones deleted, the rest not
// touched. A record PostgreSQL cannot store is listed in the reject file and, unless skip_bad_records,
// stops it with nothing changed (DataError), as does a LangChain id that another collection holds.
SyncCounts sync_collection(PgConnection &pg, Source &source, const CollectionInfo &c, const TargetCollection &t,
                           const SyncOptions &o, Progress &progress);

} // namespace c2p
