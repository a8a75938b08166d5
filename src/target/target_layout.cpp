#include "target/target_layout.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "core/metadata_json.hpp"
#include "target/native_layout.hpp"
#include "util/error.hpp"
#include "target/table_layout.hpp"

namespace c2p {

std::string TargetCollection::qualified_table() const { return qualified(schema, table); }

std::string TargetCollection::describe() const {
    std::string d = schema + "." + table;
    if (!where.empty()) d += " (" + where + ")";
    return d;
}

PgTableReadOptions TargetLayout::read_options(const TargetCollection &t, uint32_t dim) const {
    PgTableReadOptions o;
    o.schema = t.schema;
    o.table = t.table;
    o.dim = dim;
    o.where = t.where;
    o.halfvec = t.column.halfvec;
    return o;
}

PgTableReadOptions TargetLayout::framework_read_options(const TargetCollection &t, uint32_t dim) const {
    PgTableReadOptions o = TargetLayout::read_options(t, dim);
    o.id_column = t.id_column;
    o.uri_column.clear();
    o.digest_column.clear();
    o.framework_markers = true;
    o.id_prefix = t.id_prefix;
    return o;
}

SearchShape TargetLayout::search_shape(const TargetCollection &t) const {
    SearchShape s;
    s.filter = t.where;
    return s;
}

std::string TargetLayout::index_opclass(const TargetCollection &t, Space collection_space, uint32_t dim) const {
    return space_opclass(search_space(collection_space), t.column.halfvec || dim > kMaxVectorIndexDims);
}

std::optional<std::string> TargetLayout::id_mismatch(PgConnection &, const TargetCollection &, const CollectionInfo &,
                                                     bool, std::string_view) const {
    return std::nullopt;
}

std::vector<std::string> TargetLayout::unknown_collections(PgConnection &, const std::string &,
                                                           const std::vector<CollectionInfo> &) const {
    return {};
}

namespace {
[[noreturn]] void no_staging(const TargetLayout &l) {
    throw std::logic_error(std::string("the ") + l.name() + " layout's sync does not stage rows");
}
} // namespace

std::string TargetLayout::sized_metadata(const RecordBatch &s, size_t i) const {
    try {
        return framework_metadata_json(s, i);
    } catch (const Error &) { // the real run refuses this record; size it as plain metadata
        return sized_record_metadata(s.metadatas[i]);
    }
}

std::string sized_record_metadata(const Metadata &m) {
    if (m.empty()) return {};
    try {
        return metadata_to_json(m);
    } catch (const Error &) {
        return {};
    }
}

std::optional<ClientConfig> TargetLayout::client_config(const std::string &, const std::string &,
                                                       const CollectionInfo &) const {
    return std::nullopt;
}

std::unique_ptr<LayoutSink> TargetLayout::make_sink(PgConnection &, const LayoutOptions &) const { return nullptr; }

void TargetLayout::lock_for_sync(PgConnection &, const TargetCollection &) const {}
std::string TargetLayout::staged_columns(const TargetCollection &) const { no_staging(*this); }
std::string TargetLayout::create_staging_sql(const TargetCollection &, const std::string &) const { no_staging(*this); }
void TargetLayout::encode_staged_row(CopyBinaryBuffer &, const TargetCollection &, const RecordBatch &, size_t,
                                     const std::string &) const {
    no_staging(*this);
}
void TargetLayout::apply_staged(PgConnection &, const TargetCollection &, const CollectionInfo &,
                                const std::string &) const {
    no_staging(*this);
}
void TargetLayout::after_sync(PgConnection &, const TargetCollection &, const CollectionInfo &) const {}

VectorIndexPlan TargetLayout::vector_index(const std::string &, const std::string &, const CollectionInfo &,
                                           const VectorColumn &, uint32_t, const IndexOptions &, uint64_t) const {
    throw std::logic_error(std::string("the ") + name() + " layout's indexes are native_indexes()");
}

void TargetLayout::plan_vector_index_into(LayoutPlan &p, const CollectionInfo &c, const LayoutOptions &o,
                                          const VectorColumn &col, uint64_t rows) const {
    const std::optional<uint32_t> dim = col.dim ? col.dim : c.dimension;
    if (!dim) return; // vector(n) needs n: no index for an empty collection of unknown dimension
    try {
        auto v = vector_index(o.schema, p.table, c, col, *dim, o.index, rows);
        if (!v.sql.empty())
            p.indexes.push_back({v.name, "vector", o.index.method == IndexMethod::hnsw ? "hnsw" : "ivfflat", v.sql,
                                 v.opclass, v.order_expr});
    } catch (const DataError &e) { // too wide to index: the plan says so and goes on
        p.problems.push_back(e.what());
    }
}

std::vector<int> TargetLayout::unknown_rows(const PgResult &listing, const std::vector<CollectionInfo> &cols) {
    std::vector<int> out;
    for (int i = 0; i < listing.rows(); ++i) {
        bool known = false;
        for (const auto &c : cols) known = known || c.id == listing.text(i, 0) || c.name == listing.text(i, 1);
        if (!known) out.push_back(i);
    }
    return out;
}

const TargetLayout &target_layout(Layout l) {
    switch (l) {
    case Layout::native: return native_target_layout();
    case Layout::langchain: return langchain_target_layout();
    default: return table_target_layout(l);
    }
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

std::string target_row_id(const TargetCollection &t, const std::string &chroma_id) { return t.id_prefix + chroma_id; }

} // namespace c2p
