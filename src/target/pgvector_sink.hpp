// Loads collections into the native layout: each source range is copied with binary COPY into the
// collection's staging table in chunks, every chunk committed together with its checkpoint row; once
// every range is in, the table is indexed and swapped in with its registry row in one transaction.
// A crash at any moment leaves the live table untouched and the staging table resumable.
#pragma once

#include <atomic>
#include <string>

#include "core/sink.hpp"
#include "target/checkpoint_store.hpp"
#include "target/copy_binary.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"
#include "core/reject_file.hpp"

namespace c2p {

enum class BadRecordPolicy { fail, skip };
BadRecordPolicy parse_bad_record_policy(const std::string &s);

// Chunks: a commit costs a WAL flush; 50,000 rows makes that noise while bounding the work a crash loses.
constexpr uint64_t kDefaultChunkRecords = 50000;
constexpr uint64_t kMinChunkRecords = 1;

struct PgvectorSinkOptions {
    std::string schema = "public";
    IndexOptions index;
    std::string source_description; // recorded in the registry; no credentials
    uint64_t chunk_records = kDefaultChunkRecords;
    BadRecordPolicy on_bad_record = BadRecordPolicy::fail;
    bool escape_nul = false; // store U+0000 as U+2400 and log the record as "escaped" (lossless with the reject file)
    int jobs = 1;            // parallel maintenance workers for the index build: jobs - 1
    std::string target;      // the connection string: a second session watches the index build's progress
    bool halfvec = false;    // --halfvec: the column is halfvec(dim), embeddings stored as float16 (target/halfvec.hpp)
};

// The character U+0000 becomes under --escape-nul: SYMBOL FOR NULL.
constexpr const char *kNulEscape = "\xE2\x90\x80";

// Encodes record i of b as one COPY tuple of the native table (id, embedding, document, uri, metadata,
// digest). `digest_of` supplies the digest (the original record's, for an escaped copy). halfvec: the
// embedding goes as float16 and the digest is of the record as stored (record_digest_halfvec).
void encode_native_row(CopyBinaryBuffer &buf, std::string &json_scratch, const RecordBatch &b, size_t i,
                       const RecordBatch &digest_batch, size_t digest_i, bool halfvec = false);
// Copies record i with every NUL in document/uri/metadata replaced by kNulEscape; false when it had none.
bool escape_nul_record(const RecordBatch &b, size_t i, RecordBatch &out);

// Decides, record by record, what goes to COPY: clean rows, escaped rows, or the reject file.
// Thread-safe to share the RejectFile; one checker per range.
struct CheckedBatch {
    std::vector<size_t> good;         // indexes into the batch, written as they are
    RecordBatch escaped;              // escaped copies, written instead of escaped_from
    std::vector<size_t> escaped_from; // their indexes in the batch
    uint64_t rejected = 0;
    // " (first: record 'id': why)" for the batch's first rejected record, "" when none: names it in the
    // error that stops a load or a sync.
    std::string first_rejected;
};
void check_batch(const RecordBatch &b, const CollectionInfo &c, uint64_t first_offset, const PgvectorSinkOptions &o,
                 RejectFile &rejects, CheckedBatch &out);

// Writes one source range into the staging table. write() opens a transaction + COPY when needed and
// commits it with a checkpoint row every chunk_records records; finish() commits the rest and marks
// the range done. abort() rolls back the open chunk: the checkpoints say where to continue.
class RangeLoader : public Sink {
public:
    RangeLoader(PgConnection &pg, const PgvectorSinkOptions &opts, const CheckpointStore &store, std::string run_id,
                std::string staging, int range_no, uint64_t start_offset, RejectFile &rejects,
                const std::atomic<bool> *cancel = nullptr);
    void begin(const CollectionInfo &c) override;
    void write(const RecordBatch &batch) override;
    void finish() override;
    void abort() noexcept override;

    uint64_t rows_committed() const { return committed_rows_; }

private:
    void open_chunk();
    void commit_chunk(bool range_done);
    PgConnection &pg_;
    const PgvectorSinkOptions &opts_;
    const CheckpointStore &store_;
    std::string run_id_, staging_;
    int range_no_;
    RejectFile &rejects_;
    const std::atomic<bool> *cancel_;
    CollectionInfo info_;
    CopyBinaryBuffer buf_;
    std::string json_;
    CheckedBatch checked_;
    uint64_t chunk_start_, pos_;
    uint64_t chunk_rows_ = 0, chunk_rejected_ = 0, committed_rows_ = 0;
    bool in_tx_ = false, in_copy_ = false;
};


struct FinalizeResult {
    uint64_t rows = 0;
    double index_seconds = 0;
    bool already_done = false; // an earlier attempt committed it (its COMMIT's answer was lost)
};
struct BadRecordCounts {
    uint64_t rejected = 0, escaped = 0;
    std::string reject_file;
};
// Primary key, vector index, GIN, ANALYZE on the staging table, then drop the old table, rename, upsert
// the registry row and mark the load done: one transaction.
FinalizeResult finalize_collection(PgConnection &pg, const PgvectorSinkOptions &opts, const CheckpointStore &store,
                                   const CollectionInfo &c, const std::string &table, const std::string &staging,
                                   const BadRecordCounts &bad);

} // namespace c2p
