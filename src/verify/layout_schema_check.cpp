#include "verify/layout_schema_check.hpp"

#include <fmt/format.h>

#include "target/langchain_layout.hpp"
#include "target/native_layout.hpp"
#include "target/table_layout.hpp"
#include "verify/registry_check.hpp"

namespace c2p {
namespace {

struct Column {
    std::string name, type;
    bool not_null = false;
    std::string default_expr;
};

std::vector<Column> table_columns(PgConnection &pg, const std::string &qt) {
    auto r = pg.exec("SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                     "coalesce(pg_get_expr(d.adbin, d.adrelid), '') FROM pg_attribute a LEFT JOIN pg_attrdef d ON "
                     "d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = " +
                     quote_literal(qt) + "::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum");
    std::vector<Column> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2) == "t", r.text(i, 3)});
    return out;
}

std::vector<std::string> constraint_defs(PgConnection &pg, const std::string &qt) {
    auto r = pg.exec("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = " + quote_literal(qt) +
                     "::regclass ORDER BY conname");
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
    return out;
}

std::vector<std::string> index_defs(PgConnection &pg, const std::string &qt) {
    auto r = pg.exec("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = " + quote_literal(qt) +
                     "::regclass ORDER BY indexrelid");
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
    return out;
}

// One expected column: its accepted types ("" matches the embedding check done separately).
struct Want {
    const char *name;
    std::vector<std::string> types;
    bool not_null;
};

// Compares a table's columns with what the framework creates; `embedding` is checked by the caller.
void check_columns(const std::vector<Column> &have, const std::vector<Want> &want, const std::string &n,
                   const std::string &table, const std::string &framework, SchemaCheck &sc) {
    for (const auto &w : want) {
        const Column *c = nullptr;
        for (const auto &h : have)
            if (h.name == w.name) c = &h;
        if (!c) {
            sc.failures.push_back(fmt::format("collection '{}': table {} has no column {}, which {} reads", n, table,
                                              w.name, framework));
            continue;
        }
        if (w.types.empty()) continue;
        bool ok = false;
        for (const auto &t : w.types) ok = ok || c->type == t;
        if (!ok)
            sc.failures.push_back(fmt::format("collection '{}': column {}.{} is {}, {} creates it as {}", n, table,
                                              w.name, c->type, framework, w.types.front()));
        if (c->not_null != w.not_null)
            (w.not_null ? sc.failures : sc.warnings)
                .push_back(fmt::format("collection '{}': column {}.{} is {}, {} creates it {}", n, table, w.name,
                                       c->not_null ? "NOT NULL" : "nullable", framework,
                                       w.not_null ? "NOT NULL" : "nullable"));
    }
    for (const auto &h : have) {
        bool known = false;
        for (const auto &w : want) known = known || h.name == w.name;
        if (!known)
            sc.warnings.push_back(fmt::format("collection '{}': table {} has a column {} ({}) that {} does not create", n,
                                              table, h.name, h.type, framework));
    }
}

} // namespace

SchemaCheck check_layout_schema(PgConnection &pg, const TargetCollection &t, const CollectionInfo &src) {
    SchemaCheck sc;
    const std::string &n = src.name;
    const std::string qt = t.qualified_table();
    const std::string table = t.schema + "." + t.table;
    const bool lc = t.layout == Layout::langchain;
    const TableLayout *tl = find_table_layout(t.layout);
    const std::string framework = tl ? tl->client : "LangChain's PGVector";
    sc.table_bytes = std::stoull(pg.scalar("SELECT pg_table_size(" + quote_literal(qt) + "::regclass)").value_or("0"));
    sc.column_type = t.column.sql();

    // Columns, keys and the framework's own indexes.
    const std::string vc = "character varying";
    std::vector<Want> want;
    if (tl) {
        for (const auto &c : tl->columns) want.push_back({c.name.c_str(), c.types, c.not_null});
    } else {
        const std::string qc = qualified(t.schema, kLangchainCollections);
        check_columns(table_columns(pg, qc),
                      {{"uuid", {"uuid"}, true}, {"name", {vc}, true}, {"cmetadata", {"json", "jsonb"}, false}}, n,
                      t.schema + "." + kLangchainCollections, framework, sc);
        auto ccons = constraint_defs(pg, qc);
        if (!any_contains(ccons, "PRIMARY KEY (uuid)"))
            sc.failures.push_back(fmt::format("collection '{}': {}.{} has no primary key on uuid", n, t.schema,
                                              kLangchainCollections));
        if (!any_contains(ccons, "UNIQUE (name)"))
            sc.warnings.push_back(fmt::format("collection '{}': {}.{}.name is not UNIQUE as {} creates it", n, t.schema,
                                              kLangchainCollections, framework));
        want = {{"id", {vc}, true},        {"collection_id", {"uuid"}, false}, {"embedding", {}, false},
                {"document", {vc, "text"}, false}, {"cmetadata", {"jsonb"}, false}};
    }
    auto cols = table_columns(pg, qt);
    check_columns(cols, want, n, table, framework, sc);
    auto cons = constraint_defs(pg, qt);
    auto idefs = index_defs(pg, qt);
    if (tl) {
        TableFacts facts{cons, idefs, {}};
        for (const auto &c : cols) facts.column_defaults[c.name] = c.default_expr;
        tl->check_table(facts, n, table, sc.failures, sc.warnings);
        for (const auto &w : tl->caveats(src)) sc.warnings.push_back(w);
    } else if (!any_contains(cons, "PRIMARY KEY (id)")) {
        sc.failures.push_back(fmt::format("collection '{}': table {} has no primary key on id", n, table));
    }
    if (lc) {
        bool fk = false;
        for (const auto &d : cons)
            fk = fk || (d.find("FOREIGN KEY (collection_id) REFERENCES") != std::string::npos &&
                        d.find("langchain_pg_collection(uuid) ON DELETE CASCADE") != std::string::npos);
        if (!fk)
            sc.warnings.push_back(fmt::format("collection '{}': {}.collection_id has no foreign key to "
                                              "langchain_pg_collection(uuid) ON DELETE CASCADE (deleting the "
                                              "collection in LangChain would leave its rows)",
                                              n, table));
        if (!any_contains(idefs, "USING gin (cmetadata jsonb_path_ops)"))
            sc.warnings.push_back(fmt::format("collection '{}': the GIN index ix_cmetadata_gin on {}.cmetadata is "
                                              "missing: metadata filters scan every row",
                                              n, table));
    }

    // The embedding column: the source's dimension; halfvec is allowed (compared at float16).
    std::optional<uint32_t> dim = src.dimension ? src.dimension : t.column.dim;
    if (!t.column.dim) {
        sc.warnings.push_back(fmt::format("collection '{}': {}.embedding is an untyped {} (no dimension): no vector "
                                          "index can be built on the column itself",
                                          n, table, t.column.sql()));
    } else if (src.dimension && *t.column.dim != *src.dimension) {
        sc.failures.push_back(fmt::format("collection '{}': column {}.embedding is {}, the source has {} dimensions", n,
                                          table, t.column.sql(), *src.dimension));
    }
    if (lc) {
        auto r = pg.exec_params("SELECT name, cmetadata::text FROM " + qualified(t.schema, kLangchainCollections) +
                                    " WHERE uuid::text = $1",
                                {t.collection_uuid});
        if (t.collection_uuid != src.id)
            sc.warnings.push_back(fmt::format("collection '{}': {}.{} has it under uuid {}, the source's id is {} (the "
                                              "collection was recreated in the source?)",
                                              n, t.schema, kLangchainCollections, t.collection_uuid, src.id));
        if (r.rows() == 1) {
            const std::string where = t.schema + "." + kLangchainCollections;
            if (r.text(0, 0) != src.name)
                sc.failures.push_back(fmt::format("collection '{}': {} has it under the name '{}' (renamed in the source "
                                                  "after the migration, or the row was edited)",
                                                  n, where, r.text(0, 0)));
            // cmetadata is json (its text as written): parsed as is, 1 vs 1.0 and null values kept.
            nlohmann::ordered_json have;
            bool parsed = true;
            if (!r.is_null(0, 1)) {
                have = nlohmann::ordered_json::parse(r.text(0, 1), nullptr, false);
                parsed = !have.is_discarded();
            }
            if (!parsed)
                sc.failures.push_back(fmt::format("collection '{}': {}.cmetadata is not valid JSON", n, where));
            else
                compare_registry_field(n, where, "cmetadata", src.metadata, have, sc.failures);
        }
    }

    // The vector index: this collection's, with the operator class the framework's query uses.
    if (!dim) return sc;
    std::vector<VectorIndexInfo> found = vector_indexes(pg, qt);
    std::string name = tl ? tl->vector_index_name(t.table) : langchain_vector_index_name(t.collection_uuid);
    std::vector<VectorIndexInfo> mine;
    for (const auto &ix : found) {
        bool partial = ix.definition.find(" WHERE ") != std::string::npos;
        if (ix.name == name || !partial || ix.definition.find(t.collection_uuid.empty() ? "\x01" : t.collection_uuid) !=
                                               std::string::npos)
            mine.push_back(ix);
    }
    const std::string want_opclass = target_layout(t.layout).index_opclass(t, src.space, *dim);
    const bool want_expr = !t.column.halfvec && *dim > kMaxVectorIndexDims;
    const std::string expr = fmt::format("::halfvec({})", *dim);
    for (const auto &ix : mine)
        if (ix.valid && ix.opclass == want_opclass &&
            (!want_expr || ix.definition.find(expr) != std::string::npos) && !sc.index)
            sc.index = ix;
    if (!sc.index && !mine.empty()) sc.index = mine.front();
    if (mine.empty()) {
        if (*dim <= kMaxHalfvecIndexDims)
            sc.warnings.push_back(fmt::format("collection '{}': no vector index on {} for it (migrated with --index "
                                              "none?): {} searches are exact full scans; chroma2pg builds {} with {}",
                                              n, table, framework, name, want_opclass));
        return sc;
    }
    const VectorIndexInfo &ix = *sc.index;
    if (!ix.valid)
        sc.failures.push_back(fmt::format("collection '{}': vector index {} is not valid: REINDEX it", n, ix.name));
    else if (ix.opclass != want_opclass)
        sc.failures.push_back(fmt::format("collection '{}': vector index {} uses {}, but {} searches this collection "
                                          "with {}, which needs {}: the index cannot serve its queries",
                                          n, ix.name, ix.opclass, framework,
                                          space_operator(tl ? tl->search_space(src.space) : lc ? src.space : Space::cosine),
                                          want_opclass));
    else if (want_expr && ix.definition.find(expr) == std::string::npos)
        sc.failures.push_back(fmt::format("collection '{}': vector index {} is not on the expression (embedding{}) "
                                          "that {} dimensions need",
                                          n, ix.name, expr, *dim));
    return sc;
}

} // namespace c2p
