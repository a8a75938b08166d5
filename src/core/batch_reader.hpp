// The producing side of every pipeline: a source's reader, or a PostgreSQL table read back.
#pragma once

#include "core/record.hpp"

namespace c2p {

// Yields one collection's records. Not thread-safe; one reader per thread.
class BatchReader {
public:
    virtual ~BatchReader() = default;
    // Fills `out` (cleared first, out.dim set) with up to the batch size records.
    // Returns false once the collection is exhausted (and `out` is then empty).
    virtual bool next(RecordBatch &out) = 0;
};

} // namespace c2p
