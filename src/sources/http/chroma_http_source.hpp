// A running Chroma server as a source: API v2 (Chroma ≥ 1.0), falling back to v1 (0.4–0.6).
#pragma once

#include <memory>
#include <string>

#include "sources/http/http_client.hpp"
#include "sources/source.hpp"

namespace c2p {

class ChromaHttpSource : public Source {
public:
    ChromaHttpSource(const std::string &url, const SourceOptions &opts);
    std::string describe() const override { return base_; }
    nlohmann::ordered_json details() const override;
    std::vector<CollectionInfo> list_collections() override;
    std::unique_ptr<BatchReader> read(const CollectionInfo &c, size_t batch_size) override;
    // Seeks with the server's offset paging instead of reading and discarding.
    std::unique_ptr<BatchReader> read_range(const CollectionInfo &c, size_t batch_size, uint64_t start,
                                            uint64_t count = kToTheEnd) override;
    bool live() const override { return true; }
    // Lists ids only, by position, each page overlapping the last by one id to detect shifts.
    std::optional<LiveIds> live_ids(const CollectionInfo &c) override;
    std::unique_ptr<BatchReader> read_ids(const CollectionInfo &c, std::vector<std::string> ids,
                                          size_t batch_size) override;

    int api_version() const { return api_; }
    // Path prefix of a collection's endpoints: /api/v2/tenants/T/databases/D/collections/ID
    std::string collection_path(const CollectionInfo &c) const;
    HttpClient &client() { return client_; }
    // Another connection to the same server, for requests made in parallel with client().
    std::unique_ptr<HttpClient> new_client() const;
    size_t max_batch_size() const { return max_batch_size_; }
    // The shortest of a few heartbeats at connect time: the link's round trip plus the server's least work.
    double round_trip_ms() const { return round_trip_ms_; }

private:
    std::string base_;
    SourceOptions opts_;
    HttpAuth auth_;
    HttpClient client_;
    int api_ = 2;
    std::string server_version_;
    size_t max_batch_size_ = 1000;
    double round_trip_ms_ = 0;
};

// Throws a specific error for a failed Chroma HTTP response (401/403 auth, 404 missing…).
[[noreturn]] void throw_http_error(const std::string &base, const std::string &what, const HttpResponse &r);
// Escapes a path segment (tenant, database names).
std::string url_escape(const std::string &s);

} // namespace c2p
