#include "target/layout_sink.hpp"

#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/json_text.hpp"
#include "core/metadata_json.hpp"
#include "target/halfvec.hpp"
#include "target/target_layout.hpp"
#include "target/index_build.hpp"
#include "target/table_layout.hpp"
#include "target/table_names.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {

namespace {
constexpr std::pair<Layout, const char *> kOwnLayouts[] = {
    {Layout::native, "native"}, {Layout::langchain, "langchain"}};
} // namespace

const std::vector<std::string> &layout_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto &[l, n] : kOwnLayouts) v.emplace_back(n);
        for (const TableLayout *tl : table_layout_registry()) v.push_back(tl->name);
        return v;
    }();
    return names;
}

Layout parse_layout(const std::string &s) {
    for (const auto &[l, n] : kOwnLayouts)
        if (s == n) return l;
    const auto &all = table_layout_registry();
    for (size_t i = 0; i < all.size(); ++i)
        if (all[i]->name == s) return static_cast<Layout>(static_cast<int>(Layout::first_table_layout) + int(i));
    throw UsageError(fmt::format("--layout: expected one of {}, not '{}'", fmt::join(layout_names(), ", "), s));
}

const char *layout_name(Layout l) {
    for (const auto &[x, n] : kOwnLayouts)
        if (x == l) return n;
    if (const TableLayout *tl = find_table_layout(l)) return tl->name.c_str();
    return "native";
}

std::unique_ptr<LayoutSink> make_layout_sink(const std::string &layout, PgConnection &pg, const LayoutOptions &o) {
    return target_layout(parse_layout(layout)).make_sink(pg, o);
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

std::optional<VectorColumn> existing_vector_column_for(PgConnection &pg, const std::string &schema,
                                                       const std::string &table, const std::string &column,
                                                       const CollectionInfo &c, const std::string &advice) {
    auto col = existing_vector_column(pg, schema, table, column);
    if (col && col->dim && c.dimension && *col->dim != *c.dimension)
        throw DataError(fmt::format("collection '{}' has {} dimensions but {}.{}.{} is {}{}", c.name, *c.dimension,
                                    schema, table, column, col->sql(), advice));
    return col;
}

VectorIndexPlan plan_vector_index(const std::string &qtable, const std::string &index_name, const VectorColumn &col,
                                  uint32_t dim, Space space, const IndexOptions &o, uint64_t rows,
                                  const std::string &where, const std::string &collection, const std::string &column) {
    VectorIndexPlan p;
    p.name = index_name;
    // Which type the index is built on: the column itself when it can be, else a cast expression.
    bool half = col.halfvec || dim > kMaxVectorIndexDims;
    p.on_column = col.dim.has_value() && col.halfvec == half;
    p.param_type = fmt::format("{}({})", half ? "halfvec" : "vector", dim);
    p.order_expr = p.on_column ? column : fmt::format("({}::{})", column, p.param_type); // a plain lower-case name
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
        uint64_t lists = ivfflat_lists(o, rows);
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
    if (!col.halfvec) {
        buf.vector_field(b.embedding(i), b.dim);
        return;
    }
    if (auto p = halfvec_problem(b, i); !p.empty())
        throw DataError(fmt::format("collection '{}': record '{}': {}; migrate without --halfvec", collection, b.ids[i], p));
    buf.halfvec_field(b.embedding(i), b.dim);
}

std::string framework_metadata_json(const RecordBatch &b, size_t i, DocumentInMetadata doc) {
    const Metadata &m = b.metadatas[i];
    const bool doc_null = !b.documents[i].has_value() && doc == DocumentInMetadata::null_marker;
    const bool doc_text = b.documents[i].has_value() && doc == DocumentInMetadata::text;
    const auto &uri = b.uris[i];
    for (const auto &kv : m)
        if (kv.first == kDocumentNullKey || kv.first == kUriKey ||
            (doc == DocumentInMetadata::text && kv.first == kDocumentTextKey))
            throw DataError(fmt::format("record '{}': its metadata already has the key '{}' that this layout uses to "
                                        "carry {}; it could not be told apart when read back",
                                        b.ids[i], kv.first,
                                        kv.first == kUriKey           ? "the record's uri"
                                        : kv.first == kDocumentNullKey ? "a record without a document"
                                                                       : "the document"));
    if (!doc_null && !doc_text && !uri && m.empty()) return {};
    std::string out;
    if (m.empty()) out = "{}";
    else append_metadata_json(out, m);
    out.pop_back(); // the closing brace
    auto add = [&](const char *key, const std::string &json_value) {
        if (out.size() > 1) out += ',';
        out += '"';
        out += key;
        out += "\":";
        out += json_value;
    };
    if (doc_null) add(kDocumentNullKey, "true");
    if (doc_text) {
        std::string v;
        json_text::append_string(v, *b.documents[i]);
        add(kDocumentTextKey, v);
    }
    if (uri) {
        std::string v;
        json_text::append_string(v, *uri);
        add(kUriKey, v);
    }
    out += '}';
    return out;
}

void framework_row_to_record(std::optional<std::string> &document, std::optional<std::string> &uri, Metadata &meta,
                             bool doc_in_text) {
    for (size_t k = 0; k < meta.size();) {
        const auto &[key, value] = meta[k];
        if (key == kUriKey && std::holds_alternative<std::string>(value)) {
            uri = std::get<std::string>(value);
        } else if (doc_in_text && key == kDocumentTextKey && std::holds_alternative<std::string>(value)) {
            document = std::get<std::string>(value);
        } else if (key == kDocumentNullKey && std::holds_alternative<bool>(value) && std::get<bool>(value) &&
                   document && document->empty()) {
            document.reset();
        } else {
            ++k;
            continue;
        }
        meta.erase(meta.begin() + static_cast<std::ptrdiff_t>(k));
    }
}

// ---- the shared transaction of a framework layout load

LayoutSink::LayoutSink(PgConnection &pg, LayoutOptions o, const TargetLayout &layout)
    : pg_(pg), o_(std::move(o)), layout_(layout) {}
LayoutSink::~LayoutSink() = default;

void LayoutSink::begin(const CollectionInfo &c) {
    info_ = c;
    rows_ = 0;
    index_seconds_ = 0;
    pg_.exec("BEGIN");
    in_tx_ = true;
    pg_.exec("SET LOCAL synchronous_commit = off");
    std::string copy_sql = prepare();
    if (copy_sql.empty()) return;
    pg_.copy_in_start(copy_sql);
    in_copy_ = true;
    buf_.clear();
    buf_.header();
}

void LayoutSink::write(const RecordBatch &b) {
    if (b.empty()) return;
    if (!in_copy_)
        throw DataError(fmt::format("collection '{}': the source reported no dimension but returned records; "
                                    "cannot create the {} table for it",
                                    info_.name, table_));
    if (col_.dim && b.dim != *col_.dim)
        throw DataError(fmt::format("collection '{}': record '{}' has {} dimensions, {}.{}.embedding is {}", info_.name,
                                    b.ids[0], b.dim, o_.schema, table_, col_.sql()));
    for (size_t i = 0; i < b.size(); ++i) {
        encode_row(b, i);
        if (buf_.size() >= kCopyChunkBytes) pg_.copy_in_send(buf_);
    }
    rows_ += b.size();
}

std::optional<VectorIndexPlan> LayoutSink::index_plan() {
    const uint32_t dim = col_.dim.value_or(info_.dimension.value_or(0));
    if (dim == 0) return std::nullopt;
    return layout_.vector_index(o_.schema, table_, info_, col_, dim, o_.index, rows_);
}

void LayoutSink::finish() {
    if (in_copy_) {
        pg_.copy_in_finish(buf_);
        in_copy_ = false;
    }
    PgConnection::Patience long_statements(pg_); // moving the rows, the index build: may be silent for long
    after_copy();
    auto t0 = std::chrono::steady_clock::now();
    if (auto plan = index_plan(); plan && !plan->sql.empty()) {
        set_index_build_session(pg_, o_.index, o_.jobs);
        const uint32_t dim = col_.dim.value_or(info_.dimension.value_or(0));
        build_vector_index(pg_, o_.target, info_.name, {rows_, dim, col_.halfvec || dim > kMaxVectorIndexDims},
                           o_.index.for_collection(info_), plan->sql);
        if (!plan->on_column)
            log::warn("index_expression", expression_index_advice(*plan), {{"collection", info_.name}});
    }
    for (const auto &t : analyze_tables()) pg_.exec("ANALYZE " + t);
    index_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (before_commit_) before_commit_(pg_);
    pg_.exec("COMMIT");
    in_tx_ = false;
}

std::string LayoutSink::check_target(const CollectionInfo &c) {
    info_ = c;
    pg_.exec("BEGIN");
    checking_ = true;
    try {
        prepare();
    } catch (...) {
        checking_ = false;
        pg_.rollback_quietly();
        throw;
    }
    checking_ = false;
    pg_.exec("ROLLBACK");
    return table_;
}

void LayoutSink::abort() noexcept {
    pg_.abort_copy_and_transaction(in_copy_, in_tx_);
}

} // namespace c2p
