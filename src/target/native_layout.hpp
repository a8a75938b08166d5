// The `native` target layout: a registry of collections plus one typed table per collection.
#pragma once

#include <optional>
#include <string>

#include "core/record.hpp"
#include "target/pg_connection.hpp"

namespace c2p {

enum class IndexMethod { hnsw, ivfflat, none };
IndexMethod parse_index_method(const std::string &s);

struct IndexOptions {
    IndexMethod method = IndexMethod::hnsw;
    int hnsw_m = 16;                  // Chroma's defaults; a collection's own Chroma values unless given
    int hnsw_ef_construction = 100;
    bool hnsw_m_given = false, hnsw_ef_construction_given = false; // --hnsw-m / --hnsw-ef-construction
    int ivfflat_lists = 0;            // 0: rows/1000 (≤1M rows), sqrt(rows) above
    std::string maintenance_work_mem; // empty: sized to the HNSW graph (see max_maintenance_work_mem)
    std::string max_maintenance_work_mem = "2GB"; // the most chroma2pg sets by itself for one build
    bool metadata_gin = true;         // GIN index on metadata (for filtered search)
    bool parallel_build = true;       // false: pgvector < 0.8.2, whose parallel HNSW build can overflow a buffer
    // Builds running at once on sessions of their own (migrate --index-builds): each without parallel
    // workers, sharing max_maintenance_work_mem.
    int concurrent_builds = 1;
    // These options with m and ef_construction from the collection's Chroma configuration where not given.
    IndexOptions for_collection(const CollectionInfo &c) const;
};

// pgvector's `vector` HNSW/IVFFlat indexes stop at 2,000 dimensions; halfvec reaches 4,000.
constexpr uint32_t kMaxVectorIndexDims = 2000;
constexpr uint32_t kMaxHalfvecIndexDims = 4000;

// Installs (or checks) pgvector; throws EnvError naming the remedy when it is not available.
std::string ensure_pgvector(PgConnection &pg);
// Creates `schema` unless it exists: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
// schema is there, which a least-privilege migrator (sql/init-pgvector.sql) does not have.
void ensure_schema(PgConnection &pg, const std::string &schema);
void ensure_schema_and_registry(PgConnection &pg, const std::string &schema);

// Registry row for a collection, when one exists.
struct RegisteredCollection {
    std::string id, name, table_name, space;
    std::optional<uint32_t> dimension;
    int64_t rows = 0; // real count(*) of the table, -1 when the table is missing
};
std::optional<RegisteredCollection> find_registered(PgConnection &pg, const std::string &schema,
                                                    const std::string &collection_id, const std::string &name);
// Why collection `c` cannot have `table` (another registered collection has it), nullopt when it can. The
// registry must exist. migrate refuses the collection (DataError); --dry-run lists it as a problem.
std::optional<std::string> registered_table_clash(PgConnection &pg, const std::string &schema, const std::string &table,
                                                  const CollectionInfo &c);

// SQL fragments for the table and its indexes.
std::string qualified(const std::string &schema, const std::string &table);
// Whether the table (or any relation) schema.name exists.
bool relation_exists(PgConnection &pg, const std::string &schema, const std::string &name);
// halfvec: store halfvec(dim) (half the space, float16 precision) instead of vector(dim).
std::string create_table_sql(const std::string &schema, const std::string &table, std::optional<uint32_t> dim,
                             bool halfvec = false);
// Empty string when no vector index applies (method none, unknown dimension). Throws for > 4,000 dims.
// halfvec_column: the column is halfvec(dim) (--halfvec), indexed with the halfvec operator classes.
std::string create_vector_index_sql(const std::string &schema, const std::string &table, const std::string &index_name,
                                    const CollectionInfo &c, const IndexOptions &o, uint64_t rows,
                                    bool halfvec_column = false);
// IVFFlat lists for a table of `rows`: --ivfflat-lists, else rows/1000 (up to 1M rows), sqrt(rows) above.
uint64_t ivfflat_lists(const IndexOptions &o, uint64_t rows);
// The pgvector operator for a space (<->, <#>, <=>) and its operator class.
const char *space_operator(Space s);
std::string space_opclass(Space s, bool halfvec);

} // namespace c2p
