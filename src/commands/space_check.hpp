// Free-space checks before a migration or a backup: the user's guide asks for about twice the data's
// size free (the new copy, plus the old one, WAL or temporary files while it is written).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "target/pg_connection.hpp"

namespace c2p {

constexpr uint64_t kSpaceMargin = 2; // free space needed = kSpaceMargin x the estimated size

struct SpaceCheck {
    std::string what;                   // "backup directory", "database"
    std::string path;                   // what was measured (a directory), empty when unknown
    std::optional<uint64_t> free_bytes; // nullopt: could not be measured
    uint64_t estimate_bytes = 0;        // the data's estimated size
    uint64_t needed_bytes = 0;          // kSpaceMargin x estimate
    std::string note;                   // why unknown, or what was measured instead of the path asked

    // "ok", "insufficient", "unknown"
    std::string status() const;
    nlohmann::ordered_json to_json(bool skipped) const;
};

// The file system that will hold `path`: statvfs of it, or of its nearest existing parent.
SpaceCheck directory_space(const std::string &what, const std::string &path, uint64_t estimate);
// The database's data directory, measured only when the server runs on this machine (localhost,
// 127.0.0.1, ::1 or a Unix socket) and `SHOW data_directory` may be read; unknown otherwise.
SpaceCheck database_space(PgConnection &pg, uint64_t estimate);
// True when the database may be measured at all (a local server): callers skip sampling otherwise.
bool database_is_local(PgConnection &pg);

// Throws EnvError (exit 3) naming the path, the free bytes, the need and --skip-space-check for the
// first check that fails, unless `skip`.
void enforce_space(const std::vector<SpaceCheck> &checks, bool skip);

} // namespace c2p
