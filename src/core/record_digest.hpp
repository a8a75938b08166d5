// A per-record content digest: equal digests mean equal id, embedding bits, document, uri
// and typed metadata. Used by verify (source vs target) and sync (what changed).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/record.hpp"

namespace c2p {

// XXH3-128 of a canonical encoding: detects any accidental change, at memory speed.
using Digest = std::array<uint8_t, 16>;

// A record reduced to a 64-bit hash of its id (the join key) and its content digest: 24 bytes, for
// comparing record sets that arrive in different orders (verify, sync) without holding their ids.
struct DigestEntry {
    uint64_t key;
    Digest digest;
};
uint64_t id_key(std::string_view id);

// Digest of record i of the batch. Metadata key order does not matter.
Digest record_digest(const RecordBatch &b, size_t i);
std::string digest_hex(const Digest &d);

} // namespace c2p
