#include "target/layout_target.hpp"

#include <fmt/format.h>

#include "target/langchain_layout.hpp"
#include "target/native_layout.hpp"
#include "target/table_layout.hpp"

namespace c2p {

std::string TargetCollection::qualified_table() const { return qualified(schema, table); }

std::string TargetCollection::describe() const {
    std::string d = schema + "." + table;
    if (!where.empty()) d += " (" + where + ")";
    return d;
}

TargetCollection native_target(PgConnection &pg, const std::string &schema, const std::string &table) {
    TargetCollection t;
    t.layout = Layout::native;
    t.schema = schema;
    t.table = table;
    t.has_digest = true;
    if (auto ty = existing_column_type(pg, schema, table, "embedding"))
        if (auto c = parse_vector_type(*ty)) t.column = *c;
    return t;
}

std::optional<TargetCollection> locate_layout_target(PgConnection &pg, Layout layout, const std::string &schema,
                                                     const CollectionInfo &c, bool langchain_id_prefix) {
    TargetCollection t;
    t.layout = layout;
    t.schema = schema;
    if (layout == Layout::langchain) {
        auto exists = pg.scalar("SELECT to_regclass($1) IS NOT NULL", {qualified(schema, kLangchainCollections)});
        if (exists != "t") return std::nullopt;
        // By uuid first: a collection recreated under the same name has a new id.
        auto r = pg.exec_params("SELECT uuid::text FROM " + qualified(schema, kLangchainCollections) +
                                    " WHERE uuid::text = $1 OR name = $2 ORDER BY (uuid::text = $1) DESC LIMIT 1",
                                {c.id, c.name});
        if (r.rows() == 0) return std::nullopt;
        t.collection_uuid = r.text(0, 0);
        t.table = kLangchainEmbeddings;
        t.where = langchain_collection_predicate(t.collection_uuid);
        if (langchain_id_prefix) t.id_prefix = langchain_row_id(c.name, "", true);
        auto col = existing_vector_column(pg, schema, t.table, "embedding");
        if (!col) t.table.clear(); // registered (an empty collection) but no embedding table yet
        else t.column = *col;
        return t;
    }
    if (const TableLayout *tl = find_table_layout(layout)) {
        // A folded name may hold another collection (chroma2pg's comment says which): then the hashed one.
        for (bool taken : {false, true}) {
            if (taken && !tl->fold_name) break;
            std::string table = table_layout_table(*tl, c.name, taken);
            auto col = existing_vector_column(pg, schema, table, tl->embedding_column);
            if (!col || (tl->fold_name && table_layout_owned_by_other(pg, schema, table, c))) continue;
            t.table = table;
            t.column = *col;
            t.id_column = tl->id_column;
            t.where = tl->rows_predicate;
            t.metadata_type = existing_column_type(pg, schema, table, tl->metadata_column).value_or("jsonb");
            return t;
        }
        return std::nullopt;
    }
    return std::nullopt;
}

PgTableReadOptions read_options(const TargetCollection &t, uint32_t dim) {
    PgTableReadOptions o;
    o.schema = t.schema;
    o.table = t.table;
    o.dim = dim;
    o.where = t.where;
    o.halfvec = t.column.halfvec;
    if (t.layout == Layout::native) return o;
    o.id_column = t.id_column;
    o.uri_column.clear();
    o.digest_column.clear();
    o.framework_markers = true;
    o.id_prefix = t.id_prefix;
    if (const TableLayout *tl = find_table_layout(t.layout)) {
        tl->read_mapping(o);
        o.metadata_json = t.metadata_type == "json";
    } else if (t.layout == Layout::langchain) {
        o.metadata_column = "cmetadata";
    }
    return o;
}

std::string target_row_id(const TargetCollection &t, const std::string &chroma_id) { return t.id_prefix + chroma_id; }

} // namespace c2p
