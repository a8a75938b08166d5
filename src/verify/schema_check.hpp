// Schema parity of one migrated collection: registry row, column type, vector index.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/record.hpp"
#include "target/pg_connection.hpp"

namespace c2p {

// The registry row as verify needs it (more than find_registered returns).
struct RegistryRow {
    std::string id, name, table_name, space, index_method, source, migrated_at;
    std::string embedding_type = "vector"; // "halfvec" for a --halfvec migration
    std::optional<uint32_t> dimension;
    std::optional<int64_t> record_count;
    bool table_exists = false;
    nlohmann::ordered_json metadata, configuration; // as stored (jsonb); null when NULL
};
std::optional<RegistryRow> lookup_registry(PgConnection &pg, const std::string &schema, const std::string &id,
                                           const std::string &name);
std::vector<RegistryRow> all_registry_rows(PgConnection &pg, const std::string &schema);

struct VectorIndexInfo {
    std::string name, method, opclass, definition, options;
    bool valid = false;
    uint64_t bytes = 0;
};

struct SchemaCheck {
    std::vector<std::string> failures; // each a sentence naming the collection
    std::vector<std::string> warnings;
    std::string column_type;           // e.g. vector(384)
    std::optional<VectorIndexInfo> index; // the index that matches, or the first vector index found
    uint64_t table_bytes = 0;
    nlohmann::ordered_json to_json() const;
};

// Compares the registry row (name, collection metadata and configuration type-strict, space, dimension),
// the table's column type and its vector index with the source's facts.
SchemaCheck check_schema(PgConnection &pg, const std::string &schema, const CollectionInfo &source,
                         const RegistryRow &reg);

// The hnsw/ivfflat indexes of a table (first key column's operator class), by name.
std::vector<VectorIndexInfo> vector_indexes(PgConnection &pg, const std::string &qualified_table);

} // namespace c2p
