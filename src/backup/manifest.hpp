// manifest.json: what a backup holds, written last so a backup without one is never mistaken for complete.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/record.hpp"

namespace c2p {

struct ManifestFile {
    std::string path;        // relative to the backup directory
    std::string format;      // jsonl | json | pickle
    std::string compression; // none | zstd
    uint64_t bytes = 0;      // on disk
    std::string sha256;      // of the bytes on disk
    uint64_t records = 0;
};

struct ManifestCollection {
    CollectionInfo info; // id, name, metadata, configuration, space, dimension, record_count, tenant, database
    std::vector<ManifestFile> files;
};

struct Manifest {
    int format_version = 1;
    std::string tool = "chroma2pg";
    std::string tool_version, git_rev;
    std::string created_at; // UTC, ISO 8601 with Z
    std::string source;     // description without credentials
    nlohmann::ordered_json source_details = nlohmann::ordered_json::object();
    std::vector<ManifestCollection> collections;
};

constexpr const char *kManifestName = "manifest.json";

nlohmann::ordered_json manifest_to_json(const Manifest &m);
// Throws DataError naming `where` and the missing or ill-typed field.
Manifest manifest_from_json(const nlohmann::ordered_json &j, const std::string &where);
// Reads DIR/manifest.json.
Manifest read_manifest(const std::string &dir);

// A file-name stem from a collection name and id: [A-Za-z0-9_-] only, never hidden, bounded length,
// unique per collection id.
std::string safe_file_stem(const std::string &name, const std::string &id);

} // namespace c2p
