// How much disk a migrated collection takes in PostgreSQL, predicted before anything is written
// (`migrate --dry-run` and the free-space check). The model follows how PostgreSQL and pgvector lay
// out pages, fed with sizes measured on a sample of the collection's records; see size_estimate.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/record.hpp"

namespace c2p {

// One column value of a row as PostgreSQL would store it.
struct StoredValue {
    uint32_t bytes = 0;     // varlena: VARSIZE with a 4-byte header; fixed-length types: their length
    bool is_null = false;
    bool varlena = true;
    uint8_t align = 4;      // typalign in bytes (varlena: of the 4-byte-header form)
    bool toastable = true;  // storage extended or external (can go out of line, can take a 1-byte header)
    bool extended = true;   // storage extended: compressed first when the row is too large (external: never)
    uint32_t compressed = 0; // VARSIZE once compressed by pglz; 0 when pglz would not compress it
};
using SampledRow = std::vector<StoredValue>;

// A text-like value (text, varchar, bytea, jsonb) of `payload_bytes`, compressed to `compressed` (0: not).
inline StoredValue varlena_value(uint32_t payload_bytes, uint32_t compressed = 0) {
    return {payload_bytes + 4, false, true, 4, true, true, compressed};
}
// pgvector's vector/halfvec: STORAGE external (moved out of line uncompressed).
inline StoredValue external_value(uint32_t payload_bytes) { return {payload_bytes + 4, false, true, 4, true, false, 0}; }
inline StoredValue null_value() { return {0, true, true, 4, true, true, 0}; }
inline StoredValue fixed_value(uint32_t bytes, uint8_t align) { return {bytes, false, false, align, false, false, 0}; }

// VARSIZE of `data` compressed the way PostgreSQL's pglz does it (LZ77: 4 kB window, 3-273-byte
// matches, a control bit per item), or 0 when pglz would keep it uncompressed (under 32 bytes, no
// match in the first kilobyte, or less than 25% saved).
uint32_t pglz_compressed_size(std::string_view data);
// A text value as stored: its bytes, and what pglz would make of them.
inline StoredValue text_value(std::string_view t) {
    return varlena_value(uint32_t(t.size()), pglz_compressed_size(t));
}
// An index tuple's text key: a 1-byte header up to 126 bytes, else 4 (and int alignment).
inline uint32_t text_key_bytes(size_t len) {
    return len + 1 <= 127 ? uint32_t(len + 1) : uint32_t(len + 4 + 3) / 4 * 4;
}

// The table itself: main fork plus its TOAST table and TOAST index.
struct HeapEstimate {
    uint64_t heap_bytes = 0;
    uint64_t toast_bytes = 0;
    double rows_per_page = 1; // heap rows per page (how close row pointers are: GIN posting sizes)
};
// `sample` rows are cycled over `rows`.
HeapEstimate estimate_heap(const std::vector<SampledRow> &sample, uint64_t rows);

// A B-tree built by sorting (CREATE INDEX / ADD PRIMARY KEY); `key_bytes` is each sampled key's size
// as stored in an index tuple (text: 1 + length when short; bigint: 8).
uint64_t estimate_btree(const std::vector<uint32_t> &key_bytes, uint64_t rows);
// A non-unique B-tree whose keys are all NULL (deduplicated into posting lists).
uint64_t estimate_null_btree(uint64_t rows);

// pgvector indexes; `halfvec`: the indexed value is a halfvec (2 bytes per dimension).
uint64_t estimate_hnsw(uint64_t rows, uint32_t dim, bool halfvec, int m);
uint64_t estimate_ivfflat(uint64_t rows, uint32_t dim, bool halfvec, uint64_t lists);

// GIN entries of a jsonb column counted over a sample: entry -> sampled rows holding it.
struct GinSample {
    uint64_t rows = 0;
    std::unordered_map<std::string, uint32_t> entries;
};
// Counts one row: the entries jsonb_ops extracts (every key, every scalar value) or jsonb_path_ops
// (a hash per path + value). An empty Metadata (SQL NULL) has none but still counts as a row.
void add_gin_entries(GinSample &g, const Metadata &m, bool path_ops);
uint64_t estimate_gin(const GinSample &g, uint64_t rows, double heap_rows_per_page, bool path_ops);

// The text form numeric_normalize() gives a JSON number (jsonb_ops indexes that text).
std::string normalized_numeric(double v);

} // namespace c2p
