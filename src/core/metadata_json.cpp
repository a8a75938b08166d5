#include "core/metadata_json.hpp"

#include <algorithm>

#include <simdjson.h>

#include "core/json_text.hpp"
#include "util/error.hpp"

namespace c2p {
namespace {

void append_scalar(std::string &out, const MetaScalar &v, FloatText floats) {
    std::visit(
        [&](const auto &x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, bool>) out.append(x ? "true" : "false");
            else if constexpr (std::is_same_v<T, int64_t>) out.append(std::to_string(x));
            else if constexpr (std::is_same_v<T, double>) {
                if (floats == FloatText::shortest) json_text::append_double_shortest(out, x);
                else json_text::append_double(out, x);
            }
            else json_text::append_string(out, x);
        },
        v);
}

MetaScalar scalar_from_dom(simdjson::dom::element e, std::string_view key) {
    switch (e.type()) {
    case simdjson::dom::element_type::BOOL: return bool(e.get_bool().value());
    case simdjson::dom::element_type::INT64: return int64_t(e.get_int64().value());
    case simdjson::dom::element_type::DOUBLE: return double(e.get_double().value());
    case simdjson::dom::element_type::STRING: return std::string(e.get_string().value());
    case simdjson::dom::element_type::UINT64:
        throw DataError("metadata key '" + std::string(key) + "': integer out of the 64-bit signed range");
    default:
        throw DataError("metadata key '" + std::string(key) +
                        "': unsupported value type (Chroma holds strings, ints, floats, bools and arrays of them)");
    }
}

MetaScalar scalar_from_nlohmann(const nlohmann::ordered_json &v, const std::string &key) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
    if (v.is_number_unsigned()) {
        auto u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(INT64_MAX))
            throw DataError("metadata key '" + key + "': integer out of the 64-bit signed range");
        return static_cast<int64_t>(u);
    }
    if (v.is_number_float()) return v.get<double>();
    if (v.is_string()) return v.get<std::string>();
    throw DataError("metadata key '" + key + "': unsupported value type " + std::string(v.type_name()));
}

MetaValue widen(MetaScalar s) {
    return std::visit([](auto &&x) -> MetaValue { return std::move(x); }, std::move(s));
}

} // namespace

void append_metadata_json(std::string &out, const Metadata &m, FloatText floats) {
    if (m.empty()) {
        out.append("null");
        return;
    }
    out.push_back('{');
    bool first = true;
    for (const auto &[k, v] : m) {
        if (!first) out.push_back(',');
        first = false;
        json_text::append_string(out, k);
        out.push_back(':');
        if (auto *arr = std::get_if<std::vector<MetaScalar>>(&v)) {
            out.push_back('[');
            for (size_t i = 0; i < arr->size(); ++i) {
                if (i) out.push_back(',');
                append_scalar(out, (*arr)[i], floats);
            }
            out.push_back(']');
        } else {
            std::visit(
                [&](const auto &x) {
                    using T = std::decay_t<decltype(x)>;
                    if constexpr (!std::is_same_v<T, std::vector<MetaScalar>>) append_scalar(out, x, floats);
                },
                v);
        }
    }
    out.push_back('}');
}

std::string metadata_to_json(const Metadata &m) {
    std::string s;
    append_metadata_json(s, m);
    return s;
}

Metadata metadata_from_json(std::string_view json, std::vector<std::string> *null_keys) {
    thread_local simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    if (auto err = parser.parse(padded).get(root))
        throw DataError(std::string("metadata is not valid JSON: ") + simdjson::error_message(err));
    Metadata m;
    if (root.is_null()) return m;
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) throw DataError("metadata is not a JSON object");
    for (auto field : obj) {
        std::string_view key = field.key;
        if (field.value.is_null()) { // Chroma never stores null; it means "absent"
            if (null_keys) null_keys->emplace_back(key);
            continue;
        }
        if (field.value.is_array()) {
            std::vector<MetaScalar> arr;
            simdjson::dom::array items = field.value.get_array().value(); // keep the array alive while iterating
            for (auto e : items) arr.push_back(scalar_from_dom(e, key));
            m.emplace_back(std::string(key), std::move(arr));
        } else {
            m.emplace_back(std::string(key), widen(scalar_from_dom(field.value, key)));
        }
    }
    return m;
}

Metadata metadata_from_nlohmann(const nlohmann::ordered_json &j) {
    Metadata m;
    if (j.is_null()) return m;
    if (!j.is_object()) throw DataError("metadata is not a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.value().is_null()) continue;
        if (it.value().is_array()) {
            std::vector<MetaScalar> arr;
            for (const auto &e : it.value()) arr.push_back(scalar_from_nlohmann(e, it.key()));
            m.emplace_back(it.key(), std::move(arr));
        } else {
            m.emplace_back(it.key(), widen(scalar_from_nlohmann(it.value(), it.key())));
        }
    }
    return m;
}

nlohmann::ordered_json metadata_to_nlohmann(const Metadata &m) {
    if (m.empty()) return nullptr;
    return nlohmann::ordered_json::parse(metadata_to_json(m));
}

Metadata sorted_metadata(const Metadata &m) {
    Metadata s = m;
    std::sort(s.begin(), s.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
    return s;
}

} // namespace c2p
