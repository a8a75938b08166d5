// Writes collections into a Chroma server (API v2): the restore path. Each collection is filled under
// a staging name and renamed to its real name only when complete, so an interrupted restore never
// looks finished; a rerun finds the staging collection and continues (upsert is idempotent, and
// batches already present are skipped). The staging name carries a tag of the backup (and source
// collection) filling it, so a rerun from another backup never resumes it; the finished collection
// carries no trace of it. A record the server refuses as data is bisected out and written to the
// collection's reject file; the rest is restored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/sink.hpp"
#include "sources/http/chroma_http_source.hpp"
#include "core/reject_file.hpp"

namespace c2p {

struct ChromaWriterOptions {
    std::string tenant = "default_tenant";
    std::string database = "default_database";
    std::string token, token_header = "x-chroma-token";
    bool insecure_tls = false;
    bool overwrite = false;                 // replace an existing non-empty collection
    size_t max_body_bytes = 8u << 20;       // Chroma answers 413 to large bodies (a 5461×384 add is ~47 MB)
    std::string reject_dir = "chroma2pg-rejects";
};

// Which backup (and source collection) fills a staging collection.
struct RestoreOrigin {
    // "<yyyymmddThhmmssZ>-<8 hex>" for a backup (its creation time; a hash of its manifest and the
    // collection id), "src-<8 hex>" for another source (a hash of its description and the collection id).
    std::string tag;
    std::string label; // for messages: "backup /path (made 2026-11-25T15:47:36Z)"
};
// The origin's description from a staging tag found on the server.
std::string describe_origin_tag(const std::string &tag);

// What is at a name in the server.
struct ChromaCollectionState {
    bool exists = false;
    std::string id;
    uint64_t count = 0;
};

class ChromaHttpWriter : public Sink {
public:
    // `server` must have been opened on the target URL with the same tenant/database.
    ChromaHttpWriter(ChromaHttpSource &server, std::string url, ChromaWriterOptions opts, std::string target_name,
                     RestoreOrigin origin);
    ~ChromaHttpWriter() override;

    void begin(const CollectionInfo &c) override;
    void write(const RecordBatch &b) override;
    void finish() override;
    void abort() noexcept override {}

    // The name a collection is restored under before its final rename.
    static std::string staging_name(const std::string &target, const std::string &tag);
    ChromaCollectionState lookup(const std::string &name);
    // Staging collections of this target filled from another origin (or by a chroma2pg that did not tag them).
    std::vector<std::string> foreign_stagings();
    // The refusal for those, naming both origins.
    std::string foreign_message(const std::vector<std::string> &names) const;

    uint64_t records_sent() const { return sent_; }
    uint64_t records_skipped() const { return skipped_; }
    bool resumed() const { return resumed_; }
    size_t requests() const { return requests_; }
    const std::string &target_id() const { return target_id_; }
    const std::string &configuration_note() const { return config_note_; }
    uint64_t records_rejected() const;
    std::string reject_path() const;

private:
    std::string collections_path() const;
    void create_staging(const CollectionInfo &c);
    uint64_t count(const std::string &id);
    std::vector<std::string> list_names();
    size_t present(const RecordBatch &b);
    // Upserts records [from, to); returns how many the server refused as data (bisected to single
    // records, each written to the reject file).
    size_t send(const RecordBatch &b, size_t from, size_t to);
    // PUT / DELETE, which HttpClient does not offer.
    HttpResponse custom(const std::string &method, const std::string &path, const std::string &body);

    ChromaHttpSource &server_;
    std::string url_;
    ChromaWriterOptions opts_;
    std::string target_, staging_, staging_id_, target_id_, config_note_;
    RestoreOrigin origin_;
    CollectionInfo c_;
    std::unique_ptr<RejectFile> rejects_;
    bool resumed_ = false, checking_ = false;
    uint64_t sent_ = 0, skipped_ = 0;
    uint64_t batch_offset_ = 0; // source position of the current batch's first record
    size_t requests_ = 0;
    std::string body_, ids_, embs_, docs_, uris_, metas_;
};

} // namespace c2p
