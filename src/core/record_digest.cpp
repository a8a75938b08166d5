#include "core/record_digest.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <xxhash.h>

namespace c2p {
namespace {

// Canonical bytes: every field length-prefixed and type-tagged so no two records collide by framing.
void put_u64(std::string &s, uint64_t v) { s.append(reinterpret_cast<const char *>(&v), 8); }
void put_str(std::string &s, std::string_view v) {
    put_u64(s, v.size());
    s.append(v);
}
void put_opt(std::string &s, const std::optional<std::string> &v) {
    s.push_back(v ? 1 : 0);
    if (v) put_str(s, *v);
}
void put_scalar(std::string &s, const MetaScalar &v) {
    s.push_back(static_cast<char>('a' + v.index()));
    std::visit(
        [&](const auto &x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, bool>) s.push_back(x ? 1 : 0);
            else if constexpr (std::is_same_v<T, int64_t>) put_u64(s, static_cast<uint64_t>(x));
            else if constexpr (std::is_same_v<T, double>) {
                uint64_t bits;
                std::memcpy(&bits, &x, 8);
                put_u64(s, bits);
            } else put_str(s, x);
        },
        v);
}

} // namespace

Digest record_digest(const RecordBatch &b, size_t i) {
    // Streamed in three pieces, so the vector is hashed where it lies rather than copied into the
    // canonical bytes first; the hash is the one of the whole sequence (StableAcrossVersions).
    thread_local std::string buf;
    thread_local const std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> owned(XXH3_createState(),
                                                                                     &XXH3_freeState);
    XXH3_state_t *state = owned.get();
    XXH3_128bits_reset(state);
    buf.clear();
    put_str(buf, b.ids[i]);
    put_u64(buf, b.dim);
    XXH3_128bits_update(state, buf.data(), buf.size());
    XXH3_128bits_update(state, b.embedding(i), b.dim * sizeof(float));
    buf.clear();
    put_opt(buf, b.documents[i]);
    put_opt(buf, b.uris[i]);
    const Metadata &m = b.metadatas[i];
    std::vector<const std::pair<std::string, MetaValue> *> keys;
    keys.reserve(m.size());
    for (const auto &kv : m) keys.push_back(&kv);
    std::sort(keys.begin(), keys.end(), [](auto *a, auto *b2) { return a->first < b2->first; });
    put_u64(buf, keys.size());
    for (const auto *kv : keys) {
        put_str(buf, kv->first);
        if (auto *arr = std::get_if<std::vector<MetaScalar>>(&kv->second)) {
            buf.push_back('A');
            put_u64(buf, arr->size());
            for (const auto &e : *arr) put_scalar(buf, e);
        } else {
            std::visit(
                [&](const auto &x) {
                    using T = std::decay_t<decltype(x)>;
                    if constexpr (!std::is_same_v<T, std::vector<MetaScalar>>) put_scalar(buf, MetaScalar(x));
                },
                kv->second);
        }
    }
    XXH3_128bits_update(state, buf.data(), buf.size());
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(state));
    Digest d;
    std::memcpy(d.data(), c.digest, d.size());
    return d;
}

uint64_t id_key(std::string_view id) { return XXH3_64bits_withSeed(id.data(), id.size(), 0x63327076u); }

std::string digest_hex(const Digest &d) {
    static const char *hex = "0123456789abcdef";
    std::string s;
    for (uint8_t c : d) {
        s.push_back(hex[c >> 4]);
        s.push_back(hex[c & 15]);
    }
    return s;
}

} // namespace c2p
