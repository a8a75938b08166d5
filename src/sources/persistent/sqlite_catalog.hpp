// Reads the catalog of a Chroma persistent directory from its SQLite snapshot: the on-disk era,
// tenants/databases, collections with their metadata/configuration/space, their METADATA and
// VECTOR segments, max seq ids, write-ahead-log topics, and orphans (rows and folders of deleted
// collections, which Chroma ignores).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/record.hpp"
#include "sources/persistent/sqlite_db.hpp"

namespace c2p::persistent {

struct Schema {
    bool has_tenants = false;        // sysdb 00004 (0.4.15)
    bool collections_topic = false;  // dropped by sysdb 00005 (0.5.0)
    bool has_config_json = false;    // sysdb 00007 (0.5.4)
    bool has_schema_str = false;     // sysdb 00010 (1.3)
    bool has_bool_value = false;     // metadb 00002 (0.4.4)
    bool has_metadata_array = false; // metadb 00006 (1.5)
    bool has_queue_config = false;   // embeddings_queue 00002 (0.5.6)
    bool has_max_seq_id = false;
    bool has_queue = false;
    std::string era; // e.g. "0.4.15–0.4.24", "1.5+"
    nlohmann::ordered_json migrations = nlohmann::ordered_json::object(); // dir → max version
};

struct CatalogCollection {
    std::string id, name, tenant = "default_tenant", database = "default_database";
    std::optional<uint32_t> dimension;
    nlohmann::ordered_json metadata = nullptr, configuration = nullptr, schema = nullptr;
    Space space = Space::l2;
    std::string space_source = "default";
    std::string meta_segment, vec_segment; // empty when absent
    std::optional<uint64_t> meta_max_seq, vec_max_seq; // from the max_seq_id table
    std::vector<std::string> topics;       // embeddings_queue topics of this collection
    std::vector<std::string> warnings;
};

struct Catalog {
    Schema schema;
    std::vector<CatalogCollection> collections;
    std::vector<std::string> orphan_dirs;       // segment-like folders no segment refers to
    uint64_t orphan_embedding_rows = 0;          // embeddings rows of segments that no longer exist
    uint64_t orphan_queue_rows = 0;              // WAL rows of topics no collection owns
    uint64_t embedding_rows = 0;                 // all collections' rows in `embeddings`
    std::optional<bool> automatically_purge;
};

Catalog read_catalog(const sqlite::Db &db, const std::string &dir);

// True when embedding_metadata's rows, in rowid order, have non-decreasing ids, so a plain scan
// of the table meets each record's rows together and in record order (an update re-inserts a
// record's rows at the end, which breaks it). One pass over the id column.
bool metadata_in_id_order(const sqlite::Db &db);

// Decodes a typed metadata row (string, int, float, bool columns starting at `col`).
// Returns false when every column is NULL.
bool decode_typed(const sqlite::Stmt &s, int col, bool has_bool, MetaScalar &out);

} // namespace c2p::persistent
