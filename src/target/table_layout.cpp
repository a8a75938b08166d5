#include "target/table_layout.hpp"

#include <fmt/format.h>

#include "target/pg_table_reader.hpp"
#include "target/table_names.hpp"
#include "target/target_layout.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {

// Each layout's definition, in its own <name>_layout.cpp: adding a layout is that file and a line here.
const TableLayout &llamaindex_layout(), &langchainjs_layout(), &llamaindex_ts_layout(), &mastra_layout(),
    &pgvectorstore_layout();

const std::vector<const TableLayout *> &table_layout_registry() {
    static const std::vector<const TableLayout *> all = {
        &llamaindex_layout(), &langchainjs_layout(), &llamaindex_ts_layout(), &mastra_layout(), &pgvectorstore_layout(),
    };
    return all;
}

const TableLayout &table_layout_named(const std::string &name) {
    const TableLayout *tl = find_table_layout(parse_layout(name));
    if (!tl) throw UsageError("--layout " + name + " is not a one-table layout");
    return *tl;
}

const TableLayout *find_table_layout(Layout l) {
    const auto &all = table_layout_registry();
    const int i = static_cast<int>(l) - static_cast<int>(Layout::first_table_layout);
    return i >= 0 && size_t(i) < all.size() ? all[size_t(i)] : nullptr;
}

std::string table_layout_table(const TableLayout &tl, const std::string &name, bool taken) {
    if (!tl.fold_name) return tl.table_name(name);
    std::string f;
    for (char ch : name) {
        if (ch >= 'A' && ch <= 'Z') f += static_cast<char>(ch - 'A' + 'a');
        else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_') f += ch;
        else f += '_';
    }
    if (f.empty() || (f[0] >= '0' && f[0] <= '9')) f.insert(0, "c_");
    if (!taken && f.size() <= tl.max_table_bytes) return f;
    std::string h = "_" + short_hash(name);
    f.resize(std::min(f.size(), tl.max_table_bytes - h.size()));
    return f + h;
}

std::string table_layout_comment(const CollectionInfo &c) {
    return fmt::format("chroma2pg: Chroma collection \"{}\"", c.name);
}

std::vector<std::string> TableLayout::caveats(const CollectionInfo &c) const {
    std::vector<std::string> out;
    if (cosine_only && c.space != Space::cosine)
        out.push_back(fmt::format("collection '{}' uses the {} space but {} always searches by cosine distance: the "
                                  "index is built for cosine; nearest neighbours differ from Chroma's unless the "
                                  "vectors are normalised",
                                  c.name, space_name(c.space), client));
    return out;
}

bool any_contains(const std::vector<std::string> &defs, const std::string &needle) {
    for (const auto &d : defs)
        if (d.find(needle) != std::string::npos) return true;
    return false;
}

void TableLayout::check_table(const TableFacts &f, const std::string &collection, const std::string &table,
                              std::vector<std::string> &failures, std::vector<std::string> &warnings) const {
    (void)failures;
    // The Chroma id is unique: a key on it (Mastra: unique per namespace).
    bool unique = false;
    for (const auto &d : f.indexes)
        unique = unique || (d.find("UNIQUE INDEX") != std::string::npos &&
                            (d.find("(" + id_column + ")") != std::string::npos ||
                             d.find(", " + id_column + ")") != std::string::npos));
    if (!unique)
        warnings.push_back(fmt::format("collection '{}': table {} has no unique index on {}: the same Chroma id could "
                                       "be stored twice",
                                       collection, table, id_column));
}

std::string TableLayout::copy_columns() const {
    std::string s = quote_ident(id_column);
    if (document != DocumentStore::metadata_text) s += ", " + quote_ident(document_column);
    return s + ", " + quote_ident(metadata_column) + ", " + quote_ident(embedding_column);
}

void TableLayout::encode_row(CopyBinaryBuffer &buf, const VectorColumn &col, bool json_column, const RecordBatch &b,
                             size_t i, const std::string &collection) const {
    const bool doc_column = document != DocumentStore::metadata_text;
    buf.begin_tuple(doc_column ? 4 : 3);
    buf.text_field(b.ids[i]);
    const auto &doc = b.documents[i];
    if (document == DocumentStore::empty_with_marker) buf.text_field(doc ? std::string_view(*doc) : std::string_view());
    else if (document == DocumentStore::nullable) {
        if (doc) buf.text_field(*doc);
        else buf.null_field();
    }
    std::string meta;
    try {
        meta = framework_metadata_json(b, i, metadata_document());
    } catch (const DataError &e) {
        throw DataError(fmt::format("collection '{}': {} (--layout {})", collection, e.what(), name));
    }
    if (meta.empty() && empty_metadata_object) meta = "{}";
    if (meta.empty()) buf.null_field();
    else if (json_column) buf.text_field(meta); // json's binary form is its text
    else buf.jsonb_field(meta);
    append_vector(buf, col, b, i, collection);
}

std::vector<std::pair<std::string, uint64_t>> TableLayout::key_index_sizes(const std::vector<uint32_t> &id_keys,
                                                                           uint64_t rows) const {
    return {{"primary key", estimate_btree(id_keys, rows)}};
}

void TableLayout::read_mapping(PgTableReadOptions &o) const {
    o.id_column = id_column;
    o.document_column = document == DocumentStore::metadata_text ? "" : document_column;
    o.metadata_column = metadata_column;
    o.embedding_column = embedding_column;
    o.uri_column.clear();
    o.digest_column.clear();
    o.framework_markers = true;
    o.document_in_metadata = document == DocumentStore::metadata_text;
}

// ---- the load

namespace {
// The Chroma collection a table's comment names, nullopt when the table has none of ours.
std::optional<std::string> table_comment(PgConnection &pg, const std::string &schema, const std::string &table) {
    return pg.scalar("SELECT obj_description(to_regclass($1), 'pg_class')", {qualified(schema, table)});
}
} // namespace

bool table_layout_owned_by_other(PgConnection &pg, const std::string &schema, const std::string &table,
                                 const CollectionInfo &c) {
    auto comment = table_comment(pg, schema, table);
    return comment && comment->rfind("chroma2pg: ", 0) == 0 && *comment != table_layout_comment(c);
}

std::string table_layout_target_table(PgConnection &pg, const TableLayout &tl, const std::string &schema,
                                      const CollectionInfo &c, const std::vector<std::string> &source_names) {
    std::string table = table_layout_table(tl, c.name);
    if (!tl.fold_name) return table;
    bool taken = table_layout_owned_by_other(pg, schema, table, c);
    for (const auto &other : source_names)
        taken = taken || (other != c.name && table_layout_table(tl, other) == table);
    return taken ? table_layout_table(tl, c.name, true) : table;
}

std::optional<VectorColumn> table_layout_existing_column(PgConnection &pg, const TableLayout &tl,
                                                         const std::string &schema, const std::string &table,
                                                         const CollectionInfo &c) {
    return existing_vector_column_for(pg, schema, table, tl.embedding_column, c,
                                      "; drop the table or pass --schema to migrate elsewhere");
}

std::string TableLayoutSink::prepare() {
    const CollectionInfo &c = info_;
    const std::string &s = o_.schema;
    ensure_schema(pg_, s);
    table_ = table_layout_target_table(pg_, tl_, s, c, o_.source_names);
    if (!checking_)
        for (const auto &w : tl_.caveats(c)) log::warn("layout_caveat", w, {{"collection", c.name}});
    const std::string qt = qualified(s, table_);
    if (auto existing = table_layout_existing_column(pg_, tl_, s, table_, c)) {
        col_ = *existing;
        json_column_ = existing_column_type(pg_, s, table_, tl_.metadata_column).value_or("jsonb") == "json";
        auto n = pg_.scalar("SELECT count(*) FROM " + qt);
        if (n && *n != "0" && !o_.replace)
            throw UsageError(fmt::format("already migrated: '{}' ({}.{}, {} rows); pass --replace to reload it from the "
                                         "source, or run `chroma2pg sync --layout {}` to apply only the changes",
                                         c.name, s, table_, *n, tl_.name));
        pg_.exec("TRUNCATE " + qt + " RESTART IDENTITY");
    } else {
        // vector(n) needs n: an empty collection of unknown dimension gets an untyped column.
        col_ = VectorColumn{o_.halfvec, c.dimension};
        pg_.exec(tl_.create_table_sql(s, table_, col_.sql()));
        json_column_ = tl_.metadata_json;
    }
    for (const auto &sql : tl_.secondary_index_sql(s, table_, c.name)) pg_.exec(sql);
    pg_.exec("COMMENT ON TABLE " + qt + " IS " + quote_literal(table_layout_comment(c)));
    // The vector index is rebuilt after the load: one build instead of an insert per row.
    pg_.exec("DROP INDEX IF EXISTS " + qualified(s, tl_.vector_index_name(table_)));
    return "COPY " + qt + " (" + tl_.copy_columns() + ") FROM STDIN WITH (FORMAT BINARY)";
}

void TableLayoutSink::encode_row(const RecordBatch &b, size_t i) {
    tl_.encode_row(buf_, col_, json_column_, b, i, info_.name);
}

std::string TableLayoutSink::expression_index_advice(const VectorIndexPlan &p) const {
    return fmt::format("collection '{}': the index is on {}; {}'s own query orders by `{}` and will not use it (exact "
                       "search). {}, or query with ORDER BY {} <=> $1::{}",
                       info_.name, p.order_expr, tl_.client, tl_.embedding_column, tl_.halfvec_advice(), p.order_expr,
                       p.param_type);
}

std::vector<std::string> TableLayoutSink::analyze_tables() const { return {qualified(o_.schema, table_)}; }

// ---- reading back

namespace {

// A table layout's rows of a collection: the table its client names after it (folded, or hashed when the
// folded name holds another collection).
class TableTargetLayout final : public TargetLayout {
public:
    TableTargetLayout(Layout l, const TableLayout &tl) : l_(l), tl_(tl) {}
    Layout layout() const override { return l_; }
    std::optional<TargetCollection> locate(PgConnection &pg, const std::string &schema, const CollectionInfo &c,
                                           bool) const override {
        for (bool taken : {false, true}) {
            if (taken && !tl_.fold_name) break;
            std::string table = table_layout_table(tl_, c.name, taken);
            auto col = existing_vector_column(pg, schema, table, tl_.embedding_column);
            if (!col || (tl_.fold_name && table_layout_owned_by_other(pg, schema, table, c))) continue;
            TargetCollection t;
            t.layout = l_;
            t.schema = schema;
            t.table = table;
            t.column = *col;
            t.id_column = tl_.id_column;
            t.where = tl_.rows_predicate;
            t.metadata_type = existing_column_type(pg, schema, table, tl_.metadata_column).value_or("jsonb");
            return t;
        }
        return std::nullopt;
    }
    std::string not_found(const std::string &schema, const CollectionInfo &c) const override {
        return fmt::format("no table {}.{}", schema, table_layout_table(tl_, c.name));
    }
    LayoutPlan plan(PgConnection &pg, const CollectionInfo &c, const LayoutOptions &o, uint64_t rows) const override {
        const std::string &schema = o.schema;
        LayoutPlan p;
        p.table = table_layout_target_table(pg, tl_, schema, c, o.source_names);
        p.load = "published into the layout's tables in one transaction (indexes, ANALYZE)";
        const std::string qt = qualified(schema, p.table);
        VectorColumn col{o.halfvec, c.dimension}; // the sink's, when it creates the table
        if (relation_exists(pg, schema, p.table)) {
            p.existing_rows = std::stoull(pg.scalar("SELECT count(*) FROM " + qt).value_or("0"));
            try {
                if (auto existing = table_layout_existing_column(pg, tl_, schema, p.table, c)) col = *existing;
            } catch (const DataError &e) {
                p.problems.push_back(e.what());
            }
        }
        p.exists = p.existing_rows > 0;
        p.indexes.push_back({p.table + "_pkey", "primary key", "btree", "PRIMARY KEY (" + tl_.primary_key + ")", "", ""});
        for (const auto &sql : tl_.secondary_index_sql(schema, p.table, c.name)) {
            // CREATE [UNIQUE] INDEX IF NOT EXISTS "<name>" ON …: the first quoted identifier.
            size_t a = sql.find('"') + 1, b = sql.find('"', a);
            p.indexes.push_back({sql.substr(a, b - a), "client's own", "btree", sql, "", ""});
        }
        plan_vector_index_into(p, c, o, col, rows);
        return p;
    }
    PgTableReadOptions read_options(const TargetCollection &t, uint32_t dim) const override {
        PgTableReadOptions o = framework_read_options(t, dim);
        tl_.read_mapping(o);
        o.metadata_json = t.metadata_type == "json";
        return o;
    }
    SearchShape search_shape(const TargetCollection &t) const override {
        SearchShape s;
        // Every row chroma2pg wrote holds the client's constant (collection 'data', namespace 'default'); with it
        // in the query a forced index plan would take the btree index on that column instead.
        (void)t;
        s.id_expr = quote_ident(tl_.id_column);
        s.embedding_column = tl_.embedding_column;
        s.metadata_expr = quote_ident(tl_.metadata_column);
        if (tl_.cosine_only) s.index_space = Space::cosine;
        return s;
    }
    Space search_space(Space collection_space) const override { return tl_.search_space(collection_space); }
    // Sized as LlamaIndex's row (bigserial id, text, metadata, node_id, embedding) for every one-table layout.
    SizedRow sized_row(const RecordBatch &s, size_t i, const StoredValue &metadata, uint32_t vector_bytes,
                       const std::string &, bool) const override {
        const auto &doc = s.documents[i];
        return {{fixed_value(8, 8), text_value(doc ? *doc : ""), metadata, text_value(s.ids[i]), external_value(vector_bytes)},
                text_key_bytes(s.ids[i].size())}; // the table layouts' key is the id
    }
    std::vector<std::pair<std::string, uint64_t>> key_index_sizes(const std::vector<uint32_t> &keys,
                                                                  uint64_t rows) const override {
        return tl_.key_index_sizes(keys, rows);
    }
    std::optional<ClientConfig> client_config(const std::string &schema, const std::string &table,
                                              const CollectionInfo &c) const override {
        auto cfg = tl_.client_config(schema, table, c);
        return ClientConfig{tl_.client, cfg, tl_.snippet(cfg)};
    }
    VectorIndexPlan vector_index(const std::string &schema, const std::string &table, const CollectionInfo &c,
                                 const VectorColumn &col, uint32_t dim, const IndexOptions &index,
                                 uint64_t rows) const override {
        return plan_vector_index(qualified(schema, table), tl_.vector_index_name(table), col, dim,
                                 tl_.search_space(c.space), index.for_collection(c), rows, "", c.name,
                                 tl_.embedding_column);
    }
    std::unique_ptr<LayoutSink> make_sink(PgConnection &pg, const LayoutOptions &o) const override {
        return std::make_unique<TableLayoutSink>(pg, o, tl_, *this);
    }
    std::string staged_columns(const TargetCollection &) const override { return tl_.copy_columns(); }
    std::string create_staging_sql(const TargetCollection &t, const std::string &staging) const override {
        // The staged rows have the layout's own columns and types.
        return "CREATE TEMP TABLE " + staging + " ON COMMIT DROP AS SELECT " + tl_.copy_columns() + " FROM " +
               t.qualified_table() + " WITH NO DATA";
    }
    void encode_staged_row(CopyBinaryBuffer &buf, const TargetCollection &t, const RecordBatch &b, size_t i,
                           const std::string &collection) const override {
        tl_.encode_row(buf, t.column, t.metadata_type == "json", b, i, collection);
    }
    void apply_staged(PgConnection &pg, const TargetCollection &t, const CollectionInfo &,
                      const std::string &staging) const override {
        // Replaced rather than updated: Mastra's key is (namespace, vector_id), LlamaIndex TS's id has defaults,
        // LlamaIndex's node_id has no key (a changed record's row(s) are replaced).
        const std::string qt = t.qualified_table(), idc = quote_ident(t.id_column), cols = tl_.copy_columns();
        pg.exec("DELETE FROM " + qt + " t USING " + staging + " s WHERE t." + idc + " = s." + idc +
                (t.where.empty() ? "" : " AND t." + t.where));
        pg.exec("INSERT INTO " + qt + " (" + cols + ") SELECT " + cols + " FROM " + staging);
    }

private:
    Layout l_;
    const TableLayout &tl_;
};

} // namespace

const TargetLayout &table_target_layout(Layout l) {
    static const std::vector<TableTargetLayout> all = [] {
        std::vector<TableTargetLayout> v;
        const auto &reg = table_layout_registry();
        for (size_t i = 0; i < reg.size(); ++i)
            v.emplace_back(static_cast<Layout>(static_cast<int>(Layout::first_table_layout) + int(i)), *reg[i]);
        return v;
    }();
    const size_t i = static_cast<size_t>(static_cast<int>(l) - static_cast<int>(Layout::first_table_layout));
    if (static_cast<int>(l) < static_cast<int>(Layout::first_table_layout) || i >= all.size())
        throw std::logic_error("table_target_layout: not a table layout");
    return all[i];
}

} // namespace c2p
