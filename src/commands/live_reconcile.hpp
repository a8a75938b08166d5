// A live source (a Chroma server the application keeps writing to) is read by position, so a record
// deleted mid-read shifts the later ones back and the next page skips as many. Once a collection's
// ranges are all in its staging table, the source's ids are listed again and compared with the table:
// what the read skipped (and what was added during it) is fetched by id and loaded; what was deleted
// during it is counted and left to `sync`. The table holds every committed chunk of every run, so
// the check covers a resumed load too.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sources/source.hpp"
#include "target/pg_connection.hpp"

namespace c2p {

struct LiveCheck {
    bool checked = false;    // the source is live and was checked
    bool consistent = true;  // the listing was taken without the collection shifting beyond the bound
    uint64_t listed = 0;     // ids the source holds now
    uint64_t fetched = 0;    // records fetched by id: skipped by the read, or added during it
    uint64_t deleted = 0;    // rows in the table whose records the source no longer has
    uint64_t duplicates = 0; // rows read twice (ranges read in parallel while records were deleted), removed
    double seconds = 0;
};

// The source's listing (sorted and made unique here) against the ids `id_query` returns, read through a cursor in
// chunks inside the caller's transaction: the listed ids it lacks, and how many of its ids the listing
// lacks (deleted since) or it returns more than once.
struct IdDiff {
    std::vector<std::string> missing;
    uint64_t listed = 0, extra = 0, duplicates = 0;
};
IdDiff diff_against_listing(PgConnection &pg, std::vector<std::string> listed, const std::string &id_query);

// `load` writes the records of a reader into the staging table and returns how many it read; it is
// only called when there is something to fetch. `reject_path`: ids listed there as rejected are in
// the source but deliberately not in the table. Memory: the listing, about 80 bytes per id (80 MB
// for a million 36-character ids); the table's ids are scanned in chunks.
LiveCheck reconcile_with_live_source(Source &source, const CollectionInfo &c, size_t batch_size, PgConnection &pg,
                                     const std::string &schema, const std::string &staging,
                                     const std::string &reject_path, const std::function<uint64_t(BatchReader &)> &load);

// The command that brings the target up to date with the source afterwards; `to` as given to this
// run (its password is left out).
std::string sync_command(const std::string &source, const SourceOptions &so, const std::string &to,
                         const std::string &schema, const std::vector<std::string> &collections);

} // namespace c2p
