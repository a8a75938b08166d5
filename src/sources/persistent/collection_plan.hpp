// Reconstructs one collection the way Chroma does on load, without reading any vector yet:
// which records are live (metadata segment + WAL replay above its max seq id), where each
// record's vector lives (an HNSW element or a WAL row, after replaying the WAL above the vector
// segment's max seq id), and what is damaged. The BatchReader (persistent_source.cpp) then
// streams records by this plan with bounded memory.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/record.hpp"
#include "sources/persistent/hnsw_segment_reader.hpp"
#include "sources/persistent/pickle_reader.hpp"
#include "sources/persistent/sqlite_catalog.hpp"
#include "sources/persistent/vec_index.hpp"

namespace c2p::persistent {


// A WAL field value: nullopt = JSON null (deletes the key on UPDATE/UPSERT).
using WalMeta = std::vector<std::pair<std::string, std::optional<MetaValue>>>;

struct Override {
    bool in_sqlite = false;
    int64_t rowid = 0;     // embeddings.id when in_sqlite
    bool exists = false;   // after replay
    Metadata meta;         // full metadata after replay, incl. chroma:document / chroma:uri
};

struct Plan {
    std::string dir;
    CatalogCollection c;
    uint32_t dim = 0;
    bool cosine = false;
    std::optional<hnsw::SegmentFiles> files;
    std::optional<hnsw::View> view;
    VecIndex vec; // ids from index_metadata.pickle are views into files->pickle
    std::unordered_map<std::string, Override> overrides;
    std::vector<std::string> wal_only_ids;    // live ids absent from SQLite, in order of their ADD
    std::unordered_set<std::string> drop;     // unrecoverable ids: never yielded
    std::vector<std::string> salvaged_ids;
    std::vector<SourceDamage> damage;
    bool has_bool = false, has_array = false;
    bool scan_rows = false; // see segment_rows_sql
    CollectionInfo info;
};

// The metadata segment's (rowid, embedding_id) rows in rowid order, which is the order records
// were added and the order of the pickle's labels. `scan`: a plain scan of the table, cheapest
// when the collection holds most of it; else rowid lookups of the collection's ids (a join with
// ORDER BY would sort them all before the first row). Bind the segment id as parameter 1.
std::string segment_rows_sql(bool scan);

// The part of a plan read from the collection's HNSW segment files alone (header, pickle, element
// labels; no SQLite): the plan with its files, view, id → element map, details, damage and
// warnings so far. It may run on another thread while SQLite is read.
struct HnswPart {
    std::shared_ptr<Plan> plan;
    std::optional<uint32_t> dim;     // collections.dimension, else header.bin's
    std::optional<uint64_t> vec_max; // the vector segment's max seq id (max_seq_id, else the pickle's)
    uint64_t hnsw_elements = 0, deleted_elements = 0;
};
HnswPart read_hnsw_part(const Catalog &cat, const CatalogCollection &c, const std::string &dir);

// Builds the plan. In salvage mode the WAL's older vectors fill in for lost ones.
// `allow_scan`: the reader may scan whole tables (segment_rows_sql). `hnsw_part`: read_hnsw_part
// of this collection, already started; when not given it is started here, on another thread.
std::shared_ptr<Plan> build_plan(const sqlite::Db &db, const Catalog &cat, const CatalogCollection &c, const std::string &dir,
                                 bool salvage, bool allow_scan = true, std::future<HnswPart> hnsw_part = {});

// A collection's configuration as Chroma's API returns it: 1.x stores {"vector_index": {"hnsw": H},
// "embedding_function": E} in collections.config_json_str and serves {"hnsw": H, "spann": null,
// "embedding_function": E}. Older forms are returned as stored.
nlohmann::ordered_json api_configuration(const nlohmann::ordered_json &stored);

// Parses a WAL metadata JSON text ("{...}" or NULL) into typed values. Throws DataError.
WalMeta parse_wal_metadata(const std::string &text, const std::string &what);
// Merges `upd` into `m` (null deletes); when `add_only`, nulls are skipped.
void merge_metadata(Metadata &m, const WalMeta &upd);

// hnswlib's cosine round trip as Chroma's index applies it: v / (|v| + 1e-30) in float32, then × |v|.
void cosine_roundtrip(float *v, uint32_t dim);

} // namespace c2p::persistent
