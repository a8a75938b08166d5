// The source side of the pipeline: list collections, then stream each one in batches.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/batch_reader.hpp"
#include "core/record.hpp"

namespace c2p {

// No limit for read_range().
constexpr uint64_t kToTheEnd = UINT64_MAX;

// The ids a live source (a running server, written to while it is read) holds now. `consistent`: no
// id present for the whole listing was missed; false when the collection kept shifting under the
// listing beyond the retry bound (the list is then the last attempt's, possibly short).
struct LiveIds {
    std::vector<std::string> ids;
    bool consistent = true;
    int shifts = 0; // page boundaries that moved under the listing (each re-read)
};

class Source {
public:
    virtual ~Source() = default;
    // Human description with no credentials: a URL without user/password, or a path.
    virtual std::string describe() const = 0;
    // Source-level facts for reports and manifests (server version, on-disk era…).
    virtual nlohmann::ordered_json details() const { return nlohmann::ordered_json::object(); }
    virtual std::vector<CollectionInfo> list_collections() = 0;
    virtual std::unique_ptr<BatchReader> read(const CollectionInfo &c, size_t batch_size) = 0;
    // Records [start, start + count) in read() order (the order must be the same on every read of an
    // unchanged collection: resume and parallel ranges rely on it). Default: read(), discard the first
    // `start` records, stop after `count`; sources that can seek (HTTP offset paging) override it.
    virtual std::unique_ptr<BatchReader> read_range(const CollectionInfo &c, size_t batch_size, uint64_t start,
                                                    uint64_t count = kToTheEnd);
    // Live sources only (nullopt: the source cannot change while it is read). Readers of a live
    // source page by position, so records deleted mid-read shift others past them: callers compare
    // what they read with this listing, taken after the read, and fetch the difference with read_ids().
    virtual bool live() const { return false; }
    virtual std::optional<LiveIds> live_ids(const CollectionInfo &) { return std::nullopt; }
    // The records with these ids that still exist, in batches (live sources only).
    virtual std::unique_ptr<BatchReader> read_ids(const CollectionInfo &c, std::vector<std::string> ids,
                                                  size_t batch_size);
    // Another handle on the same data for a thread of its own, sharing what can be shared: a persistent
    // directory's handles read one snapshot and share its plans, so N readers cost about what one does
    // and read the same state. nullptr (the default): the caller opens the source again.
    virtual std::unique_ptr<Source> share() { return nullptr; }
};

// Records [start, start + count) of what `inner` yields: read_range()'s default, for sources that
// make their own reader.
std::unique_ptr<BatchReader> slice_reader(std::unique_ptr<BatchReader> inner, uint64_t start, uint64_t count);

// Picks the source by what `spec` is: http(s) URL, a Chroma persistent directory, or a
// chroma2pg backup directory. Defined in sources/open_source.cpp.
struct SourceOptions {
    std::string tenant = "default_tenant";
    std::string database = "default_database";
    std::string token;            // empty = none
    std::string token_header = "x-chroma-token"; // or "authorization" (Bearer)
    bool insecure_tls = false;
    bool salvage = false;         // persistent dir: recover what can be, report the rest
    bool no_table_scans = false;  // persistent dir: read by rowid lookups only (tests compare both ways)
    // persistent dir: read the collections' HNSW files from the start, while SQLite is copied, for a
    // source whose collections will all be listed (a worker's source, which reads one, sets it off)
    bool plan_ahead = true;
    // persistent dir: how many threads read it at once through share()d handles (a migrate's --jobs)
    int readers = 1;
};
std::unique_ptr<Source> open_source(const std::string &spec, const SourceOptions &opts);
// A worker's own handle on `main` (opened from `spec` with `opts`): main.share(), else the source opened
// again for a worker, which reads the collections it is given one by one.
std::unique_ptr<Source> open_worker_source(Source &main, const std::string &spec, SourceOptions opts);

} // namespace c2p
