// Reads one backup data file (jsonl, json or pickle; plain or zstd) back into record batches,
// checking as it goes: every line/record parses, dimensions agree, trailers match, and at the end
// the bytes on disk hash to the manifest's SHA-256. Errors name the file and line or record index.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backup/manifest.hpp"
#include "core/record.hpp"

namespace c2p {

class BackupFileReader {
public:
    // `dir` is the backup directory; `c` gives the expected dimension (if known).
    BackupFileReader(const std::string &dir, const ManifestFile &f, const CollectionInfo &c);
    ~BackupFileReader();
    BackupFileReader(const BackupFileReader &) = delete;
    BackupFileReader &operator=(const BackupFileReader &) = delete;

    // Clears `out` and fills it with up to `max` records; false (and `out` empty) at the end of the data.
    bool next(RecordBatch &out, size_t max);
    // After next() returned false: reads the rest of the file and checks size, SHA-256 and record
    // count against the manifest. Throws DataError on any difference.
    void finish();
    uint64_t records() const;
    // The file's dimension once a record was read (0 before).
    uint32_t dimension() const;

    class Impl;

private:
    std::unique_ptr<Impl> impl_;
};

} // namespace c2p
