// The consuming side of the pipeline: PostgreSQL (each layout), a backup writer, a Chroma restore.
#pragma once

#include "core/record.hpp"

namespace c2p {

class Sink {
public:
    virtual ~Sink() = default;
    virtual void begin(const CollectionInfo &c) = 0;
    virtual void write(const RecordBatch &batch) = 0;
    // Makes the collection durable and visible (commit, rename…).
    virtual void finish() = 0;
    // Called instead of finish() when the run fails; must leave nothing that looks complete.
    virtual void abort() noexcept {}
};

} // namespace c2p
