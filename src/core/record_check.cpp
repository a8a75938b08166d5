#include "core/record_check.hpp"

#include <cmath>
#include <cstring>

#include "core/json_text.hpp"

namespace c2p {
namespace {

// Why `s` cannot be PostgreSQL text, or null. The caller names the field only on failure:
// this runs for every string of every record.
const char *text_flaw(std::string_view s) {
    if (s.find('\0') != std::string_view::npos) return " contains a NUL character";
    if (!json_text::utf8_valid(s)) return " is not valid UTF-8";
    return nullptr;
}

std::string scalar_problem(const std::string &key, double d) {
    return std::isfinite(d) ? std::string() : "metadata '" + key + "' is a non-finite float";
}
std::string scalar_problem(const std::string &key, const std::string &s) {
    const char *f = text_flaw(s);
    return f ? "metadata '" + key + "'" + f : std::string();
}
std::string scalar_problem(const std::string &key, const MetaScalar &v) {
    if (auto *d = std::get_if<double>(&v)) return scalar_problem(key, *d);
    if (auto *s = std::get_if<std::string>(&v)) return scalar_problem(key, *s);
    return {};
}

// NaN and infinity have an exponent of all ones. Four floats per step with the compiler's vector
// extension, the width of the baseline SSE2 registers (-O2 does not vectorise the plain loop).
bool all_finite(const float *v, uint32_t n) {
    typedef uint32_t u32x4 __attribute__((vector_size(16)));
    typedef int32_t i32x4 __attribute__((vector_size(16)));
    const u32x4 exp = {0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u};
    i32x4 bad = {};
    uint32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        u32x4 bits;
        std::memcpy(&bits, v + k, sizeof bits);
        bad |= (bits & exp) == exp;
    }
    int32_t any = bad[0] | bad[1] | bad[2] | bad[3];
    for (; k < n; ++k) {
        uint32_t bits;
        std::memcpy(&bits, v + k, 4);
        any |= int32_t((bits & 0x7f800000u) == 0x7f800000u);
    }
    return any == 0;
}

} // namespace

std::string record_problem(const RecordBatch &b, size_t i) {
    const std::string &id = b.ids[i];
    if (id.empty()) return "id is empty";
    if (id.size() > kMaxIdBytes) return "id is " + std::to_string(id.size()) + " bytes (limit " + std::to_string(kMaxIdBytes) + ")";
    if (const char *f = text_flaw(id)) return std::string("id") + f;
    const float *v = b.embedding(i);
    if (!all_finite(v, b.dim))
        for (uint32_t k = 0; k < b.dim; ++k)
            if (!std::isfinite(v[k])) return "embedding[" + std::to_string(k) + "] is " + (std::isnan(v[k]) ? "NaN" : "infinite");
    if (b.documents[i])
        if (const char *f = text_flaw(*b.documents[i])) return std::string("document") + f;
    if (b.uris[i])
        if (const char *f = text_flaw(*b.uris[i])) return std::string("uri") + f;
    for (const auto &[k, val] : b.metadatas[i]) {
        if (const char *f = text_flaw(k)) return std::string("metadata key") + f;
        std::string p;
        if (auto *arr = std::get_if<std::vector<MetaScalar>>(&val)) {
            for (const auto &e : *arr)
                if (p = scalar_problem(k, e); !p.empty()) break;
        } else if (auto *d = std::get_if<double>(&val)) {
            p = scalar_problem(k, *d);
        } else if (auto *s = std::get_if<std::string>(&val)) {
            p = scalar_problem(k, *s);
        }
        if (!p.empty()) return p;
    }
    return {};
}

bool storable_id(const std::string &id) {
    return !id.empty() && id.size() <= kMaxIdBytes && id.find('\0') == std::string::npos && json_text::utf8_valid(id);
}

} // namespace c2p
