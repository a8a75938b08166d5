#include "verify/record_diff.hpp"

#include <cstring>

#include <fmt/format.h>

#include "core/json_text.hpp"
#include "target/copy_binary.hpp"

namespace c2p {
namespace {

std::string scalar_text(const MetaScalar &v) {
    std::string out;
    std::visit(
        [&](const auto &x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, bool>) out = std::string("bool ") + (x ? "true" : "false");
            else if constexpr (std::is_same_v<T, int64_t>) out = "int " + std::to_string(x);
            else if constexpr (std::is_same_v<T, double>) {
                out = "float ";
                json_text::append_double(out, x);
            } else {
                out = "string ";
                json_text::append_string(out, x.size() > 60 ? x.substr(0, 60) + "…" : x);
            }
        },
        v);
    return out;
}

bool scalar_equal(const MetaScalar &a, const MetaScalar &b) {
    if (a.index() != b.index()) return false;
    if (auto *x = std::get_if<double>(&a)) {
        double y = std::get<double>(b);
        return std::memcmp(x, &y, sizeof y) == 0;
    }
    return a == b;
}

MetaScalar to_scalar(const MetaValue &v) { // v is not an array
    switch (v.index()) {
    case 0: return std::get<bool>(v);
    case 1: return std::get<int64_t>(v);
    case 2: return std::get<double>(v);
    default: return std::get<std::string>(v);
    }
}

bool value_equal(const MetaValue &a, const MetaValue &b) {
    if (a.index() != b.index()) return false;
    if (auto *x = std::get_if<std::vector<MetaScalar>>(&a)) {
        const auto &y = std::get<std::vector<MetaScalar>>(b);
        if (x->size() != y.size()) return false;
        for (size_t i = 0; i < x->size(); ++i)
            if (!scalar_equal((*x)[i], y[i])) return false;
        return true;
    }
    return scalar_equal(to_scalar(a), to_scalar(b));
}

std::string type_name(const MetaValue &v) {
    static const char *names[] = {"bool", "int", "float", "string", "array"};
    return names[v.index()];
}

std::string opt_text(const std::optional<std::string> &s) {
    if (!s) return "null";
    std::string out;
    json_text::append_string(out, s->size() > 60 ? s->substr(0, 60) + "…" : *s);
    return out;
}

// Offset of the first differing UTF-8 character (counted in code points) of two strings.
std::string first_text_difference(const std::string &a, const std::string &b) {
    size_t n = std::min(a.size(), b.size()), i = 0;
    while (i < n && a[i] == b[i]) ++i;
    while (i > 0 && (static_cast<unsigned char>(a[i]) & 0xC0) == 0x80) --i; // back to a character start
    size_t chars = 0;
    for (size_t k = 0; k < i; ++k)
        if ((static_cast<unsigned char>(a[k]) & 0xC0) != 0x80) ++chars;
    auto around = [&](const std::string &s) {
        std::string piece = s.substr(i, 12);
        while (!piece.empty() && (static_cast<unsigned char>(piece.back()) & 0xC0) == 0x80 && piece.size() < s.size() - i)
            piece.pop_back(); // do not cut a character in two
        std::string out;
        json_text::append_string(out, json_text::utf8_valid(piece) ? piece : std::string("<bytes>"));
        return out;
    };
    return fmt::format("first difference at character {} (byte {}): source {} …, target {} … (lengths {} and {} bytes)",
                       chars, i, around(a), around(b), a.size(), b.size());
}

} // namespace

std::string describe_meta_value(const MetaValue &v) {
    if (auto *arr = std::get_if<std::vector<MetaScalar>>(&v)) {
        std::string out = "array [";
        for (size_t i = 0; i < arr->size() && i < 8; ++i) out += (i ? ", " : "") + scalar_text((*arr)[i]);
        if (arr->size() > 8) out += ", …";
        return out + "]";
    }
    return scalar_text(to_scalar(v));
}

FieldDiff diff_records(const RecordBatch &a, size_t i, const RecordBatch &b, size_t j, bool float16) {
    FieldDiff d;
    if (a.dim != b.dim) {
        d.fields.push_back("embedding");
        d.details.push_back(fmt::format("embedding: source has {} dimensions, target {}", a.dim, b.dim));
    } else if (std::memcmp(a.embedding(i), b.embedding(j), a.dim * sizeof(float)) != 0) {
        size_t first = 0, count = 0;
        for (uint32_t k = 0; k < a.dim; ++k)
            if (std::memcmp(a.embedding(i) + k, b.embedding(j) + k, sizeof(float)) != 0) {
                if (count++ == 0) first = k;
            }
        float x = a.embedding(i)[first], y = b.embedding(j)[first];
        uint32_t xb, yb;
        std::memcpy(&xb, &x, 4);
        std::memcpy(&yb, &y, 4);
        std::string xs, ys;
        json_text::append_float32(xs, x);
        json_text::append_float32(ys, y);
        d.fields.push_back("embedding");
        if (float16)
            d.details.push_back(fmt::format("embedding: {} of {} components differ at float16 precision (halfvec "
                                            "column); first at [{}]: source {} as float16 (0x{:04x}), target {} (0x{:04x})",
                                            count, a.dim, first, xs, float_to_half(x), ys, float_to_half(y)));
        else
            d.details.push_back(fmt::format("embedding: {} of {} components differ; first at [{}]: source {} (0x{:08x}), "
                                            "target {} (0x{:08x})",
                                            count, a.dim, first, xs, xb, ys, yb));
    }
    const auto &da = a.documents[i], &db = b.documents[j];
    if (da != db) {
        d.fields.push_back("document");
        if (da && db) d.details.push_back("document: " + first_text_difference(*da, *db));
        else d.details.push_back("document: source " + opt_text(da) + ", target " + opt_text(db));
    }
    const auto &ua = a.uris[i], &ub = b.uris[j];
    if (ua != ub) {
        d.fields.push_back("uri");
        d.details.push_back("uri: source " + opt_text(ua) + ", target " + opt_text(ub));
    }
    const Metadata &ma = a.metadatas[i], &mb = b.metadatas[j];
    std::vector<std::string> meta;
    for (const auto &[k, v] : ma) {
        const MetaValue *other = nullptr;
        for (const auto &[k2, v2] : mb)
            if (k2 == k) other = &v2;
        std::string key;
        json_text::append_string(key, k);
        if (!other) meta.push_back(fmt::format("metadata {}: missing in the target (source {})", key, describe_meta_value(v)));
        else if (!value_equal(v, *other)) {
            if (v.index() != other->index())
                meta.push_back(fmt::format("metadata {}: type changed from {} to {} (source {}, target {})", key,
                                           type_name(v), type_name(*other), describe_meta_value(v),
                                           describe_meta_value(*other)));
            else
                meta.push_back(fmt::format("metadata {}: value differs (source {}, target {})", key,
                                           describe_meta_value(v), describe_meta_value(*other)));
        }
    }
    for (const auto &[k, v] : mb) {
        bool found = false;
        for (const auto &kv : ma) found = found || kv.first == k;
        std::string key;
        json_text::append_string(key, k);
        if (!found) meta.push_back(fmt::format("metadata {}: extra in the target ({})", key, describe_meta_value(v)));
    }
    if (!meta.empty()) {
        d.fields.push_back("metadata");
        for (auto &m : meta) d.details.push_back(std::move(m));
    }
    return d;
}

} // namespace c2p
