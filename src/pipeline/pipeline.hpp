// Moves one collection from a BatchReader to a Sink, reading the next batch while the sink writes.
#pragma once

#include <cstdint>
#include <string>

#include "core/sink.hpp"
#include "sources/source.hpp"
#include "util/progress.hpp"

namespace c2p {

struct PipelineStats {
    uint64_t records = 0;
    uint64_t bytes = 0;
    double seconds = 0;
};

// Runs reader -> sink on two threads with a small bounded queue of recycled batches, so memory is
// O(batch size) whatever the collection size. Calls sink.begin/finish (abort on error, rethrown).
PipelineStats run_pipeline(const CollectionInfo &c, BatchReader &reader, Sink &sink, Progress *progress);

// One whole collection of `source` into `sink`, with a progress bar named `label` when `show_progress`.
PipelineStats load_collection(Source &source, const CollectionInfo &c, size_t batch_size, Sink &sink,
                              const std::string &label, bool show_progress);

} // namespace c2p
