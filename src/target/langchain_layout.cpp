#include "target/langchain_layout.hpp"

#include <fmt/format.h>

#include "target/sql_params.hpp"
#include "target/target_layout.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {
constexpr const char *kCollections = kLangchainCollections;
constexpr const char *kEmbeddings = kLangchainEmbeddings;
// Staging table: ids are checked against the global `id` key before anything reaches the real table.
constexpr const char *kStage = "c2p_langchain_stage";
} // namespace

std::string langchain_collection_table_sql(const std::string &schema) {
    return "CREATE TABLE IF NOT EXISTS " + qualified(schema, kCollections) +
           " (uuid UUID NOT NULL, name VARCHAR NOT NULL, cmetadata JSON, PRIMARY KEY (uuid), UNIQUE (name))";
}

std::string langchain_embedding_table_sql(const std::string &schema, const VectorColumn &col) {
    return "CREATE TABLE IF NOT EXISTS " + qualified(schema, kEmbeddings) + " (id VARCHAR NOT NULL, collection_id UUID, embedding " +
           col.sql() + ", document VARCHAR, cmetadata JSONB, PRIMARY KEY (id), FOREIGN KEY (collection_id) REFERENCES " +
           qualified(schema, kCollections) + " (uuid) ON DELETE CASCADE)";
}

std::string langchain_gin_index_sql(const std::string &schema) {
    return "CREATE INDEX IF NOT EXISTS ix_cmetadata_gin ON " + qualified(schema, kEmbeddings) +
           " USING gin (cmetadata jsonb_path_ops)";
}

std::optional<VectorColumn> langchain_existing_column(PgConnection &pg, const std::string &schema, const CollectionInfo &c) {
    return existing_vector_column_for(pg, schema, kEmbeddings, "embedding", c,
                                      ": one LangChain table holds one dimension; migrate this collection into "
                                      "another --schema (its own langchain tables)");
}

std::string langchain_vector_index_name(const std::string &uuid) {
    std::string hex;
    for (char ch : uuid)
        if (ch != '-') hex.push_back(ch);
    return "ix_c2p_" + hex + "_embedding"; // 7 + 32 + 10 bytes: within 63
}

std::string langchain_collection_predicate(const std::string &uuid) {
    return "collection_id = " + quote_literal(uuid) + "::uuid";
}

std::string langchain_row_id(const std::string &collection, const std::string &id, bool prefix) {
    // Chroma collection names never contain ':', so the first ':' splits the two back losslessly.
    return prefix ? collection + ":" + id : id;
}

void encode_langchain_row(CopyBinaryBuffer &buf, const VectorColumn &col, const RecordBatch &b, size_t i,
                          const std::string &collection, bool id_prefix) {
    buf.begin_tuple(4);
    buf.text_field(langchain_row_id(collection, b.ids[i], id_prefix));
    append_vector(buf, col, b, i, collection);
    buf.text_field(b.documents[i] ? std::string_view(*b.documents[i]) : std::string_view());
    std::string meta = framework_metadata_json(b, i);
    if (meta.empty()) buf.null_field();
    else buf.jsonb_field(meta);
}

std::string LangchainSink::prepare() {
    const CollectionInfo &c = info_;
    const std::string &s = o_.schema;
    have_table_ = false;
    // Two runs creating the shared tables at once must not race.
    pg_.exec("SELECT pg_advisory_xact_lock(hashtext('chroma2pg:langchain:' || " + quote_literal(s) + "))");
    ensure_schema(pg_, s);
    pg_.exec(langchain_collection_table_sql(s));

    auto existing = langchain_existing_column(pg_, s, c);
    if (existing) {
        col_ = *existing;
        if (!checking_ && col_.halfvec != o_.halfvec)
            log::warn("layout_column", fmt::format("{}.{}.embedding already exists as {}; loading into it as is{}", s,
                                                   kEmbeddings, col_.sql(), o_.halfvec ? " (--halfvec ignored)" : ""),
                      {{"collection", c.name}});
        have_table_ = true;
    } else if (c.dimension) {
        col_ = VectorColumn{o_.halfvec, c.dimension};
        pg_.exec(langchain_embedding_table_sql(s, col_));
        pg_.exec(langchain_gin_index_sql(s));
        have_table_ = true;
    }

    // The collection is identified by Chroma's uuid and its name (UNIQUE in LangChain's table).
    auto prev = pg_.exec_params("SELECT uuid::text FROM " + qualified(s, kCollections) + " WHERE uuid::text = $1 OR name = $2",
                                {c.id, c.name});
    if (prev.rows() > 0 && have_table_ && existing) {
        auto n = pg_.scalar("SELECT count(*) FROM " + qualified(s, kEmbeddings) +
                                " WHERE collection_id IN (SELECT uuid FROM " + qualified(s, kCollections) +
                                " WHERE uuid::text = $1 OR name = $2)",
                            {c.id, c.name});
        if (n && *n != "0" && !o_.replace)
            throw UsageError(fmt::format("already migrated: '{}' ({}.{}, {} rows); pass --replace to reload it from the "
                                         "source, or run `chroma2pg sync --layout langchain` to apply only the changes",
                                         c.name, s, kEmbeddings, *n));
    }
    // Replacing: ON DELETE CASCADE removes the collection's old rows with it.
    pg_.exec_params("DELETE FROM " + qualified(s, kCollections) + " WHERE uuid::text = $1 OR name = $2", {c.id, c.name});
    pg_.exec_params("INSERT INTO " + qualified(s, kCollections) + " (uuid, name, cmetadata) VALUES ($1::uuid, $2, $3::json)",
                    {c.id, c.name,
                     json_or_null(c.metadata)});
    if (!have_table_) return ""; // empty collection of unknown dimension: registered, nothing to load
    pg_.exec("DROP INDEX IF EXISTS " + qualified(s, langchain_vector_index_name(c.id)));
    pg_.exec(std::string("CREATE TEMP TABLE ") + kStage + " (id VARCHAR NOT NULL, embedding " + col_.sql() +
             ", document VARCHAR, cmetadata JSONB) ON COMMIT DROP");
    return std::string("COPY ") + kStage + " (id, embedding, document, cmetadata) FROM STDIN WITH (FORMAT BINARY)";
}

void LangchainSink::encode_row(const RecordBatch &b, size_t i) {
    encode_langchain_row(buf_, col_, b, i, info_.name, o_.langchain_id_prefix);
}

void LangchainSink::after_copy() {
    if (rows_ == 0) return;
    const std::string &s = o_.schema;
    // `id` is the primary key of one table shared by every collection: refuse ids another collection holds.
    auto clash = pg_.exec("SELECT count(*), string_agg(DISTINCT coalesce(c.name, '(no collection)'), ', ') FROM " +
                          std::string(kStage) + " t JOIN " + qualified(s, kEmbeddings) + " e ON e.id = t.id LEFT JOIN " +
                          qualified(s, kCollections) + " c ON c.uuid = e.collection_id");
    if (clash.text(0, 0) != "0") {
        auto few = pg_.exec("SELECT t.id FROM " + std::string(kStage) + " t JOIN " + qualified(s, kEmbeddings) +
                            " e ON e.id = t.id ORDER BY t.id LIMIT 5");
        std::string ids;
        for (int r = 0; r < few.rows(); ++r) ids += (r ? ", '" : "'") + few.text(r, 0) + "'";
        throw DataError(fmt::format(
            "collection '{}': {} id(s) already belong to collection(s) {} in {}.{}, whose id column is one key for "
            "all collections (e.g. {}); nothing of '{}' was written. Rerun with --langchain-id-prefix --restart "
            "--replace to store every collection's ids as '<collection>:<id>' (lossless), or migrate the "
            "collections into different --schema",
            info_.name, clash.text(0, 0), clash.text(0, 1), s, kEmbeddings, ids, info_.name));
    }
    pg_.exec_params("INSERT INTO " + qualified(s, kEmbeddings) +
                        " (id, collection_id, embedding, document, cmetadata) SELECT id, $1::uuid, embedding, "
                        "document, cmetadata FROM " + kStage,
                    {info_.id});
}

std::optional<VectorIndexPlan> LangchainSink::index_plan() {
    if (!have_table_) return std::nullopt;
    return LayoutSink::index_plan();
}

std::string LangchainSink::expression_index_advice(const VectorIndexPlan &p) const {
    return fmt::format("collection '{}': the index is on {} ({}); LangChain's own query orders by `embedding {} $1` "
                       "and will not use it (exact search). Rerun with --halfvec so the column itself is indexable, "
                       "or query with ORDER BY {} {} $1::{}",
                       info_.name, p.order_expr, col_.dim ? "over 2,000 dimensions" : "untyped column",
                       space_operator(info_.space), p.order_expr, space_operator(info_.space), p.param_type);
}

std::vector<std::string> LangchainSink::analyze_tables() const {
    std::vector<std::string> t;
    uint32_t dim = col_.dim ? *col_.dim : info_.dimension.value_or(0);
    if (have_table_ && dim > 0) t.push_back(qualified(o_.schema, kEmbeddings));
    t.push_back(qualified(o_.schema, kCollections));
    return t;
}

namespace {

// LangChain's rows of a collection: its langchain_pg_collection row's share of langchain_pg_embedding.
class LangchainTargetLayout final : public TargetLayout {
public:
    Layout layout() const override { return Layout::langchain; }
    bool takes_id_prefix() const override { return true; }
    std::optional<TargetCollection> locate(PgConnection &pg, const std::string &schema, const CollectionInfo &c,
                                           bool id_prefix) const override {
        if (!relation_exists(pg, schema, kLangchainCollections))
            return std::nullopt;
        // By uuid first: a collection recreated under the same name has a new id.
        auto r = pg.exec_params("SELECT uuid::text FROM " + qualified(schema, kLangchainCollections) +
                                    " WHERE uuid::text = $1 OR name = $2 ORDER BY (uuid::text = $1) DESC LIMIT 1",
                                {c.id, c.name});
        if (r.rows() == 0) return std::nullopt;
        TargetCollection t;
        t.layout = Layout::langchain;
        t.schema = schema;
        t.collection_uuid = r.text(0, 0);
        t.table = kLangchainEmbeddings;
        t.where = langchain_collection_predicate(t.collection_uuid);
        if (id_prefix) t.id_prefix = langchain_row_id(c.name, "", true);
        auto col = existing_vector_column(pg, schema, t.table, "embedding");
        if (!col) t.table.clear(); // registered (an empty collection) but no embedding table yet
        else t.column = *col;
        return t;
    }
    std::string not_found(const std::string &schema, const CollectionInfo &) const override {
        return fmt::format("no row in {}.{} with its id or name", schema, kLangchainCollections);
    }
    LayoutPlan plan(PgConnection &pg, const CollectionInfo &c, const LayoutOptions &o, uint64_t rows) const override {
        const std::string &schema = o.schema;
        LayoutPlan p;
        p.table = kLangchainEmbeddings;
        p.load = "published into the layout's tables in one transaction (indexes, ANALYZE)";
        p.shared_tables = {qualified(schema, kLangchainCollections), qualified(schema, kLangchainEmbeddings)};
        if (relation_exists(pg, schema, kLangchainCollections) && relation_exists(pg, schema, kLangchainEmbeddings))
            p.existing_rows = std::stoull(
                pg.scalar("SELECT count(*) FROM " + qualified(schema, kLangchainEmbeddings) + " WHERE collection_id IN "
                          "(SELECT uuid FROM " + qualified(schema, kLangchainCollections) + " WHERE uuid::text = $1 OR name = $2)",
                          {c.id, c.name})
                    .value_or("0"));
        p.exists = p.existing_rows > 0;
        VectorColumn col{o.halfvec, c.dimension}; // the sink's, when it creates the table
        try {
            if (auto existing = langchain_existing_column(pg, schema, c)) col = *existing;
        } catch (const DataError &e) {
            p.problems.push_back(e.what());
        }
        p.indexes.push_back({std::string(kLangchainEmbeddings) + "_pkey", "primary key", "btree", "PRIMARY KEY (id)", "", ""});
        p.indexes.push_back({"ix_cmetadata_gin", "gin", "gin", langchain_gin_index_sql(schema), "", ""});
        plan_vector_index_into(p, c, o, col, rows);
        return p;
    }
    PgTableReadOptions read_options(const TargetCollection &t, uint32_t dim) const override {
        PgTableReadOptions o = framework_read_options(t, dim);
        o.metadata_column = "cmetadata";
        return o;
    }
    SearchShape search_shape(const TargetCollection &t) const override {
        SearchShape s = TargetLayout::search_shape(t);
        s.metadata_expr = "cmetadata";
        // Chroma's ids: the stored id without its prefix (collection names are ASCII: characters = bytes).
        if (!t.id_prefix.empty())
            s.id_expr = fmt::format("CASE WHEN starts_with(id, {0}) THEN substr(id, {1}) ELSE id END",
                                    quote_literal(t.id_prefix), t.id_prefix.size() + 1);
        return s;
    }
    std::optional<std::string> id_mismatch(PgConnection &pg, const TargetCollection &t, const CollectionInfo &c,
                                           bool id_prefix, std::string_view command) const override {
        if (t.table.empty()) return std::nullopt;
        const std::string p = langchain_row_id(c.name, "", true);
        auto r = pg.exec_params("SELECT count(*) FILTER (WHERE starts_with(id, $1)), count(*) FROM " +
                                    t.qualified_table() + " WHERE " + t.where,
                                {p});
        const uint64_t with = std::stoull(r.text(0, 0)), all = std::stoull(r.text(0, 1));
        if (id_prefix && with < all)
            return fmt::format("collection '{}': {} of its {} row(s) in {} have ids without the prefix '{}'{}: it was "
                               "not migrated with --langchain-id-prefix; {} without it, or re-migrate with "
                               "--langchain-id-prefix --replace",
                               c.name, all - with, all, t.describe(), p, with ? " (a mix)" : "", command);
        if (!id_prefix && all > 0 && with == all)
            return fmt::format("collection '{}': every id in {} starts with '{}': it was migrated with "
                               "--langchain-id-prefix; {} with --langchain-id-prefix",
                               c.name, t.describe(), p, command);
        return std::nullopt;
    }
    SizedRow sized_row(const RecordBatch &s, size_t i, const StoredValue &metadata, uint32_t vector_bytes,
                       const std::string &collection, bool id_prefix) const override {
        const std::string id = langchain_row_id(collection, s.ids[i], id_prefix);
        const auto &doc = s.documents[i];
        return {{text_value(id), fixed_value(16, 1), external_value(vector_bytes), text_value(doc ? *doc : ""), metadata},
                text_key_bytes(id.size())};
    }
    MetadataGin metadata_gin(const IndexOptions &) const override { return MetadataGin::path_ops; }
    std::optional<ClientConfig> client_config(const std::string &schema, const std::string &,
                                              const CollectionInfo &c) const override {
        // langchain-postgres PGVector: the collection by name, the index's distance (DistanceStrategy values).
        nlohmann::ordered_json cfg = {{"collection_name", c.name}};
        if (c.dimension) cfg["embedding_length"] = *c.dimension;
        cfg["distance_strategy"] = c.space == Space::l2 ? "l2" : c.space == Space::ip ? "inner" : "cosine";
        cfg["use_jsonb"] = true;
        return ClientConfig{"LangChain PGVector (Python)", cfg,
                            fmt::format("PGVector(embeddings=embeddings, connection=engine, {}){}", python_kwargs(cfg),
                                        schema == "public" ? "" : "  # with search_path = " + schema)};
    }
    // Partial: each collection gets its own graph and its own space's operator class, and a query filtered on
    // collection_id (as PGVector's always is) searches only it.
    VectorIndexPlan vector_index(const std::string &schema, const std::string &table, const CollectionInfo &c,
                                 const VectorColumn &col, uint32_t dim, const IndexOptions &index,
                                 uint64_t rows) const override {
        return plan_vector_index(qualified(schema, table), langchain_vector_index_name(c.id), col, dim, c.space,
                                 index.for_collection(c), rows, langchain_collection_predicate(c.id), c.name);
    }
    std::unique_ptr<LayoutSink> make_sink(PgConnection &pg, const LayoutOptions &o) const override {
        return std::make_unique<LangchainSink>(pg, o, *this);
    }
    void lock_for_sync(PgConnection &pg, const TargetCollection &t) const override {
        pg.exec("SELECT pg_advisory_xact_lock(hashtext('chroma2pg:langchain:' || " + quote_literal(t.schema) + "))");
    }
    std::string staged_columns(const TargetCollection &) const override { return "id, embedding, document, cmetadata"; }
    std::string create_staging_sql(const TargetCollection &t, const std::string &staging) const override {
        return "CREATE TEMP TABLE " + staging + " (id VARCHAR NOT NULL, embedding " + t.column.sql() +
               ", document VARCHAR, cmetadata JSONB) ON COMMIT DROP";
    }
    void encode_staged_row(CopyBinaryBuffer &buf, const TargetCollection &t, const RecordBatch &b, size_t i,
                           const std::string &collection) const override {
        encode_langchain_row(buf, t.column, b, i, collection, !t.id_prefix.empty());
    }
    void apply_staged(PgConnection &pg, const TargetCollection &t, const CollectionInfo &c,
                      const std::string &staging) const override {
        const std::string qt = t.qualified_table();
        // The id column is one key for every collection: an id another collection holds stops the sync.
        auto clash = pg.exec_params("SELECT count(*), min(s.id), string_agg(DISTINCT coalesce(c.name, '(none)'), ', ') "
                                    "FROM " + staging + " s JOIN " + qt + " e ON e.id = s.id LEFT JOIN " +
                                        qualified(t.schema, kLangchainCollections) +
                                        " c ON c.uuid = e.collection_id WHERE e.collection_id IS DISTINCT FROM $1::uuid",
                                    {t.collection_uuid});
        if (clash.text(0, 0) != "0")
            throw DataError(fmt::format(
                "collection '{}': {} new id(s) already belong to collection(s) {} in {} (e.g. '{}'), whose id column "
                "is one key for all collections; nothing was changed. Re-migrate with --langchain-id-prefix --replace "
                "(ids become '<collection>:<id>')",
                c.name, clash.text(0, 0), clash.text(0, 2), qt, clash.text(0, 1)));
        pg.exec_params("INSERT INTO " + qt + " (id, collection_id, embedding, document, cmetadata) SELECT id, $1::uuid, "
                       "embedding, document, cmetadata FROM " + staging +
                           " ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, document = "
                           "EXCLUDED.document, cmetadata = EXCLUDED.cmetadata",
                       {t.collection_uuid});
    }
    void after_sync(PgConnection &pg, const TargetCollection &t, const CollectionInfo &c) const override {
        // The collection's metadata follows the source's, as its records do (verify compares it).
        pg.exec_params("UPDATE " + qualified(t.schema, kLangchainCollections) +
                           " SET cmetadata = $2::json WHERE uuid = $1::uuid AND cmetadata::text IS DISTINCT FROM $2",
                       {t.collection_uuid, json_or_null(c.metadata)});
    }
    std::vector<std::string> unknown_collections(PgConnection &pg, const std::string &schema,
                                                 const std::vector<CollectionInfo> &cols) const override {
        std::vector<std::string> out;
        if (!relation_exists(pg, schema, kLangchainCollections))
            return out;
        auto r = pg.exec("SELECT uuid::text, name FROM " + qualified(schema, kLangchainCollections) + " ORDER BY name");
        for (int i : unknown_rows(r, cols))
            out.push_back(fmt::format("the target has collection '{}' in {}.{} that the source does not have (deleted "
                                      "in Chroma after the migration, or the app's own)",
                                      r.text(i, 1), schema, kLangchainCollections));
        return out;
    }
};

} // namespace

const TargetLayout &langchain_target_layout() {
    static const LangchainTargetLayout l;
    return l;
}

} // namespace c2p
