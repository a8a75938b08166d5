// Writes collections into a Chroma server (API v2): the restore path. Each collection is filled under
// a staging name and renamed to its real name only when complete, so an interrupted restore never
// looks finished; a rerun finds the staging collection and continues (upsert is idempotent, and
// batches already present are skipped).
#pragma once

#include <cstdint>
#include <string>

#include "pipeline/sink.hpp"
#include "sources/http/chroma_http_source.hpp"

namespace c2p {

struct ChromaWriterOptions {
    std::string tenant = "default_tenant";
    std::string database = "default_database";
    std::string token, token_header = "x-chroma-token";
    bool insecure_tls = false;
    bool overwrite = false;                 // replace an existing non-empty collection
    size_t max_body_bytes = 8u << 20;       // Chroma answers 413 to large bodies (a 5461×384 add is ~47 MB)
};

// What is at a name in the server.
struct ChromaCollectionState {
    bool exists = false;
    std::string id;
    uint64_t count = 0;
};

class ChromaHttpWriter : public Sink {
public:
    // `server` must have been opened on the target URL with the same tenant/database.
    ChromaHttpWriter(ChromaHttpSource &server, std::string url, ChromaWriterOptions opts, std::string target_name);

    void begin(const CollectionInfo &c) override;
    void write(const RecordBatch &b) override;
    void finish() override;
    void abort() noexcept override {}

    // The name a collection is restored under before its final rename.
    static std::string staging_name(const std::string &target);
    ChromaCollectionState lookup(const std::string &name);

    uint64_t records_sent() const { return sent_; }
    uint64_t records_skipped() const { return skipped_; }
    bool resumed() const { return resumed_; }
    size_t requests() const { return requests_; }
    const std::string &target_id() const { return target_id_; }
    const std::string &configuration_note() const { return config_note_; }

private:
    std::string collections_path() const;
    void create_staging(const CollectionInfo &c);
    uint64_t count(const std::string &id);
    size_t present(const RecordBatch &b);
    void send(const RecordBatch &b, size_t from, size_t to);
    // PUT / DELETE, which HttpClient does not offer.
    HttpResponse custom(const std::string &method, const std::string &path, const std::string &body);

    ChromaHttpSource &server_;
    std::string url_;
    ChromaWriterOptions opts_;
    std::string target_, staging_, staging_id_, target_id_, config_note_;
    CollectionInfo c_;
    bool resumed_ = false, checking_ = false;
    uint64_t sent_ = 0, skipped_ = 0;
    size_t requests_ = 0;
    std::string body_, ids_, embs_, docs_, uris_, metas_;
};

} // namespace c2p
