// Digest parity of two record sets that arrive in different orders, in 24 bytes per record.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/record_digest.hpp"

namespace c2p {

// Both sides (DigestEntry, core/record_digest.hpp) are sorted by key and merged: 24 bytes per record per
// side, no ids held in memory (10M records: 480 MB for both sides). Ids are recovered afterwards, only
// for the keys that differ.

struct DigestDiff {
    uint64_t source_count = 0, target_count = 0, matching = 0;
    std::vector<uint64_t> missing;   // keys in the source only
    std::vector<uint64_t> extra;     // keys in the target only
    std::vector<uint64_t> different; // keys on both sides with different content
    bool clean() const { return missing.empty() && extra.empty() && different.empty(); }
};

// Sorts both vectors in place and merges them. Two ids hashing alike (≈ n²/2⁶⁵ chance) are still
// compared correctly: a key's group is compared as a multiset of digests (which cover the id).
DigestDiff compare_digests(std::vector<DigestEntry> &source, std::vector<DigestEntry> &target);

} // namespace c2p
