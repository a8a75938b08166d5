#include "target/native_layout.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "target/layout_sink.hpp"
#include "target/search_settings.hpp"
#include "target/sql_params.hpp"
#include "target/table_names.hpp"
#include "target/target_layout.hpp"
#include "util/error.hpp"

namespace c2p {

IndexMethod parse_index_method(const std::string &s) {
    if (s == "hnsw") return IndexMethod::hnsw;
    if (s == "ivfflat") return IndexMethod::ivfflat;
    if (s == "none") return IndexMethod::none;
    throw UsageError("--index: expected hnsw, ivfflat or none, not '" + s + "'");
}

namespace {

// Why CREATE EXTENSION vector failed, from the role's real rights: a superuser is never told to become
// one, and a right that is missing is named with the GRANT that gives it.
std::string pgvector_create_hint(PgConnection &pg) {
    std::optional<std::string> super, can_create, trusted;
    try {
        auto r = pg.exec("SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
                         "has_database_privilege(current_user, current_database(), 'CREATE'), "
                         "(SELECT bool_or(trusted) FROM pg_available_extension_versions WHERE name = 'vector'), "
                         "current_user, current_database()");
        super = r.opt(0, 0);
        can_create = r.opt(0, 1);
        trusted = r.opt(0, 2);
        if (super == "t")
            return "the role is a superuser, so its rights are not the cause: see the server's message (a read-only "
                   "transaction or standby? pgvector's files on the server incomplete, its library missing? then "
                   "reinstall it, Debian: postgresql-15-pgvector)";
        std::string grant = "GRANT CREATE ON DATABASE " + quote_ident(r.text(0, 4)) + " TO " + quote_ident(r.text(0, 3)) + ";";
        if (trusted == "t" && can_create != "t")
            return "pgvector is a trusted extension: a role with CREATE on the database may create it; as the "
                   "database's owner or a superuser run: " + grant;
        if (trusted == "t")
            return "pgvector is trusted and the role has CREATE on the database, yet it could not create the "
                   "extension: see the server's message above";
    } catch (const PgConnectionLost &) {
        throw;
    } catch (const Error &) {
        // the catalog could not be read: fall back to the general advice below
    }
    return "pgvector is installed on the server but this role is not a superuser and this pgvector build is not a "
           "trusted extension: run CREATE EXTENSION vector once as a superuser in this database (sql/init-pgvector.sql "
           "does)";
}

} // namespace

std::string ensure_pgvector(PgConnection &pg) {
    if (auto v = pg.scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'")) return *v;
    auto avail = pg.scalar("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'");
    if (!avail)
        throw EnvError("postgresql " + pg.describe() +
                       ": the pgvector extension is not installed on the server (no 'vector' in "
                       "pg_available_extensions); install it (Debian: postgresql-15-pgvector, or build pgvector "
                       "0.8.3 or newer), or use the pgvector/pgvector Docker image");
    try {
        pg.exec("CREATE EXTENSION IF NOT EXISTS vector");
    } catch (const PgConnectionLost &) {
        throw; // a restart: the caller retries
    } catch (const Error &e) {
        throw EnvError(std::string(e.what()) + "; " + pgvector_create_hint(pg));
    }
    return pg.scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'").value_or("?");
}

std::string qualified(const std::string &schema, const std::string &table) {
    return quote_ident(schema) + "." + quote_ident(table);
}

void ensure_schema(PgConnection &pg, const std::string &schema) {
    if (pg.scalar("SELECT 1 FROM pg_namespace WHERE nspname = $1", {schema})) return;
    pg.exec("CREATE SCHEMA IF NOT EXISTS " + quote_ident(schema));
}

void ensure_schema_and_registry(PgConnection &pg, const std::string &schema) {
    ensure_schema(pg, schema);
    pg.exec("CREATE TABLE IF NOT EXISTS " + qualified(schema, "chroma_collections") +
            " (id uuid PRIMARY KEY, name text UNIQUE NOT NULL, table_name text NOT NULL, dimension int,"
            " space text NOT NULL, metadata jsonb, configuration jsonb, source text, migrated_at timestamptz,"
            " record_count bigint, index_method text)");
    // bad_records: what --on-bad-record / --escape-nul did ({rejected, escaped, reject_file}); NULL when nothing.
    pg.exec("ALTER TABLE " + qualified(schema, "chroma_collections") + " ADD COLUMN IF NOT EXISTS bad_records jsonb");
    // embedding_type: 'vector' (float32, bit-exact) or 'halfvec' (--halfvec: float16); NULL in older rows = vector.
    pg.exec("ALTER TABLE " + qualified(schema, "chroma_collections") + " ADD COLUMN IF NOT EXISTS embedding_type text");
}

std::optional<RegisteredCollection> find_registered(PgConnection &pg, const std::string &schema,
                                                    const std::string &id, const std::string &name) {
    auto r = pg.exec_params("SELECT id::text, name, table_name, space, dimension FROM " +
                                qualified(schema, "chroma_collections") + " WHERE id::text = $1 OR name = $2",
                            {id, name});
    if (r.rows() == 0) return std::nullopt;
    RegisteredCollection rc{r.text(0, 0), r.text(0, 1), r.text(0, 2), r.text(0, 3), std::nullopt, -1};
    if (!r.is_null(0, 4)) rc.dimension = static_cast<uint32_t>(std::stoul(r.text(0, 4)));
    if (relation_exists(pg, schema, rc.table_name)) rc.rows = std::stoll(*pg.scalar("SELECT count(*) FROM " + qualified(schema, rc.table_name)));
    return rc;
}

std::optional<std::string> registered_table_clash(PgConnection &pg, const std::string &schema, const std::string &table,
                                                  const CollectionInfo &c) {
    auto r = pg.exec_params("SELECT name FROM " + qualified(schema, "chroma_collections") +
                                " WHERE table_name = $1 AND id::text <> $2 AND name <> $3",
                            {table, c.id, c.name});
    if (r.rows() == 0) return std::nullopt;
    return "collection '" + c.name + "': its table name " + table + " is already used by collection '" + r.text(0, 0) + "'";
}

bool relation_exists(PgConnection &pg, const std::string &schema, const std::string &name) {
    return pg.scalar("SELECT to_regclass($1) IS NOT NULL", {qualified(schema, name)}) == "t";
}

std::string create_table_sql(const std::string &schema, const std::string &table, std::optional<uint32_t> dim,
                             bool halfvec) {
    std::string base = halfvec ? "halfvec" : "vector";
    std::string type = dim ? fmt::format("{}({})", base, *dim) : base;
    // digest: the record's content digest at load time, so `sync` can tell what changed.
    // id COLLATE "C": ids are identifiers that Chroma compares byte by byte; a locale's collation
    // only slows the primary key (a third of its build time for random ids), ties its order to the
    // C library's version, and keeps `ORDER BY id COLLATE "C"` (verify, sync) off the index.
    return "CREATE TABLE " + qualified(schema, table) + " (id text COLLATE \"C\" NOT NULL, embedding " + type +
           " NOT NULL, document text, uri text, metadata jsonb, digest bytea NOT NULL)";
}

const char *space_operator(Space s) {
    switch (s) {
    case Space::l2: return "<->";
    case Space::ip: return "<#>";
    case Space::cosine: return "<=>";
    }
    return "<->";
}

std::string space_opclass(Space s, bool halfvec) {
    std::string base = halfvec ? "halfvec" : "vector";
    switch (s) {
    case Space::l2: return base + "_l2_ops";
    case Space::ip: return base + "_ip_ops";
    case Space::cosine: return base + "_cosine_ops";
    }
    return base + "_l2_ops";
}

IndexOptions IndexOptions::for_collection(const CollectionInfo &c) const {
    IndexOptions o = *this;
    auto p = chroma_hnsw_params(c);
    // pgvector's bounds: m 2..100, ef_construction 4..1000 and at least 2 * m.
    if (!hnsw_m_given) o.hnsw_m = std::clamp(p.m, 2, 100);
    if (!hnsw_ef_construction_given) o.hnsw_ef_construction = std::clamp(p.ef_construction, 4, 1000);
    if (o.hnsw_ef_construction < 2 * o.hnsw_m) o.hnsw_ef_construction = 2 * o.hnsw_m;
    return o;
}

uint64_t ivfflat_lists(const IndexOptions &o, uint64_t rows) {
    return o.ivfflat_lists > 0 ? static_cast<uint64_t>(o.ivfflat_lists)
           : rows <= 1000000   ? std::max<uint64_t>(1, rows / 1000)
                               : static_cast<uint64_t>(std::sqrt(static_cast<double>(rows)));
}

std::string create_vector_index_sql(const std::string &schema, const std::string &table, const std::string &index_name,
                                    const CollectionInfo &c, const IndexOptions &given, uint64_t rows, bool halfvec_column) {
    if (!c.dimension) return "";
    // The one place index SQL is written (plan_vector_index), as for every other layout.
    return plan_vector_index(qualified(schema, table), index_name, VectorColumn{halfvec_column, c.dimension}, *c.dimension,
                             c.space, given.for_collection(c), rows, "", c.name)
        .sql;
}

namespace {

// The native layout as verify and sync read it: the registry names each collection's table.
class NativeTargetLayout final : public TargetLayout {
public:
    Layout layout() const override { return Layout::native; }
    bool has_registry() const override { return true; }
    bool takes_index_choice() const override { return true; }
    bool builds_side_by_side() const override { return true; }
    std::optional<TargetCollection> locate(PgConnection &pg, const std::string &schema, const CollectionInfo &c,
                                           bool) const override {
        if (!relation_exists(pg, schema, "chroma_collections"))
            return std::nullopt;
        // By id first: a collection recreated under the same name has a new id.
        auto r = pg.exec_params("SELECT table_name, id::text FROM " + qualified(schema, "chroma_collections") +
                                    " WHERE id::text = $1 OR name = $2 ORDER BY (id::text = $1) DESC LIMIT 1",
                                {c.id, c.name});
        if (r.rows() == 0) return std::nullopt;
        TargetCollection t = native_target(pg, schema, r.text(0, 0));
        t.collection_uuid = r.text(0, 1);
        t.table_exists = relation_exists(pg, schema, t.table);
        return t;
    }
    std::string sized_metadata(const RecordBatch &s, size_t i) const override {
        return sized_record_metadata(s.metadatas[i]);
    }
    SizedRow sized_row(const RecordBatch &s, size_t i, const StoredValue &metadata, uint32_t vector_bytes,
                       const std::string &, bool) const override {
        const auto &doc = s.documents[i];
        const auto &uri = s.uris[i];
        return {{text_value(s.ids[i]), external_value(vector_bytes), doc ? text_value(*doc) : null_value(),
                 uri ? text_value(*uri) : null_value(), metadata, varlena_value(16)},
                text_key_bytes(s.ids[i].size())};
    }
    MetadataGin metadata_gin(const IndexOptions &index) const override {
        return index.metadata_gin ? MetadataGin::ops : MetadataGin::none;
    }
    // sync stages whole rows of the table (the applier compares the stored digests) and upserts them.
    static constexpr const char *kRowColumns = "id, embedding, document, uri, metadata, digest";
    std::string staged_columns(const TargetCollection &) const override { return kRowColumns; }
    std::string create_staging_sql(const TargetCollection &t, const std::string &staging) const override {
        return "CREATE TEMP TABLE " + staging + " (LIKE " + t.qualified_table() + ") ON COMMIT DROP";
    }
    void apply_staged(PgConnection &pg, const TargetCollection &t, const CollectionInfo &,
                      const std::string &staging) const override {
        pg.exec("INSERT INTO " + t.qualified_table() + " (" + kRowColumns + ") SELECT " + kRowColumns + " FROM " +
                staging + " ON CONFLICT (id) DO UPDATE SET "
                "embedding = EXCLUDED.embedding, document = EXCLUDED.document, uri = EXCLUDED.uri, metadata = "
                "EXCLUDED.metadata, digest = EXCLUDED.digest");
    }
    void after_sync(PgConnection &pg, const TargetCollection &t, const CollectionInfo &c) const override {
        // The collection's metadata and configuration follow the source's, as its records do (verify compares them).
        pg.exec_params("UPDATE " + qualified(t.schema, "chroma_collections") + " SET record_count = (SELECT count(*) FROM " +
                           t.qualified_table() + "), metadata = $2::jsonb, configuration = $3::jsonb WHERE id::text = $1",
                       {t.collection_uuid, json_or_null(c.metadata), json_or_null(c.configuration)});
    }
    std::string not_found(const std::string &schema, const CollectionInfo &) const override {
        return fmt::format("no row in {}.chroma_collections", schema);
    }
    LayoutPlan plan(PgConnection &pg, const CollectionInfo &c, const LayoutOptions &o, uint64_t rows) const override {
        const std::string &schema = o.schema;
        LayoutPlan p;
        p.table = derive_table_name(c.name);
        p.load = "indexed, then swapped in for the table in one transaction";
        if (relation_exists(pg, schema, "chroma_collections")) {
            if (auto clash = registered_table_clash(pg, schema, p.table, c)) p.problems.push_back(*clash);
            if (auto r = find_registered(pg, schema, c.id, c.name); r && r->rows >= 0) {
                p.exists = true;
                p.existing_rows = uint64_t(r->rows);
            }
        }
        p.indexes = native_indexes(schema, p.table, c, o.index, rows, o.halfvec, &p.problems);
        return p;
    }
    std::vector<std::string> unknown_collections(PgConnection &pg, const std::string &schema,
                                                 const std::vector<CollectionInfo> &cols) const override {
        std::vector<std::string> out;
        if (!relation_exists(pg, schema, "chroma_collections"))
            return out;
        auto r = pg.exec("SELECT id::text, name, table_name FROM " + qualified(schema, "chroma_collections") +
                         " ORDER BY name");
        for (int i : unknown_rows(r, cols))
            out.push_back(fmt::format("the target has collection '{}' (table {}) that the source does not have "
                                      "(deleted in Chroma after the migration?)",
                                      r.text(i, 1), r.text(i, 2)));
        return out;
    }
};

} // namespace

std::vector<PlannedIndex> native_indexes(const std::string &schema, const std::string &table, const CollectionInfo &c,
                                         const IndexOptions &index, uint64_t rows, bool halfvec,
                                         std::vector<std::string> *problems) {
    std::vector<PlannedIndex> out;
    const std::string qt = qualified(schema, table), pk = fit_identifier(table, "_pkey");
    // The primary key is built after the load: one sort instead of a btree insert per row.
    out.push_back({pk, "primary key", "btree",
                   "ALTER TABLE " + qt + " ADD CONSTRAINT " + quote_ident(pk) + " PRIMARY KEY (id)", "", ""});
    const std::string vname = fit_identifier(table, "_embedding_idx");
    const uint32_t dim = c.dimension.value_or(0);
    const bool half_index = halfvec || dim > kMaxVectorIndexDims;
    try {
        if (auto sql = create_vector_index_sql(schema, table, vname, c, index, rows, halfvec); !sql.empty())
            out.push_back({vname, "vector", index.method == IndexMethod::hnsw ? "hnsw" : "ivfflat", sql,
                           space_opclass(c.space, half_index),
                           half_index && !halfvec ? fmt::format("(embedding::halfvec({}))", dim) : "embedding"});
    } catch (const DataError &e) { // too wide to index: a plan says so and goes on
        if (!problems) throw;
        problems->push_back(e.what());
    }
    const std::string gname = fit_identifier(table, "_metadata_idx");
    if (index.metadata_gin)
        out.push_back({gname, "gin", "gin", "CREATE INDEX " + quote_ident(gname) + " ON " + qt + " USING gin (metadata)",
                       "", ""});
    return out;
}

const TargetLayout &native_target_layout() {
    static const NativeTargetLayout l;
    return l;
}

} // namespace c2p
