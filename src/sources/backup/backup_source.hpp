// A chroma2pg backup directory as a source (inspect, migrate, restore…): the manifest lists the
// collections; records stream from the jsonl file (else json, else pickle), checked against the
// manifest's SHA-256 and counts when the file has been read to its end.
#pragma once

#include "backup/manifest.hpp"
#include "sources/source.hpp"

namespace c2p {

class BackupSource : public Source {
public:
    explicit BackupSource(std::string dir);
    std::string describe() const override { return dir_; }
    nlohmann::ordered_json details() const override;
    std::vector<CollectionInfo> list_collections() override;
    std::unique_ptr<BatchReader> read(const CollectionInfo &c, size_t batch_size) override;
    const Manifest &manifest() const { return manifest_; }

private:
    std::string dir_;
    Manifest manifest_;
};

bool is_backup_dir(const std::string &path);
std::unique_ptr<Source> open_backup_source(const std::string &dir, const SourceOptions &opts);

} // namespace c2p
