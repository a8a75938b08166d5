// Completeness of one collection: count parity and the digest of every record on both sides.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sources/source.hpp"
#include "target/target_layout.hpp"
#include "target/pg_connection.hpp"
#include "verify/digest_compare.hpp"
#include "verify/search_check.hpp"

namespace c2p {

class Progress;

struct CompletenessOptions {
    size_t batch_size = 1000;
    size_t detail_limit = 20; // differing records whose fields are named (both sides re-read)
    size_t sample = 100;      // query vectors kept for the search check
    bool show_progress = true;
};

struct DifferentRecord {
    std::string id;
    std::vector<std::string> fields;  // empty beyond the detail limit
    std::vector<std::string> details;
};

struct CompletenessResult {
    DigestDiff diff;
    std::vector<std::string> missing_ids, extra_ids; // sorted, all of them
    std::vector<DifferentRecord> different;          // sorted by id, all of them
    uint64_t stored_digest_stale = 0; // target rows whose `digest` column no longer matches their values
    uint64_t nul_escaped = 0;      // source records holding U+0000, compared as --escape-nul stores them (U+2400)
    uint64_t nul_escaped_rows = 0; // target rows whose stored digest is of their text with U+2400 back to U+0000
    uint64_t null_valued_rows = 0; // target rows whose metadata has keys with a JSON null value
    double source_seconds = 0, target_seconds = 0, read_seconds = 0, compare_seconds = 0, resolve_seconds = 0;
    uint64_t source_bytes = 0;
    QuerySample sample; // deterministic: the records with the smallest id hashes
    uint32_t dim = 0;
    bool float16 = false; // a halfvec column: embeddings compared at float16 precision
    nlohmann::ordered_json to_json() const;
};

// Streams the source and the target's rows at the same time (two threads), computing record_digest
// from the values each side returns (a native table's stored digest column is only cross-checked).
// Framework layouts are read back through their documented mapping (read_options). A halfvec column
// is compared at float16 precision: the source's float32 values are rounded to nearest even (as
// pgvector converts) before the digest. Memory: 24 bytes per record per side plus the sample. When
// something differs, a second pass over both sides recovers the ids (and, for the first
// `detail_limit` differing records, the fields that differ).
CompletenessResult check_completeness(Source &src, const CollectionInfo &c, PgConnection &pg, const TargetCollection &t,
                                      const CompletenessOptions &o);

} // namespace c2p
