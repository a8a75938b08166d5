// Float16 (`halfvec`) columns: what they can hold and what a float32 embedding becomes in them.
// The conversion is IEEE round-to-nearest-even, the same as pgvector's Float4ToHalf (F16C
// _cvtss_sh(x, 0), _Float16, or its portable fallback), so a value written by our binary COPY and
// the same value cast by the server (`'[…]'::vector::halfvec`) have identical bits.
#pragma once

#include <string>

#include "core/record.hpp"
#include "core/record_digest.hpp"

namespace c2p {

// Empty when every component of record i fits a halfvec; else the reason, naming the component.
// Like pgvector, a finite value that rounds to infinity (|x| >= 65520) does not fit.
std::string halfvec_problem(const RecordBatch &b, size_t i);

// Rounds every embedding of the batch to float16 and back (exact): the values a halfvec column holds.
void round_to_halfvec(RecordBatch &b);

// The digest of record i as stored in a halfvec column (its embedding rounded to float16).
Digest record_digest_halfvec(const RecordBatch &b, size_t i);

} // namespace c2p
