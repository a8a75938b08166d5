#include "verify/schema_check.hpp"

#include <fmt/format.h>

#include "target/layout_sink.hpp"
#include "target/native_layout.hpp"
#include "util/error.hpp"
#include "verify/registry_check.hpp"

namespace c2p {
namespace {

RegistryRow row_from(const PgResult &r, int i) {
    RegistryRow rr;
    rr.id = r.text(i, 0);
    rr.name = r.text(i, 1);
    rr.table_name = r.text(i, 2);
    if (!r.is_null(i, 3)) rr.dimension = static_cast<uint32_t>(std::stoul(r.text(i, 3)));
    rr.space = r.text(i, 4);
    rr.index_method = r.opt(i, 5).value_or("");
    rr.migrated_at = r.opt(i, 6).value_or("");
    if (!r.is_null(i, 7)) rr.record_count = std::stoll(r.text(i, 7));
    rr.source = r.opt(i, 8).value_or("");
    rr.table_exists = r.text(i, 9) == "t";
    rr.embedding_type = r.opt(i, 10).value_or("vector");
    // Parsed as stored, so verify sees what was written: jsonb keeps 1 vs 1.0 and null values.
    auto parse = [&](int col, const char *what) {
        if (r.is_null(i, col)) return nlohmann::ordered_json();
        try {
            return nlohmann::ordered_json::parse(r.text(i, col));
        } catch (const nlohmann::json::exception &e) {
            throw DataError(fmt::format("chroma_collections.{} of '{}' is not valid JSON: {}", what, rr.name, e.what()));
        }
    };
    rr.metadata = parse(11, "metadata");
    rr.configuration = parse(12, "configuration");
    return rr;
}

std::string registry_select(const std::string &schema) {
    return "SELECT id::text, name, table_name, dimension, space, index_method, "
           "to_char(migrated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), record_count, source, "
           "to_regclass(quote_ident(" + quote_literal(schema) + ") || '.' || quote_ident(table_name)) IS NOT NULL, "
           // embedding_type was added with --halfvec: a registry from before has no such column (vector).
           "to_jsonb(cc) ->> 'embedding_type', metadata::text, configuration::text FROM " +
           qualified(schema, "chroma_collections") + " cc";
}

} // namespace

std::optional<RegistryRow> lookup_registry(PgConnection &pg, const std::string &schema, const std::string &id,
                                           const std::string &name) {
    if (!relation_exists(pg, schema, "chroma_collections")) return std::nullopt;
    // By id first: a collection recreated under the same name has a new id.
    auto r = pg.exec_params(registry_select(schema) + " WHERE id::text = $1 OR name = $2 ORDER BY (id::text = $1) DESC",
                            {id, name});
    if (r.rows() == 0) return std::nullopt;
    return row_from(r, 0);
}

std::vector<RegistryRow> all_registry_rows(PgConnection &pg, const std::string &schema) {
    std::vector<RegistryRow> out;
    if (!relation_exists(pg, schema, "chroma_collections")) return out;
    auto r = pg.exec(registry_select(schema) + " ORDER BY name");
    for (int i = 0; i < r.rows(); ++i) out.push_back(row_from(r, i));
    return out;
}

nlohmann::ordered_json SchemaCheck::to_json() const {
    nlohmann::ordered_json j = {{"ok", failures.empty()}, {"column_type", column_type}, {"table_bytes", table_bytes}};
    if (index)
        j["index"] = {{"name", index->name},       {"method", index->method}, {"opclass", index->opclass},
                      {"valid", index->valid},     {"bytes", index->bytes},   {"options", index->options},
                      {"definition", index->definition}};
    else
        j["index"] = nullptr;
    j["failures"] = failures;
    j["warnings"] = warnings;
    return j;
}

std::vector<VectorIndexInfo> vector_indexes(PgConnection &pg, const std::string &qt) {
    auto r = pg.exec("SELECT c.relname, am.amname, i.indisvalid AND i.indisready, opc.opcname, "
                     "pg_get_indexdef(i.indexrelid), pg_relation_size(i.indexrelid), "
                     "coalesce(array_to_string(c.reloptions, ','), '') "
                     "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
                     "JOIN pg_opclass opc ON opc.oid = i.indclass[0] WHERE i.indrelid = " +
                     quote_literal(qt) + "::regclass AND am.amname IN ('hnsw', 'ivfflat') ORDER BY c.relname");
    std::vector<VectorIndexInfo> found;
    for (int i = 0; i < r.rows(); ++i)
        found.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 3), r.text(i, 4), r.text(i, 6), r.text(i, 2) == "t",
                         std::stoull(r.text(i, 5))});
    return found;
}

SchemaCheck check_schema(PgConnection &pg, const std::string &schema, const CollectionInfo &src,
                         const RegistryRow &reg) {
    SchemaCheck sc;
    const std::string &n = src.name;
    const std::string where = schema + ".chroma_collections";
    if (reg.name != src.name)
        sc.failures.push_back(fmt::format("collection '{}': {} has it under the name '{}' (renamed in the source after "
                                          "the migration, or the registry was edited)",
                                          n, where, reg.name));
    compare_registry_field(n, where, "metadata", src.metadata, reg.metadata, sc.failures);
    compare_registry_field(n, where, "configuration", src.configuration, reg.configuration, sc.failures);
    if (reg.dimension != src.dimension)
        sc.failures.push_back(fmt::format("collection '{}': registry dimension {} differs from the source's {}", n,
                                          reg.dimension ? std::to_string(*reg.dimension) : "NULL",
                                          src.dimension ? std::to_string(*src.dimension) : "(unknown: no records)"));
    if (reg.space != space_name(src.space))
        sc.failures.push_back(fmt::format("collection '{}': registry space '{}' differs from the source's '{}'", n,
                                          reg.space, space_name(src.space)));
    if (!reg.table_exists) {
        sc.failures.push_back(fmt::format("collection '{}': table {}.{} named in the registry does not exist", n, schema,
                                          reg.table_name));
        return sc;
    }
    if (reg.id != src.id)
        sc.warnings.push_back(fmt::format("collection '{}': registry id {} differs from the source's {} (the collection "
                                          "was recreated in the source?)", n, reg.id, src.id));
    std::string qt = qualified(schema, reg.table_name);
    sc.table_bytes = std::stoull(pg.scalar("SELECT pg_table_size(" + quote_literal(qt) + "::regclass)").value_or("0"));
    sc.column_type = pg.scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = " +
                               quote_literal(qt) + "::regclass AND attname = 'embedding' AND NOT attisdropped")
                         .value_or("");
    std::optional<uint32_t> dim = src.dimension ? src.dimension : reg.dimension;
    const bool half_column = reg.embedding_type == "halfvec";
    std::string want_type = VectorColumn{half_column, dim}.sql();
    if (sc.column_type != want_type)
        sc.failures.push_back(fmt::format("collection '{}': column {}.embedding is {}, expected {}", n, reg.table_name,
                                          sc.column_type.empty() ? "missing" : sc.column_type, want_type));
    auto pk = pg.scalar("SELECT count(*) FROM pg_index WHERE indrelid = " + quote_literal(qt) +
                        "::regclass AND indisprimary");
    if (!pk || *pk == "0")
        sc.warnings.push_back(fmt::format("collection '{}': table {} has no primary key on id", n, reg.table_name));

    std::vector<VectorIndexInfo> found = vector_indexes(pg, qt);
    bool half = half_column || (dim && *dim > kMaxVectorIndexDims);
    std::string want_opclass = space_opclass(src.space, half);
    bool expected = reg.index_method != "none" && dim && *dim <= kMaxHalfvecIndexDims;
    for (const auto &ix : found)
        if (ix.opclass == want_opclass && ix.valid && (!sc.index || sc.index->opclass != want_opclass)) sc.index = ix;
    if (!sc.index && !found.empty()) sc.index = found.front();
    if (expected) {
        std::string method = reg.index_method.empty() ? "hnsw or ivfflat" : reg.index_method;
        if (found.empty())
            sc.failures.push_back(fmt::format("collection '{}': the vector index is missing on {} (expected {} with {}); "
                                              "searches fall back to a full scan",
                                              n, reg.table_name, method, want_opclass));
        else if (!sc.index->valid)
            sc.failures.push_back(fmt::format("collection '{}': vector index {} is not valid (an interrupted CREATE "
                                              "INDEX CONCURRENTLY?): REINDEX it",
                                              n, sc.index->name));
        else if (sc.index->opclass != want_opclass)
            sc.failures.push_back(fmt::format("collection '{}': vector index {} uses {}, but the collection's space "
                                              "'{}' needs {}: searches with the space's operator cannot use it",
                                              n, sc.index->name, sc.index->opclass, space_name(src.space), want_opclass));
        else if (!reg.index_method.empty() && sc.index->method != reg.index_method)
            sc.warnings.push_back(fmt::format("collection '{}': index {} is {} but the registry says {}", n,
                                              sc.index->name, sc.index->method, reg.index_method));
    } else if (found.empty()) {
        sc.warnings.push_back(fmt::format("collection '{}': no vector index (migrated with --index none, or too many "
                                          "dimensions): searches are exact full scans",
                                          n));
    }
    return sc;
}

} // namespace c2p
