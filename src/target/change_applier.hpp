// The change appliers `sync` feeds (commands/sync_read.hpp), one per kind of layout: Sinks that, inside
// the caller's transaction, mark each record's id seen (temp table c2p_sync_seen) and stage the new and
// changed ones (temp table c2p_sync_rows, the target's own columns); the caller then applies the staged
// rows and deletes what was not seen.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/record_digest.hpp"
#include "core/sink.hpp"
#include "target/copy_binary.hpp"
#include "target/target_layout.hpp"
#include "target/pg_connection.hpp"
#include "target/pgvector_sink.hpp"
#include "core/reject_file.hpp"

namespace c2p {

class TableLayout;

// Ids shown per kind of change in the result (--dry-run especially).
constexpr size_t kSyncSampleIds = 10;

// What a sync found and did in one collection (native and framework layouts).
struct SyncCounts {
    uint64_t read = 0, inserted = 0, updated = 0, deleted = 0, unchanged = 0, rejected = 0, escaped = 0, bytes = 0;
    nlohmann::ordered_json sample_new = nlohmann::ordered_json::array(),
                           sample_changed = nlohmann::ordered_json::array(),
                           sample_deleted = nlohmann::ordered_json::array();
};

// What the two appliers share: the record checks of migrate (check_batch: a record PostgreSQL cannot store
// is listed in the reject file and stops the sync unless --on-bad-record=skip), the counts, and the seen and
// staged rows' buffers.
class SyncApplier : public Sink {
public:
    void begin(const CollectionInfo &c) override { c_ = &c; }
    void finish() override {}

protected:
    // `checks`: --on-bad-record, --escape-nul and whether the target stores halfvec.
    SyncApplier(PgConnection &pg, const PgvectorSinkOptions &checks, RejectFile &rejects, SyncCounts &n)
        : pg_(pg), checks_(checks), rejects_(rejects), n_(n) {}
    // Checks batch `b` into checked_ (DataError for a record PostgreSQL cannot store, unless skipped) and
    // counts it as read.
    void check(const RecordBatch &b);
    enum class Change { added, changed, none };
    // Counts the record's change; true when its row is to be staged.
    bool count(Change change, const std::string &id);

    PgConnection &pg_;
    const PgvectorSinkOptions checks_;
    RejectFile &rejects_;
    SyncCounts &n_;
    const CollectionInfo *c_ = nullptr;
    CheckedBatch checked_;
    CopyBinaryBuffer seen_, rows_;
    uint64_t offset_ = 0;
};

// Native sync's change applier: each batch's ids into c2p_sync_seen, its new and changed records (by the
// digest stored at migration) into c2p_sync_rows, in the caller's transaction.
class NativeSyncApplier : public SyncApplier {
public:
    // `rows_copy`: the COPY into c2p_sync_rows, in encode_native_row's columns.
    NativeSyncApplier(PgConnection &pg, std::string target, const std::string &rows_copy,
                      const PgvectorSinkOptions &checks, RejectFile &rejects, SyncCounts &n)
        : SyncApplier(pg, checks, rejects, n), target_(std::move(target)), rows_copy_(rows_copy) {}
    void write(const RecordBatch &b) override;

private:
    const std::string target_;
    const std::string &rows_copy_;
    std::string scratch_;
    std::unordered_map<std::string, std::string> have_;
};

// A framework layout's change applier: each batch's ids (as the layout stores them) into c2p_sync_seen, its
// new and changed records (against the digests of the target's rows) into c2p_sync_rows in the layout's
// own columns, in the caller's transaction.
class LayoutSyncApplier : public SyncApplier {
public:
    // `have`: the target's digests, sorted by key; `rows_copy`: the COPY into c2p_sync_rows.
    LayoutSyncApplier(PgConnection &pg, const TargetCollection &t, const std::vector<DigestEntry> &have,
                      const std::string &rows_copy, const PgvectorSinkOptions &checks, RejectFile &rejects,
                      SyncCounts &n);
    void write(const RecordBatch &b) override;

private:
    const TargetCollection &t_;
    const TargetLayout &layout_;
    const std::vector<DigestEntry> &have_; // sorted by key
    const std::string &rows_copy_;
};

} // namespace c2p
