#include "core/record_check.hpp"

#include <cmath>

#include "core/json_text.hpp"

namespace c2p {
namespace {

std::string text_problem(std::string_view field, std::string_view s) {
    if (s.find('\0') != std::string_view::npos) return std::string(field) + " contains a NUL character";
    if (!json_text::utf8_valid(s)) return std::string(field) + " is not valid UTF-8";
    return {};
}

std::string scalar_problem(const std::string &key, const MetaScalar &v) {
    if (auto *d = std::get_if<double>(&v); d && !std::isfinite(*d))
        return "metadata '" + key + "' is a non-finite float";
    if (auto *s = std::get_if<std::string>(&v)) return text_problem("metadata '" + key + "'", *s);
    return {};
}

} // namespace

std::string record_problem(const RecordBatch &b, size_t i) {
    const std::string &id = b.ids[i];
    if (id.empty()) return "id is empty";
    if (id.size() > kMaxIdBytes) return "id is " + std::to_string(id.size()) + " bytes (limit " + std::to_string(kMaxIdBytes) + ")";
    if (auto p = text_problem("id", id); !p.empty()) return p;
    const float *v = b.embedding(i);
    for (uint32_t k = 0; k < b.dim; ++k)
        if (!std::isfinite(v[k])) return "embedding[" + std::to_string(k) + "] is " + (std::isnan(v[k]) ? "NaN" : "infinite");
    if (b.documents[i])
        if (auto p = text_problem("document", *b.documents[i]); !p.empty()) return p;
    if (b.uris[i])
        if (auto p = text_problem("uri", *b.uris[i]); !p.empty()) return p;
    for (const auto &[k, val] : b.metadatas[i]) {
        if (auto p = text_problem("metadata key", k); !p.empty()) return p;
        std::string p;
        if (auto *arr = std::get_if<std::vector<MetaScalar>>(&val)) {
            for (const auto &e : *arr)
                if (p = scalar_problem(k, e); !p.empty()) break;
        } else {
            std::visit([&](const auto &x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (!std::is_same_v<T, std::vector<MetaScalar>>) p = scalar_problem(k, MetaScalar(x));
            }, val);
        }
        if (!p.empty()) return p;
    }
    return {};
}

} // namespace c2p
