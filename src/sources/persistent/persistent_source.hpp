// The source for a Chroma persistent directory (`chromadb.PersistentClient(path=...)`), read
// directly from disk with no Chroma running, every on-disk era from 0.4 to 1.5.
//
// What it yields, per collection, is what Chroma itself would return from `get` after loading
// the directory: live records from the metadata segment, vectors from the HNSW segment files
// (deleted elements skipped, labels mapped through index_metadata.pickle) and the write-ahead
// log rows newer than each segment's max seq id, replayed with Chroma's ADD/UPDATE/UPSERT/DELETE
// semantics. For `cosine` collections every vector is what Chroma's index returns: the stored
// unit vector × its norm from length.bin, and WAL vectors passed through the same float32
// normalisation (details["cosine_vectors"] says so).
//
// The directory is never written (see sqlite_db.hpp for how the SQLite file is snapshotted).
// All collections of every tenant and database are listed (CollectionInfo.tenant/database).
//
// Damage (a missing or truncated HNSW file, a bad pickle, a record with no vector anywhere, a
// vector with no record, a label the pickle does not know, a WAL vector of the wrong size):
//  - list_collections() throws DataError with the full report, unless opts.salvage;
//  - with opts.salvage it returns every collection; read() yields every record that can be
//    recovered (vectors still in the WAL are used where the index lost them) and drops the rest;
//  - inspect_collections() (on PersistentSource) never throws for damage: it is for `inspect`.
// In every mode each CollectionInfo carries:
//   details["status"]            "ok" | "damaged"
//   details["damage"]            [{ "kind", "file"?, "message", "count", "ids" (first 10) }]
//   details["unrecoverable_ids"] every id that cannot be exported (salvage drops exactly these)
//   details["salvaged_ids"]      ids whose vector comes from a WAL row the index had lost
//   details["era"], ["vectors_from_hnsw"], ["vectors_from_wal"], ["hnsw_elements"],
//   ["deleted_elements"], ["wal_rows_replayed"], ["metadata_segment"], ["vector_segment"],
//   ["space_source"], ["cosine_vectors"], ["schema"] (1.3+)
// and CollectionInfo.warnings holds one human line per damage item and per benign oddity.
// record_count is the number of records read() will yield (in salvage mode: the recoverable ones;
// otherwise all live records).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sources/source.hpp"

namespace c2p {

// True when `path` is a directory that contains chroma.sqlite3.
bool is_persistent_dir(const std::string &path);

// Opens the directory (snapshotting chroma.sqlite3). Throws EnvError if unreadable,
// DataError if chroma.sqlite3 is not a Chroma database.
std::unique_ptr<Source> open_persistent_source(const std::string &dir, const SourceOptions &opts);

class PersistentSource : public Source {
public:
    // Like list_collections() but never throws for damage (each info says its status).
    virtual std::vector<CollectionInfo> inspect_collections() = 0;
};

} // namespace c2p
