// Framework target layouts (every --layout but native): the tables the frameworks' own stores read,
// so an app switches stores with a configuration change (table_layout.hpp: the one-table ones).
// The `native` layout stays in pgvector_sink; docs/layouts.md describes every choice made here.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/record.hpp"
#include "core/sink.hpp"
#include "target/copy_binary.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"

namespace c2p {

class TargetLayout;

// native and langchain have sinks of their own; each value from first_table_layout on is a TableLayout,
// by its position in table_layout_registry() (table_layout.hpp; llamaindex first).
enum class Layout : int { native, langchain, llamaindex, first_table_layout = llamaindex };
Layout parse_layout(const std::string &s); // UsageError on anything else
const char *layout_name(Layout l);
// Every --layout value, for the options' checks and help.
const std::vector<std::string> &layout_names();

struct LayoutOptions {
    std::string schema = "public";
    IndexOptions index;
    bool halfvec = false;             // store halfvec(dim) columns (half the space, float16 precision)
    bool replace = false;             // reload a collection that is already there
    bool langchain_id_prefix = false; // langchain: ids become "<collection>:<id>" (ids collide across collections)
    std::string target;               // the connection string: a second session reports index-build progress
    std::vector<std::string> source_names; // every collection of the source: folded table names must not collide
    int jobs = 1; // parallel maintenance workers for the index build: jobs - 1
};

// Metadata key set to true when a Chroma record had no document: both frameworks need a string
// (LlamaIndex `text NOT NULL`, LangChain `Document.page_content: str`), so the document becomes ''.
constexpr const char *kDocumentNullKey = "_chroma_document_null";
// Metadata key holding the Chroma uri (neither framework has a column for it), only when there is one.
constexpr const char *kUriKey = "_chroma_uri";
// Mastra has no document column: its convention is the chunk's text in metadata "text".
constexpr const char *kDocumentTextKey = "text";
// What the metadata carries of the document: the null marker (the document column is NOT NULL),
// nothing (the column is nullable), or the document itself under kDocumentTextKey.
enum class DocumentInMetadata { null_marker, none, text };

// An embedding column's pgvector type: vector or halfvec, with or without a dimension.
struct VectorColumn {
    bool halfvec = false;
    std::optional<uint32_t> dim;
    std::string sql() const; // "vector(768)", "halfvec(3072)", "vector"
};
// Parses format_type() output; nullopt when it is not vector/halfvec.
std::optional<VectorColumn> parse_vector_type(const std::string &format_type);
// The column's type when the table exists, nullopt when it does not; DataError when not a vector type.
std::optional<VectorColumn> existing_vector_column(PgConnection &pg, const std::string &schema, const std::string &table,
                                                   const std::string &column);
// The same, for loading collection `c` into it: DataError "collection '…' has N dimensions but
// schema.table.column is vector(M)<advice>" when the column's dimension is not the collection's.
std::optional<VectorColumn> existing_vector_column_for(PgConnection &pg, const std::string &schema,
                                                       const std::string &table, const std::string &column,
                                                       const CollectionInfo &c, const std::string &advice);
// format_type() of any column ("json", "jsonb"…), nullopt when absent.
std::optional<std::string> existing_column_type(PgConnection &pg, const std::string &schema, const std::string &table,
                                                const std::string &column);

// How a collection's vectors are indexed, and how a query must be written to use that index.
struct VectorIndexPlan {
    std::string name;        // the index's
    std::string sql;         // CREATE INDEX …, empty when no index applies
    std::string order_expr;  // "embedding" or "(embedding::halfvec(3072))"
    std::string param_type;  // "vector(768)", "halfvec(3072)": the query vector's cast
    std::string opclass;
    bool on_column = true;   // false: an expression index, which a framework's own `embedding <op> $1` does not use
};
// `where`: partial-index predicate (LangChain's shared table), empty for none. DataError above 4,000 dims.
VectorIndexPlan plan_vector_index(const std::string &qualified_table, const std::string &index_name,
                                  const VectorColumn &col, uint32_t dim, Space space, const IndexOptions &o,
                                  uint64_t rows, const std::string &where, const std::string &collection,
                                  const std::string &column = "embedding");
// A framework layout sink: one transaction per collection (DDL, binary COPY, index, ANALYZE, COMMIT).
// The base owns the transaction, the COPY stream and the finish/abort tail; a layout says its DDL
// (prepare), how a record becomes a COPY tuple (encode_row), and which index to build. migrate feeds
// it the collection's checkpointed staging table (commands/publish_layout.hpp), whose records were checked
// (and their rejects listed) on the way in.
class LayoutSink : public Sink {
public:
    // `layout`: the layout whose tables it loads, which says the vector index to build (vector_index()).
    LayoutSink(PgConnection &pg, LayoutOptions o, const TargetLayout &layout);
    ~LayoutSink() override;
    void begin(const CollectionInfo &c) final;
    void write(const RecordBatch &batch) final;
    void finish() final;
    void abort() noexcept final;
    // Runs the collection's DDL and checks in a transaction it rolls back: refuses (UsageError) a
    // collection already migrated without --replace, or a table of another dimension, before any load.
    // Returns the table the collection would go to.
    std::string check_target(const CollectionInfo &c);
    // Called in the load's transaction just before its COMMIT, so that what it writes commits with the rows.
    void before_commit(std::function<void(PgConnection &)> fn) { before_commit_ = std::move(fn); }
    const std::string &table_name() const { return table_; }
    uint64_t rows_written() const { return rows_; }
    double index_seconds() const { return index_seconds_; }

protected:
    // In the open transaction: create or check the tables, clear the collection's old rows, set col_
    // and table_. Returns the COPY statement of the load, or "" when there is nothing to load into
    // (an empty collection of unknown dimension and no table yet).
    virtual std::string prepare() = 0;
    // Appends record i of b to buf_ as one COPY tuple (write() has checked the record).
    virtual void encode_row(const RecordBatch &b, size_t i) = 0;
    // After the COPY ended, before the index: move staged rows in place (langchain).
    virtual void after_copy() {}
    // The vector index to build now, the layout's vector_index() (the one --dry-run plans) for the rows written;
    // nullopt when none applies (no dimension known).
    virtual std::optional<VectorIndexPlan> index_plan();
    // What to tell the user when the index is on an expression the framework's query does not use.
    virtual std::string expression_index_advice(const VectorIndexPlan &p) const = 0;
    // Tables to ANALYZE before the commit.
    virtual std::vector<std::string> analyze_tables() const = 0;

    PgConnection &pg_;
    LayoutOptions o_;
    const TargetLayout &layout_;
    CollectionInfo info_;
    VectorColumn col_;
    std::string table_;
    CopyBinaryBuffer buf_;
    uint64_t rows_ = 0;
    bool checking_ = false; // in check_target(): prepare() says nothing (the load itself warns)

private:
    std::function<void(PgConnection &)> before_commit_;
    double index_seconds_ = 0;
    bool in_tx_ = false, in_copy_ = false;
};

// A framework layout's sink; nullptr for native (pgvector_sink's RangeLoader loads it).
std::unique_ptr<LayoutSink> make_layout_sink(const std::string &layout, PgConnection &pg, const LayoutOptions &o);

// A k-NN query that uses the plan's index: $1 the query vector as text, $2 k; `filter` an extra SQL predicate.
std::string layout_search_sql(const std::string &qualified_table, const VectorIndexPlan &p, Space space,
                              const std::string &select_list, const std::string &filter);

// Appends the record's vector as the column's type; DataError when a value cannot be a float16.
void append_vector(CopyBinaryBuffer &buf, const VectorColumn &col, const RecordBatch &b, size_t i,
                   const std::string &collection);
// Metadata JSON for a framework row: Chroma's metadata with types kept, plus kDocumentNullKey for a
// null document and kUriKey for a uri. Empty string: SQL NULL (no metadata, a document, no uri).
// DataError when the metadata already has one of those keys (the row could not be read back exactly).
std::string framework_metadata_json(const RecordBatch &b, size_t i,
                                    DocumentInMetadata doc = DocumentInMetadata::null_marker);
// The reverse, for a row read back from a framework table: kUriKey (a string) becomes the uri,
// kDocumentNullKey = true with the text '' becomes a null document; both keys leave the metadata.
// With doc_in_text, a string kDocumentTextKey becomes the document (Mastra).
void framework_row_to_record(std::optional<std::string> &document, std::optional<std::string> &uri, Metadata &meta,
                             bool doc_in_text = false);

} // namespace c2p
