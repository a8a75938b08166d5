#include "target/layout_sink.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/metadata_json.hpp"
#include "target/langchain_layout.hpp"
#include "target/llamaindex_layout.hpp"
#include "util/error.hpp"

namespace c2p {

Layout parse_layout(const std::string &s) {
    if (s == "native") return Layout::native;
    if (s == "langchain") return Layout::langchain;
    if (s == "llamaindex") return Layout::llamaindex;
    throw UsageError("--layout: expected native, langchain or llamaindex, not '" + s + "'");
}

std::unique_ptr<LayoutSink> make_layout_sink(const std::string &layout, PgConnection &pg, const LayoutOptions &o) {
    switch (parse_layout(layout)) {
    case Layout::native: return nullptr;
    case Layout::langchain: return std::make_unique<LangchainSink>(pg, o);
    case Layout::llamaindex: return std::make_unique<LlamaindexSink>(pg, o);
    }
    return nullptr;
}

std::string VectorColumn::sql() const {
    std::string t = halfvec ? "halfvec" : "vector";
    return dim ? fmt::format("{}({})", t, *dim) : t;
}

std::optional<VectorColumn> parse_vector_type(const std::string &ft) {
    VectorColumn c;
    std::string base = ft.substr(0, ft.find('('));
    if (base == "halfvec") c.halfvec = true;
    else if (base != "vector") return std::nullopt;
    if (auto p = ft.find('('); p != std::string::npos) {
        try {
            c.dim = static_cast<uint32_t>(std::stoul(ft.substr(p + 1)));
        } catch (const std::exception &) {
            return std::nullopt;
        }
    }
    return c;
}

std::optional<std::string> existing_column_type(PgConnection &pg, const std::string &schema, const std::string &table,
                                                const std::string &column) {
    return pg.scalar("SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = "
                     "to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped",
                     {qualified(schema, table), column});
}

std::optional<VectorColumn> existing_vector_column(PgConnection &pg, const std::string &schema, const std::string &table,
                                                   const std::string &column) {
    auto t = existing_column_type(pg, schema, table, column);
    if (!t) return std::nullopt;
    auto c = parse_vector_type(*t);
    if (!c)
        throw DataError(fmt::format("table {}.{} exists but its column {} is {}, not a pgvector vector/halfvec: it "
                                    "was not created by the framework this layout targets",
                                    schema, table, column, *t));
    return c;
}

VectorIndexPlan plan_vector_index(const std::string &qtable, const std::string &index_name, const VectorColumn &col,
                                  uint32_t dim, Space space, const IndexOptions &o, uint64_t rows,
                                  const std::string &where, const std::string &collection) {
    VectorIndexPlan p;
    // Which type the index is built on: the column itself when it can be, else a cast expression.
    bool half = col.halfvec || dim > kMaxVectorIndexDims;
    p.on_column = col.dim.has_value() && col.halfvec == half;
    p.param_type = fmt::format("{}({})", half ? "halfvec" : "vector", dim);
    p.order_expr = p.on_column ? "embedding" : fmt::format("(embedding::{})", p.param_type);
    p.opclass = space_opclass(space, half);
    if (o.method == IndexMethod::none) return p;
    if (o.method == IndexMethod::ivfflat && rows == 0) return p;
    if (dim > kMaxHalfvecIndexDims)
        throw DataError(fmt::format(
            "collection '{}': {} dimensions is above what pgvector can index ({} as vector, {} as halfvec); "
            "the data can still be stored: rerun with --index none (exact search only), or reduce the "
            "dimension (e.g. a Matryoshka-truncated or re-embedded model) before indexing",
            collection, dim, kMaxVectorIndexDims, kMaxHalfvecIndexDims));
    p.sql = "CREATE INDEX " + quote_ident(index_name) + " ON " + qtable;
    if (o.method == IndexMethod::hnsw) {
        p.sql += fmt::format(" USING hnsw ({} {}) WITH (m = {}, ef_construction = {})", p.order_expr, p.opclass,
                             o.hnsw_m, o.hnsw_ef_construction);
    } else {
        uint64_t lists = o.ivfflat_lists > 0 ? static_cast<uint64_t>(o.ivfflat_lists)
                         : rows <= 1000000   ? std::max<uint64_t>(1, rows / 1000)
                                             : static_cast<uint64_t>(std::sqrt(static_cast<double>(rows)));
        p.sql += fmt::format(" USING ivfflat ({} {}) WITH (lists = {})", p.order_expr, p.opclass, lists);
    }
    if (!where.empty()) p.sql += " WHERE " + where;
    return p;
}

std::string layout_search_sql(const std::string &qtable, const VectorIndexPlan &p, Space space,
                              const std::string &select_list, const std::string &filter) {
    return fmt::format("SELECT {}, {} {} $1::{} AS distance FROM {}{} ORDER BY {} {} $1::{} LIMIT $2", select_list,
                       p.order_expr, space_operator(space), p.param_type, qtable,
                       filter.empty() ? "" : " WHERE " + filter, p.order_expr, space_operator(space), p.param_type);
}

void append_vector(CopyBinaryBuffer &buf, const VectorColumn &col, const RecordBatch &b, size_t i,
                   const std::string &collection) {
    const float *v = b.embedding(i);
    if (!col.halfvec) {
        buf.vector_field(v, b.dim);
        return;
    }
    for (uint32_t k = 0; k < b.dim; ++k)
        if (std::fabs(v[k]) > 65504.0f)
            throw DataError(fmt::format("collection '{}': record '{}': embedding[{}] = {} does not fit a halfvec "
                                        "(|x| <= 65504); migrate without --halfvec",
                                        collection, b.ids[i], k, v[k]));
    buf.halfvec_field(v, b.dim);
}

std::string framework_metadata_json(const RecordBatch &b, size_t i) {
    const Metadata &m = b.metadatas[i];
    bool doc_null = !b.documents[i].has_value();
    if (!doc_null && m.empty()) return {};
    std::string out;
    if (!m.empty()) append_metadata_json(out, m);
    if (!doc_null) return out;
    for (const auto &kv : m)
        if (kv.first == kDocumentNullKey)
            throw DataError(fmt::format("record '{}': its metadata already has the key '{}' that this layout uses "
                                        "to mark a record without a document",
                                        b.ids[i], kDocumentNullKey));
    if (out.empty()) return std::string("{\"") + kDocumentNullKey + "\":true}";
    out.pop_back(); // the closing brace
    if (out.size() > 1) out += ',';
    out += std::string("\"") + kDocumentNullKey + "\":true}";
    return out;
}

} // namespace c2p
