#include "verify/registry_check.hpp"

#include <fmt/format.h>

#include "core/json_text.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

enum class Kind { null, boolean, integer, floating, string, array, object };

Kind kind_of(const json &v) {
    if (v.is_null()) return Kind::null;
    if (v.is_boolean()) return Kind::boolean;
    if (v.is_number_integer()) return Kind::integer; // signed or unsigned: both are JSON integers
    if (v.is_number()) return Kind::floating;
    if (v.is_string()) return Kind::string;
    if (v.is_array()) return Kind::array;
    return Kind::object;
}

// A float the source writes with an exponent (nlohmann: 1e+17) that jsonb renders as integral digits.
bool jsonb_rendered_float(const json &source, const json &target) {
    if (kind_of(source) != Kind::floating || kind_of(target) != Kind::integer) return false;
    std::string text = source.dump();
    if (text.find_first_of("eE") == std::string::npos) return false;
    double t = target.is_number_unsigned() ? double(target.get<uint64_t>()) : double(target.get<int64_t>());
    return t == source.get<double>();
}

std::string quoted(const std::string &key) { return json(key).dump(-1, ' ', false, json::error_handler_t::replace); }

std::optional<std::string> diff_at(const json &s, const json &t, const std::string &path) {
    auto here = [&](const std::string &what) { return path.empty() ? what : "at " + path + ": " + what; };
    Kind ks = kind_of(s), kt = kind_of(t);
    if (ks != kt) {
        if (jsonb_rendered_float(s, t)) return std::nullopt;
        return here(fmt::format("source {}, target {}", describe_json(s), describe_json(t)));
    }
    switch (ks) {
    case Kind::object:
        for (auto it = s.begin(); it != s.end(); ++it) {
            auto jt = t.find(it.key());
            if (jt == t.end())
                return here(fmt::format("key {} ({}) is missing in the target", quoted(it.key()),
                                        describe_json(it.value())));
            if (auto d = diff_at(it.value(), *jt, path + "[" + quoted(it.key()) + "]")) return d;
        }
        for (auto jt = t.begin(); jt != t.end(); ++jt)
            if (!s.contains(jt.key()))
                return here(fmt::format("key {} ({}) is in the target but not in the source", quoted(jt.key()),
                                        describe_json(jt.value())));
        return std::nullopt;
    case Kind::array:
        if (s.size() != t.size())
            return here(fmt::format("source has {} elements, target {}", s.size(), t.size()));
        for (size_t i = 0; i < s.size(); ++i)
            if (auto d = diff_at(s[i], t[i], fmt::format("{}[{}]", path, i))) return d;
        return std::nullopt;
    case Kind::floating:
        if (s.get<double>() == t.get<double>()) return std::nullopt;
        break;
    default:
        if (s == t) return std::nullopt;
    }
    return here(fmt::format("source {}, target {}", describe_json(s), describe_json(t)));
}

} // namespace

std::string describe_json(const json &v) {
    switch (kind_of(v)) {
    case Kind::null: return "null";
    case Kind::boolean: return std::string("bool ") + (v.get<bool>() ? "true" : "false");
    case Kind::integer: return "int " + v.dump();
    case Kind::floating: {
        std::string out = "float ";
        json_text::append_double(out, v.get<double>());
        return out;
    }
    case Kind::string: {
        std::string s = v.get<std::string>();
        bool cut = s.size() > 60;
        if (cut) s.resize(60); // a character cut in two is shown replaced
        return "string " + json(s).dump(-1, ' ', false, json::error_handler_t::replace) + (cut ? "…" : "");
    }
    case Kind::array: return fmt::format("array of {}", v.size());
    case Kind::object: return fmt::format("object of {} keys", v.size());
    }
    return v.dump();
}

std::optional<std::string> json_difference(const json &source, const json &target) {
    return diff_at(source, target, "");
}

void compare_registry_field(const std::string &collection, const std::string &where, const std::string &field,
                            const json &source, const json &target, std::vector<std::string> &failures) {
    if (auto d = json_difference(source, target))
        failures.push_back(fmt::format("collection '{}': {} {} differs from the source's: {}", collection, where, field,
                                       *d));
}

} // namespace c2p
