// A target layout as verify and sync see it: where a migrated collection's rows are, how they read back
// as the Chroma records they came from, how the framework's query reaches them, and which of the
// target's collections the source no longer has. One TargetLayout per --layout value (target_layout()):
// native (native_layout.cpp), langchain (langchain_layout.cpp) and every TableLayout (table_layout.cpp),
// so these commands ask the layout instead of comparing its name.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"
#include "target/client_config.hpp"
#include "target/copy_binary.hpp"
#include "target/layout_sink.hpp"
#include "target/pg_connection.hpp"
#include "target/pg_table_reader.hpp"
#include "target/size_estimate.hpp"

namespace c2p {

struct TargetCollection {
    Layout layout = Layout::native;
    std::string schema = "public", table;
    std::string where;            // the collection's rows in a shared table (langchain), else empty
    std::string id_column = "id"; // llamaindex: node_id
    std::string id_prefix;        // langchain --langchain-id-prefix: "<collection>:"
    std::string collection_uuid;  // its row's id: langchain_pg_collection.uuid, native chroma_collections.id
    bool table_exists = true;     // native: false when the registry names a table that is gone
    VectorColumn column;          // the embedding column; halfvec: compared at float16 precision
    std::string metadata_type = "jsonb"; // llamaindex tables created with use_jsonb=False: json
    bool has_digest = false;      // native: the stored digest column (sync compares it instead of reading rows)
    std::string qualified_table() const;
    std::string describe() const; // "public.langchain_pg_embedding (collection_id = '…'::uuid)"
};

// How the framework's query reaches a collection's rows: what verify's searches write.
struct SearchShape {
    std::string id_expr = "id"; // SQL giving a row's Chroma id (llamaindex node_id, langchain without its prefix)
    std::string filter;         // the rows of the collection in a shared table, empty: every row
    std::string metadata_expr = "metadata";      // SQL giving the metadata column
    std::string embedding_column = "embedding";
    std::optional<Space> index_space; // the operator the client always uses, when not the collection's
};

// One index migrate creates for a collection, as --dry-run shows it.
struct PlannedIndex {
    std::string name, kind, method, sql; // kind: "primary key", "vector", "gin", "client's own"
    std::string opclass, expression;     // a vector index's operator class and indexed expression
};

// How a sampled record is stored in a layout, for --dry-run's size estimate.
struct SizedRow {
    SampledRow row;         // its values, in the table's column order
    uint32_t key_bytes = 0; // its primary key's index entry
};
// The GIN index on metadata a layout's migrate builds: none, jsonb_ops (native) or jsonb_path_ops (LangChain).
enum class MetadataGin { none, ops, path_ops };

// What migrate creates for a collection in a layout, as --dry-run prints it.
struct LayoutPlan {
    std::string table;                      // unqualified
    std::vector<std::string> shared_tables; // qualified; tables every collection of the layout shares
    bool exists = false;                    // the target already holds the collection: the run replaces it
    uint64_t existing_rows = 0;
    std::vector<PlannedIndex> indexes;
    std::vector<std::string> problems;      // what makes the run fail with a data error
    std::string load;                       // how the staged collection goes live
};

class TargetLayout {
public:
    virtual ~TargetLayout() = default;
    virtual Layout layout() const = 0;
    const char *name() const { return layout_name(layout()); }

    // What a layout leaves to the user. A command refuses an option its layout has no use for (exit 2,
    // refuse_options_for_layout() in commands/common.hpp) instead of ignoring it.
    // --langchain-id-prefix: ids stored as "<collection>:<id>" (one table shared by every collection).
    virtual bool takes_id_prefix() const { return false; }
    // chroma2pg's own registry (chroma_collections): what sync requires and verify's schema check reads.
    // Without one, a collection is found through the framework's own tables.
    virtual bool has_registry() const { return false; }
    // --metadata-index: the indexes are chroma2pg's choice. A framework's are those its store creates.
    virtual bool takes_index_choice() const { return false; }
    // --index-builds N > 1: collections indexed and swapped in side by side. A framework layout publishes
    // each collection in one transaction with its index build, one at a time.
    virtual bool builds_side_by_side() const { return false; }

    // The collection's rows, nullopt when it was not migrated there (not_found() says where it was looked
    // for). A table of `table.empty()`: registered without rows (langchain, before any embedding table).
    virtual std::optional<TargetCollection> locate(PgConnection &pg, const std::string &schema,
                                                   const CollectionInfo &c, bool id_prefix) const = 0;
    virtual std::string not_found(const std::string &schema, const CollectionInfo &c) const = 0;
    // How PgTableReader maps the rows back to records (columns, markers).
    virtual PgTableReadOptions read_options(const TargetCollection &t, uint32_t dim) const;
    virtual SearchShape search_shape(const TargetCollection &t) const;
    // The space the vector index and the client's query use (a cosine-only client: cosine).
    virtual Space search_space(Space collection_space) const { return collection_space; }
    // The operator class a vector index needs for the client's query to use it.
    std::string index_opclass(const TargetCollection &t, Space collection_space, uint32_t dim) const;
    // Why the rows' ids do not read back as `id_prefix` says they should (langchain's "<collection>:"
    // prefix: on every row, or on none); nullopt when they do. `command` is named in the advice.
    virtual std::optional<std::string> id_mismatch(PgConnection &pg, const TargetCollection &t,
                                                   const CollectionInfo &c, bool id_prefix,
                                                   std::string_view command) const;
    // Warnings for the collections the target holds that none of `cols` is (deleted in Chroma since?).
    virtual std::vector<std::string> unknown_collections(PgConnection &pg, const std::string &schema,
                                                         const std::vector<CollectionInfo> &cols) const;
    // migrate's plan for collection `c` (its dimension known from the source or a sample) of `rows` rows, given
    // the options the run's sink gets: the table and the index statements the run then issues.
    virtual LayoutPlan plan(PgConnection &pg, const CollectionInfo &c, const LayoutOptions &o, uint64_t rows) const = 0;
    // --dry-run's size estimate. The metadata JSON the layout stores for record i (empty: NULL); by default
    // a framework's (chroma2pg's markers included), or the record's own when the run would refuse it.
    virtual std::string sized_metadata(const RecordBatch &s, size_t i) const;
    // Record i's row, given its stored metadata and the vector's stored bytes.
    virtual SizedRow sized_row(const RecordBatch &s, size_t i, const StoredValue &metadata, uint32_t vector_bytes,
                               const std::string &collection, bool id_prefix) const = 0;
    virtual MetadataGin metadata_gin(const IndexOptions &) const { return MetadataGin::none; }
    // The btree indexes on the key and the client's own: (kind, estimated bytes).
    virtual std::vector<std::pair<std::string, uint64_t>> key_index_sizes(const std::vector<uint32_t> &keys,
                                                                          uint64_t rows) const {
        return {{"primary key", estimate_btree(keys, rows)}};
    }
    // What the app pastes to open the collection with its framework's store; nullopt for native (any SQL
    // client: sql/ has the queries).
    virtual std::optional<ClientConfig> client_config(const std::string &schema, const std::string &table,
                                                      const CollectionInfo &c) const;
    // The collection's vector index on `table` (unqualified) whose embedding column is `col` (of `dim`
    // dimensions), for `rows` rows: what plan() lists and what the layout's sink builds (LayoutSink::index_plan();
    // native's are native_indexes()). DataError when the collection is too wide to index.
    virtual VectorIndexPlan vector_index(const std::string &schema, const std::string &table, const CollectionInfo &c,
                                         const VectorColumn &col, uint32_t dim, const IndexOptions &index,
                                         uint64_t rows) const;
    // migrate: the sink that publishes a staged collection into the layout's tables in one transaction;
    // nullptr for native, whose staging table is indexed and swapped in (finalize_collection).
    virtual std::unique_ptr<LayoutSink> make_sink(PgConnection &pg, const LayoutOptions &o) const;

    // sync, in one transaction: new and changed records are staged in a temporary table of the layout's own
    // columns, then applied. The native layout's rows are encoded by its applier (NativeSyncApplier), so
    // it has no encode_staged_row (std::logic_error).
    // Taken first: what keeps a concurrent sync or migrate of the same rows out (langchain's shared table).
    virtual void lock_for_sync(PgConnection &pg, const TargetCollection &t) const;
    // The staging table's columns, in encode_staged_row's order, and its CREATE TEMP TABLE.
    virtual std::string staged_columns(const TargetCollection &t) const;
    virtual std::string create_staging_sql(const TargetCollection &t, const std::string &staging) const;
    // Appends record i as one COPY tuple of the staging table; DataError when it cannot be stored without loss.
    virtual void encode_staged_row(CopyBinaryBuffer &buf, const TargetCollection &t, const RecordBatch &b, size_t i,
                                   const std::string &collection) const;
    // Writes the staged rows over the collection's (new and changed records).
    virtual void apply_staged(PgConnection &pg, const TargetCollection &t, const CollectionInfo &c,
                              const std::string &staging) const;
    // After the records: what else of the collection follows the source (langchain: its metadata).
    virtual void after_sync(PgConnection &pg, const TargetCollection &t, const CollectionInfo &c) const;

protected:
    // Appends the collection's vector_index() on p.table (its column of type `col`: the table's when it exists) to
    // the plan, or why there is none.
    void plan_vector_index_into(LayoutPlan &p, const CollectionInfo &c, const LayoutOptions &o, const VectorColumn &col,
                                uint64_t rows) const;
    // The rows of `listing` (id, name, …) that are none of `cols` (by id or by name).
    static std::vector<int> unknown_rows(const PgResult &listing, const std::vector<CollectionInfo> &cols);
    // A framework table's rows: its own id column, no uri or digest column, chroma2pg's markers in metadata.
    PgTableReadOptions framework_read_options(const TargetCollection &t, uint32_t dim) const;
};

// A record's metadata as JSON text for sizing; empty when none, or when it cannot be stored (NaN…).
std::string sized_record_metadata(const Metadata &m);

// Every layout's TargetLayout, by its --layout value.
const TargetLayout &target_layout(Layout l);
const TargetLayout &native_target_layout();
// The indexes the native layout builds on `table` (its primary key, the vector index unless there is
// none, the metadata GIN when asked): what --dry-run prints for the collection's table and what
// finalize_collection() runs on the staging table, then renames. A collection too wide to index:
// the reason is appended to `problems`, or thrown (DataError) when `problems` is null.
std::vector<PlannedIndex> native_indexes(const std::string &schema, const std::string &table, const CollectionInfo &c,
                                         const IndexOptions &index, uint64_t rows, bool halfvec,
                                         std::vector<std::string> *problems);
const TargetLayout &langchain_target_layout();
const TargetLayout &table_target_layout(Layout l); // a TableLayout's

// The native table named in the registry, with its embedding column's type.
TargetCollection native_target(PgConnection &pg, const std::string &schema, const std::string &table);

// The id a Chroma record has in the target table (langchain with the prefix: "<collection>:<id>").
std::string target_row_id(const TargetCollection &t, const std::string &chroma_id);

} // namespace c2p
