// `backup verify`: re-hash every file, re-read every record, check counts, dimensions, and that all
// formats of a collection hold the same records; report every problem with its file and line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace c2p {

struct VerifiedFile {
    std::string collection, path, format, compression;
    uint64_t records = 0, bytes = 0;
    std::string problem; // empty when the file is sound
};

struct BackupVerifyResult {
    std::string dir;
    std::string created_at;
    std::vector<VerifiedFile> files;
    std::vector<std::string> problems; // every problem found, each naming its file
    uint64_t records = 0;
    bool ok() const { return problems.empty(); }
    nlohmann::ordered_json to_json() const;
};

// `show_progress`: a progress line per collection on stderr.
BackupVerifyResult verify_backup(const std::string &dir, bool show_progress);

} // namespace c2p
