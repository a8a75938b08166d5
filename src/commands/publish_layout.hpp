// A framework layout's collection goes in as the native one does, checkpointed into its native staging
// table by migrate's ranges (resumable, rejects listed, live-source check), and is then published:
// read back from the staging table and loaded through the layout's sink in one transaction that also
// marks the load done and drops the staging table. A kill before that COMMIT leaves the staging
// table and its checkpoints; one after it leaves a finished load.
#pragma once

#include <string>

#include "core/record.hpp"
#include "target/checkpoint_store.hpp"
#include "target/layout_sink.hpp"
#include "target/pg_connection.hpp"

namespace c2p {

struct PublishResult {
    uint64_t rows = 0;
    double index_seconds = 0;
    bool already_done = false; // an earlier attempt committed it (its COMMIT's answer was lost)
};

// `pg` is the sink's session; a second session to `target` reads the staging table while the sink writes.
// `published_rows_if_done`: what to report when an earlier attempt already committed the collection.
PublishResult publish_layout_collection(PgConnection &pg, const std::string &target, LayoutSink &sink,
                                        const CheckpointStore &store, const CollectionInfo &c,
                                        const std::string &staging, bool halfvec, size_t batch_size,
                                        uint64_t published_rows_if_done);

} // namespace c2p
