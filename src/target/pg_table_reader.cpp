#include "target/pg_table_reader.hpp"

#include <cstring>

#include <fmt/format.h>

#include "core/metadata_json.hpp"
#include "target/copy_binary.hpp"
#include "target/layout_sink.hpp"
#include "util/error.hpp"

namespace c2p {
namespace {

constexpr char kSignature[] = "PGCOPY\n\377\r\n\0";

uint16_t be16(const char *p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}
uint32_t be32(const char *p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

// pgvector's binary header (int16 dim, int16 unused), checked against the field's length; returns dim.
uint32_t vector_field_dim(const char *p, size_t len, uint32_t expected_dim, size_t value_bytes, const char *type) {
    if (len < 4) throw DataError(fmt::format("{} field of {} bytes is shorter than its header", type, len));
    uint32_t dim = be16(p);
    if (len != 4 + size_t(dim) * value_bytes)
        throw DataError(fmt::format("{} field: {} dimensions but {} bytes", type, dim, len));
    if (expected_dim && dim != expected_dim)
        throw DataError(fmt::format("vector has {} dimensions, expected {}", dim, expected_dim));
    return dim;
}

} // namespace

void decode_vector_binary(const char *p, size_t len, uint32_t expected_dim, std::vector<float> &out) {
    const uint32_t dim = vector_field_dim(p, len, expected_dim, 4, "vector");
    size_t base = out.size();
    out.resize(base + dim);
    const char *q = p + 4;
    for (uint32_t i = 0; i < dim; ++i) {
        uint32_t bits = be32(q + 4 * i);
        std::memcpy(&out[base + i], &bits, 4);
    }
}

void decode_halfvec_binary(const char *p, size_t len, uint32_t expected_dim, std::vector<float> &out) {
    const uint32_t dim = vector_field_dim(p, len, expected_dim, 2, "halfvec");
    size_t base = out.size();
    out.resize(base + dim);
    for (uint32_t i = 0; i < dim; ++i) out[base + i] = half_to_float(be16(p + 4 + 2 * i));
}

PgTableReader::PgTableReader(PgConnection &pg, PgTableReadOptions opts, size_t batch_size)
    : pg_(pg), opts_(std::move(opts)), batch_(batch_size ? batch_size : 1000) {
    auto col = [](const std::string &c, const char *type) {
        return c.empty() ? std::string("NULL::") + type : quote_ident(c);
    };
    std::string sql = "COPY (SELECT " + quote_ident(opts_.id_column) + ", " + quote_ident(opts_.embedding_column) + ", " + col(opts_.document_column, "text") +
                      ", " + col(opts_.uri_column, "text") + ", " + col(opts_.metadata_column, "jsonb") + ", " +
                      col(opts_.digest_column, "bytea") + " FROM " + quote_ident(opts_.schema) + "." +
                      quote_ident(opts_.table);
    if (!opts_.where.empty()) sql += " WHERE " + opts_.where;
    if (opts_.order_by_id) sql += " ORDER BY " + quote_ident(opts_.id_column) + " COLLATE \"C\"";
    sql += ") TO STDOUT (FORMAT BINARY)";
    pg_.copy_out_start(sql);
}

PgTableReader::~PgTableReader() {
    if (stream_done_) return;
    // Abandoned mid-stream (an error elsewhere): cancel the COPY so the connection is usable again.
    if (PGcancel *c = PQgetCancel(pg_.raw())) {
        char err[256];
        PQcancel(c, err, sizeof err);
        PQfreeCancel(c);
    }
    try {
        const char *b;
        int n;
        while (pg_.copy_out_next(b, n)) {
        }
    } catch (...) {
    }
}

bool PgTableReader::fill() {
    if (stream_done_) return false;
    if (pos_ > 0 && pos_ >= buf_.size() / 2) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    const char *b;
    int n;
    if (!pg_.copy_out_next(b, n)) {
        stream_done_ = true;
        return false;
    }
    buf_.append(b, static_cast<size_t>(n));
    return true;
}

bool PgTableReader::parse_header() {
    if (buf_.size() - pos_ < 19) return false;
    if (std::memcmp(buf_.data() + pos_, kSignature, 11) != 0)
        throw DataError("table " + opts_.table + ": COPY BINARY stream has no PGCOPY signature");
    uint32_t ext = be32(buf_.data() + pos_ + 15);
    if (buf_.size() - pos_ < 19 + size_t(ext)) return false;
    pos_ += 19 + ext;
    header_done_ = true;
    return true;
}

bool PgTableReader::parse_tuple(RecordBatch &out) {
    const char *base = buf_.data() + pos_;
    size_t avail = buf_.size() - pos_;
    if (avail < 2) return false;
    int16_t nf = static_cast<int16_t>(be16(base));
    if (nf == -1) {
        trailer_seen_ = true;
        pos_ += 2;
        return true;
    }
    if (nf != 6) throw DataError(fmt::format("table {}: COPY tuple has {} fields, expected 6", opts_.table, nf));
    // First check the whole tuple is here, remembering where each field starts.
    const char *fp[6];
    int32_t fl[6];
    size_t off = 2;
    for (int f = 0; f < 6; ++f) {
        if (avail < off + 4) return false;
        fl[f] = static_cast<int32_t>(be32(base + off));
        off += 4;
        fp[f] = base + off;
        if (fl[f] > 0) {
            if (avail < off + size_t(fl[f])) return false;
            off += size_t(fl[f]);
        }
    }
    pos_ += off;

    if (fl[0] < 0 || fl[1] < 0)
        throw DataError("table " + opts_.table + ": a row has a NULL " + opts_.id_column + " or embedding" +
                        (fl[0] >= 0 ? " (" + opts_.id_column + " '" + std::string(fp[0], size_t(fl[0])) + "')" : ""));
    std::string id(fp[0], size_t(fl[0]));
    if (!opts_.id_prefix.empty() && id.compare(0, opts_.id_prefix.size(), opts_.id_prefix) == 0)
        id.erase(0, opts_.id_prefix.size());
    if (out.empty() && out.dim == 0 && fl[1] >= 4) out.dim = be16(fp[1]);
    try {
        if (opts_.halfvec) decode_halfvec_binary(fp[1], size_t(fl[1]), out.dim, out.embeddings);
        else decode_vector_binary(fp[1], size_t(fl[1]), out.dim, out.embeddings);
    } catch (const DataError &e) {
        throw DataError("table " + opts_.table + ": record '" + id + "': " + e.what());
    }
    out.ids.push_back(std::move(id));
    out.documents.push_back(fl[2] < 0 ? std::nullopt : std::optional<std::string>(std::string(fp[2], size_t(fl[2]))));
    out.uris.push_back(fl[3] < 0 ? std::nullopt : std::optional<std::string>(std::string(fp[3], size_t(fl[3]))));
    null_keys_.emplace_back();
    if (fl[4] < 0) {
        out.metadatas.emplace_back();
    } else {
        std::string_view text(fp[4], size_t(fl[4]));
        if (!opts_.metadata_json) {
            if (fl[4] < 1 || fp[4][0] != 1)
                throw DataError("table " + opts_.table + ": record '" + out.ids.back() + "': unknown jsonb binary version");
            text.remove_prefix(1);
        }
        try {
            out.metadatas.push_back(metadata_from_json(text, &null_keys_.back()));
        } catch (const DataError &e) {
            throw DataError("table " + opts_.table + ": record '" + out.ids.back() + "': " + e.what());
        }
    }
    if (opts_.framework_markers) framework_row_to_record(out.documents.back(), out.uris.back(), out.metadatas.back(),
                                                            opts_.document_in_metadata);
    if (fl[5] == 16) {
        Digest d;
        std::memcpy(d.data(), fp[5], 16);
        stored_.push_back(d);
    } else {
        stored_.push_back(std::nullopt);
    }
    return true;
}

bool PgTableReader::next(RecordBatch &out) {
    out.clear();
    out.dim = opts_.dim;
    stored_.clear();
    null_keys_.clear();
    while (out.size() < batch_ && !trailer_seen_) {
        bool progressed = header_done_ ? parse_tuple(out) : parse_header();
        if (progressed) continue;
        if (!fill()) {
            if (buf_.size() > pos_)
                throw DataError("table " + opts_.table + ": COPY BINARY stream ended in the middle of a row");
            break;
        }
    }
    if (trailer_seen_ && !stream_done_) {
        const char *b;
        int n;
        while (pg_.copy_out_next(b, n)) {
        }
        stream_done_ = true;
    }
    if (!out.dim && opts_.dim) out.dim = opts_.dim;
    return !out.empty();
}

} // namespace c2p
