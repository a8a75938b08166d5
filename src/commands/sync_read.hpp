// How `sync` reads a collection, for every layout: the source through the pipeline into the layout's
// change applier (a Sink that marks ids seen and stages new and changed records, in the caller's
// transaction), then, from a live source, what the read did not see.
#pragma once

#include <cstddef>
#include <string>

#include "core/sink.hpp"
#include "sources/source.hpp"
#include "target/pg_connection.hpp"
#include "util/progress.hpp"

namespace c2p {

// Reads the whole collection into `applier` (the next batch is read while it writes). From a live source
// (a Chroma server the application keeps writing to), the ids it holds now that `seen_ids_sql` (the
// source's ids the applier marked seen) lacks were skipped when a deletion shifted positions mid-read, or
// added during it: they are fetched by id into `applier` too, so none is removed as if deleted. EnvError
// when the collection moved too fast to be listed consistently (nothing changed: sync again).
void read_for_sync(PgConnection &pg, Source &source, const CollectionInfo &c, size_t batch_size, Sink &applier,
                   Progress &progress, const std::string &seen_ids_sql);

} // namespace c2p
