// The framework layouts that keep one table per Chroma collection, read by a framework's own store
// (`--layout llamaindex|langchainjs|llamaindex-ts|mastra|pgvectorstore`). What differs between them is data —
// the table's name and columns, how a document travels, the DDL, the vector index's name, the
// configuration the app pastes — so each is one file that fills a TableLayout, plus one line in
// table_layout_registry(); its name is then a --layout value. Loading, reading back (verify), applying
// changes (sync) and planning (--dry-run) are shared. docs/layouts.md says what each stores and why.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/record.hpp"
#include "target/layout_sink.hpp"
#include "target/table_names.hpp"

namespace c2p {

struct PgTableReadOptions;

// Where a record's document goes.
enum class DocumentStore {
    empty_with_marker, // a NOT NULL text column: '' plus kDocumentNullKey for a record without one
    nullable,          // a nullable text column: NULL stays NULL
    metadata_text,     // no document column: the metadata key "text", absent for no document (Mastra)
};

// What verify found on a table, for a layout's own checks (TableLayout::check_table).
struct TableFacts {
    std::vector<std::string> constraints, indexes;      // pg_get_constraintdef, pg_get_indexdef
    std::map<std::string, std::string> column_defaults; // column name -> its default expression
};
// Whether any of `defs` (constraint or index definitions) contains `needle`.
bool any_contains(const std::vector<std::string> &defs, const std::string &needle);

// One column the framework's store reads, as verify checks it.
struct LayoutColumn {
    std::string name;
    std::vector<std::string> types; // format_type() values accepted; empty: checked elsewhere (the embedding)
    bool not_null = false;
};

class TableLayout {
public:
    virtual ~TableLayout() = default;
    std::string name;   // the --layout value
    std::string client; // the store that reads it, with the version it was proven against
    std::string id_column = "id", document_column, metadata_column = "metadata", embedding_column = "embedding";
    std::string primary_key = "id"; // the table's key column (Mastra: its serial id; the Chroma id is vector_id)
    bool metadata_json = false;       // the metadata column is json, not jsonb
    bool empty_metadata_object = false; // no metadata is '{}' (the client's default), not NULL
    DocumentStore document = DocumentStore::empty_with_marker;
    bool cosine_only = false;         // the client always searches by cosine distance
    bool fold_name = false;           // the client cannot quote: the table name is folded to [a-z0-9_]
    size_t max_table_bytes = 63;      // mastra: its index name "<table>_vector_idx" must fit too
    std::string rows_predicate;       // the rows the client reads ("namespace = 'default'"), empty: all
    std::vector<LayoutColumn> columns; // every column the client reads or writes

    // The table of a collection as the client names it, before fold_name folds it: the name as is, cut to
    // 63 bytes as PostgreSQL cuts it (the client's name ends up the same).
    virtual std::string table_name(const std::string &collection) const { return pg_identifier(collection); }
    // CREATE TABLE for the collection (IF NOT EXISTS), and the client's own secondary indexes.
    virtual std::string create_table_sql(const std::string &schema, const std::string &table,
                                         const std::string &vector_type) const = 0;
    virtual std::vector<std::string> secondary_index_sql(const std::string &schema, const std::string &table,
                                                         const std::string &collection) const {
        (void)schema, (void)table, (void)collection;
        return {};
    }
    // The vector index's name, as the client looks for it (or as chroma2pg names it).
    virtual std::string vector_index_name(const std::string &table) const = 0;
    // The object the app passes to the client (its names, distance, dimensions), and the same as code.
    virtual nlohmann::ordered_json client_config(const std::string &schema, const std::string &table,
                                                 const CollectionInfo &c) const = 0;
    virtual std::string snippet(const nlohmann::ordered_json &config) const = 0;
    // Said at migrate time and by verify about a collection (e.g. a space the client cannot search with).
    virtual std::vector<std::string> caveats(const CollectionInfo &c) const;
    // How the app gets an index its query uses when the vectors are too wide for one on the column itself.
    virtual std::string halfvec_advice() const {
        return "Rerun with --halfvec (a halfvec column the client's query uses as is)";
    }
    // verify's checks of what the client relies on in the table's keys and indexes; by default a unique
    // index on the Chroma id.
    virtual void check_table(const TableFacts &f, const std::string &collection, const std::string &table,
                             std::vector<std::string> &failures, std::vector<std::string> &warnings) const;

    // --dry-run's size of the btree indexes on the key and the client's own, (kind, bytes), from the
    // sampled records' id keys; by default the primary key on the Chroma id.
    virtual std::vector<std::pair<std::string, uint64_t>> key_index_sizes(const std::vector<uint32_t> &id_keys,
                                                                          uint64_t rows) const;

    // What framework_metadata_json carries of the document for this layout.
    DocumentInMetadata metadata_document() const {
        return document == DocumentStore::empty_with_marker ? DocumentInMetadata::null_marker
               : document == DocumentStore::metadata_text   ? DocumentInMetadata::text
                                                            : DocumentInMetadata::none;
    }
    // The space the vector index and the client's query use.
    Space search_space(Space collection_space) const { return cosine_only ? Space::cosine : collection_space; }
    // The COPY column list of a load, in encode_row's order.
    std::string copy_columns() const;
    // Appends record i as one COPY tuple; DataError when it cannot be stored without loss.
    // json_column: the table's metadata column is json (its binary form is its text).
    void encode_row(CopyBinaryBuffer &buf, const VectorColumn &col, bool json_column, const RecordBatch &b, size_t i,
                    const std::string &collection) const;
    // How PgTableReader maps this layout's rows back (columns, markers).
    void read_mapping(PgTableReadOptions &o) const;
};

// The table layouts; nullptr for native and langchain (their own sinks).
const TableLayout *find_table_layout(Layout l);
const std::vector<const TableLayout *> &table_layout_registry();

// The table of collection `c`: the Chroma name as is (quoted by the client), or folded for a client
// that cannot quote; `taken` says whether a folded name already belongs to another collection, and
// then a short hash of the Chroma name keeps the two apart.
std::string table_layout_table(const TableLayout &tl, const std::string &collection_name, bool taken = false);
// The COMMENT chroma2pg puts on a table layout's table: which Chroma collection it holds, so that
// verify and sync find it again and a folded name is never mistaken for another collection's.
std::string table_layout_comment(const CollectionInfo &c);
// The table has chroma2pg's comment naming another collection (a folded name that is not this one's).
bool table_layout_owned_by_other(PgConnection &pg, const std::string &schema, const std::string &table,
                                 const CollectionInfo &c);
// The table migrate loads collection `c` into: its folded name, hashed when that name holds another
// collection or another of `source_names` folds alike. The sink and --dry-run's plan both ask this.
std::string table_layout_target_table(PgConnection &pg, const TableLayout &tl, const std::string &schema,
                                      const CollectionInfo &c, const std::vector<std::string> &source_names);
// The table's embedding column when the table exists (nullopt when not); DataError when its dimension is not
// the collection's.
std::optional<VectorColumn> table_layout_existing_column(PgConnection &pg, const TableLayout &tl,
                                                         const std::string &schema, const std::string &table,
                                                         const CollectionInfo &c);

// Each layout's definition (one file each), e.g. mastra_layout().
const TableLayout &table_layout_named(const std::string &name); // UsageError when there is none

// The generic load of a table layout: one transaction per collection, as the other framework layouts.
class TableLayoutSink : public LayoutSink {
public:
    TableLayoutSink(PgConnection &pg, LayoutOptions o, const TableLayout &tl, const TargetLayout &layout)
        : LayoutSink(pg, std::move(o), layout), tl_(tl) {}

protected:
    std::string prepare() override;
    void encode_row(const RecordBatch &b, size_t i) override;
    std::string expression_index_advice(const VectorIndexPlan &p) const override;
    std::vector<std::string> analyze_tables() const override;

private:
    const TableLayout &tl_;
    bool json_column_ = false;
};

} // namespace c2p
