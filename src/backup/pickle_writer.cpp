#include "backup/pickle_writer.hpp"

#include <bit>
#include <cmath>
#include <cstring>

#include "core/json_text.hpp"
#include "util/error.hpp"

namespace c2p::pickle {
namespace {

void put_u32le(std::string &out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// One scalar of any of Chroma's metadata types, without copying it into a MetaScalar.
template <class T> void put_plain(std::string &out, const T &x) {
    if constexpr (std::is_same_v<T, bool>) put_bool(out, x);
    else if constexpr (std::is_same_v<T, int64_t>) put_int(out, x);
    else if constexpr (std::is_same_v<T, double>) put_float(out, x);
    else put_str(out, x);
}

} // namespace

void put_proto(std::string &out) {
    out.push_back(static_cast<char>(PROTO));
    out.push_back(2);
}

void put_none(std::string &out) { out.push_back(NONE); }

void put_bool(std::string &out, bool v) { out.push_back(static_cast<char>(v ? NEWTRUE : NEWFALSE)); }

void put_int(std::string &out, int64_t v) {
    if (v >= 0 && v < 256) {
        out.push_back(BININT1);
        out.push_back(static_cast<char>(v));
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        out.push_back(BININT);
        put_u32le(out, static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {
        // LONG1: little-endian two's complement, as few bytes as keep the sign.
        unsigned char bytes[8];
        auto u = static_cast<uint64_t>(v);
        for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>((u >> (8 * i)) & 0xff);
        int n = 8;
        while (n > 1) {
            unsigned char top = bytes[n - 1], next = bytes[n - 2];
            if ((top == 0x00 && !(next & 0x80)) || (top == 0xff && (next & 0x80))) --n;
            else break;
        }
        out.push_back(static_cast<char>(LONG1));
        out.push_back(static_cast<char>(n));
        out.append(reinterpret_cast<const char *>(bytes), static_cast<size_t>(n));
    }
}

void put_float(std::string &out, double v) {
    if (!std::isfinite(v)) throw DataError("cannot back up a non-finite float (NaN or infinity)");
    auto bits = std::bit_cast<uint64_t>(v);
    out.push_back(BINFLOAT);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

void put_str(std::string &out, std::string_view s) {
    if (s.size() > UINT32_MAX) throw DataError("string longer than 4 GiB cannot be pickled");
    // BINUNICODE is decoded as UTF-8 by pickle.load: a bad byte would make the whole file unloadable.
    if (!json_text::utf8_valid(s))
        throw DataError("a string is not valid UTF-8 and cannot be pickled: '" + std::string(s.substr(0, 40)) + "'");
    out.push_back(BINUNICODE);
    put_u32le(out, static_cast<uint32_t>(s.size()));
    out.append(s);
}

void put_json(std::string &out, const nlohmann::ordered_json &j) {
    switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: put_none(out); break;
    case nlohmann::ordered_json::value_t::boolean: put_bool(out, j.get<bool>()); break;
    case nlohmann::ordered_json::value_t::number_integer: put_int(out, j.get<int64_t>()); break;
    case nlohmann::ordered_json::value_t::number_unsigned: {
        auto u = j.get<uint64_t>();
        if (u > static_cast<uint64_t>(INT64_MAX)) throw DataError("integer above 2^63-1 cannot be pickled here");
        put_int(out, static_cast<int64_t>(u));
        break;
    }
    case nlohmann::ordered_json::value_t::number_float: put_float(out, j.get<double>()); break;
    case nlohmann::ordered_json::value_t::string: put_str(out, j.get_ref<const std::string &>()); break;
    case nlohmann::ordered_json::value_t::array:
        out.push_back(EMPTY_LIST);
        if (!j.empty()) {
            out.push_back(MARK);
            for (const auto &e : j) put_json(out, e);
            out.push_back(APPENDS);
        }
        break;
    case nlohmann::ordered_json::value_t::object:
        out.push_back(EMPTY_DICT);
        if (!j.empty()) {
            out.push_back(MARK);
            for (auto it = j.begin(); it != j.end(); ++it) {
                put_str(out, it.key());
                put_json(out, it.value());
            }
            out.push_back(SETITEMS);
        }
        break;
    default: throw DataError("cannot pickle a JSON value of type " + std::string(j.type_name()));
    }
}

void put_metadata(std::string &out, const Metadata &m) {
    if (m.empty()) {
        put_none(out);
        return;
    }
    out.push_back(EMPTY_DICT);
    out.push_back(MARK);
    for (const auto &[k, v] : m) {
        put_str(out, k);
        std::visit(
            [&](const auto &x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::vector<MetaScalar>>) {
                    out.push_back(EMPTY_LIST);
                    if (!x.empty()) {
                        out.push_back(MARK);
                        for (const auto &e : x) std::visit([&](const auto &y) { put_plain(out, y); }, e);
                        out.push_back(APPENDS);
                    }
                } else {
                    put_plain(out, x);
                }
            },
            v);
    }
    out.push_back(SETITEMS);
}

void put_record(std::string &out, const RecordBatch &b, size_t i) {
    out.push_back(EMPTY_DICT);
    out.push_back(MARK);
    put_str(out, "id");
    put_str(out, b.ids[i]);
    put_str(out, "embedding");
    out.push_back(EMPTY_LIST);
    if (b.dim > 0) {
        out.push_back(MARK);
        const float *v = b.embedding(i);
        for (uint32_t d = 0; d < b.dim; ++d) put_float(out, static_cast<double>(v[d]));
        out.push_back(APPENDS);
    }
    put_str(out, "document");
    if (b.documents[i]) put_str(out, *b.documents[i]);
    else put_none(out);
    put_str(out, "uri");
    if (b.uris[i]) put_str(out, *b.uris[i]);
    else put_none(out);
    put_str(out, "metadata");
    put_metadata(out, b.metadatas[i]);
    out.push_back(SETITEMS);
}

} // namespace c2p::pickle
