// `sync --layout <a framework layout>`: brings a framework layout's rows of one collection up to date
// with the source. The framework tables have no digest column (and get none: their shape stays the
// framework's), so the target's digests are computed from its rows, read back exactly as verify does.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "sources/source.hpp"
#include "target/change_applier.hpp"
#include "target/target_layout.hpp"
#include "target/pg_connection.hpp"
#include "util/progress.hpp"

namespace c2p {

struct LayoutSyncOptions {
    size_t batch_size = 1000;
    bool dry_run = false;
    bool skip_bad_records = false; // --on-bad-record skip
    bool escape_nul = false;       // --escape-nul
    std::string reject_file;       // where records PostgreSQL cannot store are listed
};

// One transaction: new records inserted, changed ones rewritten, removed ones deleted, the rest not
// touched. A record PostgreSQL cannot store is listed in the reject file and, unless skip_bad_records,
// stops it with nothing changed (DataError), as does a LangChain id that another collection holds.
SyncCounts sync_layout_collection(PgConnection &pg, Source &source, const CollectionInfo &c, const TargetCollection &t,
                                  const LayoutSyncOptions &o, Progress &progress);

} // namespace c2p
