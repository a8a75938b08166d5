#include "sources/http/chroma_http_source.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <deque>
#include <future>
#include <unordered_map>

#include <curl/curl.h>
#include <fmt/format.h>
#include <simdjson.h>

#include "core/metadata_json.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

// Ids per page of a listing (ids only: about 40 bytes each in the answer).
constexpr size_t kIdPage = 10000;
// A listing that keeps being shifted by concurrent writes gives up after this many moved boundaries,
// or after starting over this many times (when the ids it last listed were all deleted).
constexpr int kMaxListingShifts = 50;
constexpr int kMaxListingRestarts = 3;

json parse_json(const std::string &base, const std::string &what, const HttpResponse &r) {
    try {
        return json::parse(r.body);
    } catch (const std::exception &e) {
        throw EnvError(fmt::format("Chroma at {}: {}: the answer is not JSON ({}): {}", base, what, e.what(),
                                   r.body.substr(0, 200)));
    }
}

// One page of a collection's ids by position (`get` with nothing included): the reader's windows and
// the live check's listing.
std::vector<std::string> ids_page(HttpClient &client, const std::string &base, const std::string &path,
                                  const std::string &collection, uint64_t offset, size_t limit) {
    const std::string what = "listing the ids of collection '" + collection + "'";
    auto r = client.post(path, fmt::format(R"({{"limit":{},"offset":{},"include":[]}})", limit, offset));
    if (r.status != 200) throw_http_error(base, what, r);
    auto j = parse_json(base, what, r);
    try {
        return j.at("ids").get<std::vector<std::string>>();
    } catch (const json::exception &) {
        throw EnvError(fmt::format("Chroma at {}: {}: the answer has no list of ids: {}", base, what,
                                   r.body.substr(0, 200)));
    }
}

Space space_of(const json &configuration, const json &metadata) {
    auto from = [](const json &j, std::initializer_list<const char *> path) -> std::string {
        const json *cur = &j;
        for (const char *k : path) {
            if (!cur->is_object() || !cur->contains(k)) return "";
            cur = &(*cur)[k];
        }
        return cur->is_string() ? cur->get<std::string>() : "";
    };
    for (auto s : {from(configuration, {"hnsw", "space"}), from(configuration, {"hnsw_configuration", "space"}),
                   from(configuration, {"spann", "space"}), from(metadata, {"hnsw:space"})})
        if (!s.empty()) return parse_space(s);
    return Space::l2;
}

std::string_view trimmed_token(simdjson::ondemand::value v) {
    std::string_view raw = v.raw_json_token();
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
        raw.remove_suffix(1);
    return raw;
}

// Chroma's own number text decides the type: a fraction or exponent is a float, else an int.
MetaScalar scalar_from_ondemand(simdjson::ondemand::value v, std::string_view key) {
    switch (v.type()) {
    case simdjson::ondemand::json_type::boolean: return bool(v.get_bool());
    case simdjson::ondemand::json_type::string: return std::string(std::string_view(v.get_string()));
    case simdjson::ondemand::json_type::number: {
        std::string_view raw = trimmed_token(v);
        bool is_float = raw.find_first_of(".eE") != std::string_view::npos;
        if (is_float) {
            double d;
            auto r = std::from_chars(raw.data(), raw.data() + raw.size(), d);
            if (r.ec == std::errc()) return d;
        } else {
            int64_t i;
            auto r = std::from_chars(raw.data(), raw.data() + raw.size(), i);
            if (r.ec == std::errc()) return i;
        }
        throw DataError("metadata key '" + std::string(key) + "': number " + std::string(raw) +
                        " does not fit a 64-bit int or double");
    }
    default:
        throw DataError("metadata key '" + std::string(key) + "': unsupported value type");
    }
}

Metadata metadata_from_ondemand(simdjson::ondemand::object obj) {
    Metadata m;
    for (auto field : obj) {
        std::string key(std::string_view(field.unescaped_key()));
        simdjson::ondemand::value v = field.value();
        simdjson::ondemand::json_type t = v.type();
        if (t == simdjson::ondemand::json_type::null) continue;
        if (t == simdjson::ondemand::json_type::array) {
            std::vector<MetaScalar> arr;
            for (auto e : v.get_array()) arr.push_back(scalar_from_ondemand(e.value(), key));
            m.emplace_back(std::move(key), std::move(arr));
        } else {
            std::visit([&](auto &&x) { m.emplace_back(key, MetaValue(std::move(x))); }, scalar_from_ondemand(v, key));
        }
    }
    return m;
}

} // namespace

std::string url_escape(const std::string &s) {
    char *e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
    std::string out = e ? e : s;
    curl_free(e);
    return out;
}

void throw_http_error(const std::string &base, const std::string &what, const HttpResponse &r) {
    std::string body = r.body.substr(0, 300);
    if (r.status == 401 || r.status == 403)
        throw EnvError(fmt::format("Chroma at {} refused the credentials (HTTP {}) for {}: check --token / "
                                   "CHROMA_API_KEY / CHROMA_TOKEN and --token-header: {}",
                                   base, r.status, what, body),
                       false); // retrying the same token cannot help
    if (r.status == 404)
        throw DataError(fmt::format("Chroma at {}: {}: not found (HTTP 404): {}", base, what, body));
    throw EnvError(fmt::format("Chroma at {}: {} failed with HTTP {}: {}", base, what, r.status, body));
}

ChromaHttpSource::ChromaHttpSource(const std::string &url, const SourceOptions &opts)
    : base_(parse_url(url).base), opts_(opts),
      auth_{opts.token, opts.token_header, parse_url(url).user, parse_url(url).password},
      client_(base_, auth_, opts.insecure_tls) {
    reject_api_path(url);
    // The server may still be starting (started together with chroma2pg): wait for it (--chroma-wait).
    auto hb = client_.get_when_up("/api/v2/heartbeat", chroma_start_wait());
    if (hb.status == 200) {
        api_ = 2;
    } else if (hb.status == 404 || hb.status == 410) {
        auto v1 = client_.get("/api/v1/heartbeat", 2);
        if (v1.status != 200) throw_http_error(base_, "heartbeat (API v1 and v2)", v1);
        api_ = 1;
    } else {
        throw_http_error(base_, "heartbeat", hb);
    }
    // The link's round trip decides how many reads are kept in flight (HttpBatchReader).
    round_trip_ms_ = 1e9;
    for (int i = 0; i < 3; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        client_.get(api_ == 2 ? "/api/v2/heartbeat" : "/api/v1/heartbeat", 2);
        round_trip_ms_ = std::min(
            round_trip_ms_, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    auto ver = client_.get(api_ == 2 ? "/api/v2/version" : "/api/v1/version");
    if (ver.status == 200) {
        auto j = parse_json(base_, "version", ver);
        server_version_ = j.is_string() ? j.get<std::string>() : ver.body;
    }
    if (api_ == 2) {
        // An authenticated call up front: a wrong token is reported here, before any work.
        auto id = client_.get("/api/v2/auth/identity");
        if (id.status == 401 || id.status == 403) throw_http_error(base_, "authentication", id);
        auto pf = client_.get("/api/v2/pre-flight-checks");
        if (pf.status == 200) {
            auto j = parse_json(base_, "pre-flight-checks", pf);
            if (j.contains("max_batch_size") && j["max_batch_size"].is_number_integer())
                max_batch_size_ = j["max_batch_size"].get<size_t>();
        }
    } else {
        auto pf = client_.get("/api/v1/pre-flight-checks");
        if (pf.status == 401 || pf.status == 403) throw_http_error(base_, "authentication", pf);
        if (pf.status == 200) {
            auto j = parse_json(base_, "pre-flight-checks", pf);
            if (j.contains("max_batch_size") && j["max_batch_size"].is_number_integer())
                max_batch_size_ = j["max_batch_size"].get<size_t>();
        }
    }
}

std::unique_ptr<HttpClient> ChromaHttpSource::new_client() const {
    return std::make_unique<HttpClient>(base_, auth_, opts_.insecure_tls);
}

nlohmann::ordered_json ChromaHttpSource::details() const {
    return {{"kind", "chroma-server"}, {"url", base_}, {"api", api_}, {"server_version", server_version_},
            {"tenant", opts_.tenant}, {"database", opts_.database}, {"max_batch_size", max_batch_size_}};
}

std::string ChromaHttpSource::collection_path(const CollectionInfo &c) const {
    if (api_ == 2)
        return "/api/v2/tenants/" + url_escape(opts_.tenant) + "/databases/" + url_escape(opts_.database) +
               "/collections/" + c.id;
    return "/api/v1/collections/" + c.id;
}

std::vector<CollectionInfo> ChromaHttpSource::list_collections() {
    std::vector<CollectionInfo> out;
    const size_t page = 100;
    for (size_t offset = 0;; offset += page) {
        std::string path = api_ == 2 ? fmt::format("/api/v2/tenants/{}/databases/{}/collections?limit={}&offset={}",
                                                   url_escape(opts_.tenant), url_escape(opts_.database), page, offset)
                                     : fmt::format("/api/v1/collections?tenant={}&database={}&limit={}&offset={}",
                                                   url_escape(opts_.tenant), url_escape(opts_.database), page, offset);
        auto r = client_.get(path);
        if (r.status != 200) {
            if (r.status == 404)
                throw DataError(fmt::format("Chroma at {}: tenant '{}' / database '{}' not found (HTTP 404): {}", base_,
                                            opts_.tenant, opts_.database, r.body.substr(0, 200)));
            throw_http_error(base_, "list collections", r);
        }
        auto arr = parse_json(base_, "list collections", r);
        if (!arr.is_array()) throw EnvError("Chroma at " + base_ + ": list collections: expected a JSON array");
        for (auto &j : arr) {
            CollectionInfo c;
            c.id = j.value("id", "");
            c.name = j.value("name", "");
            c.metadata = j.contains("metadata") ? j["metadata"] : json(nullptr);
            c.configuration = j.contains("configuration_json") ? j["configuration_json"] : json(nullptr);
            if (j.contains("dimension") && j["dimension"].is_number_integer())
                c.dimension = j["dimension"].get<uint32_t>();
            c.space = space_of(c.configuration, c.metadata);
            c.tenant = opts_.tenant;
            c.database = opts_.database;
            auto cnt = client_.get(collection_path(c) + "/count");
            if (cnt.status == 404) {
                // Deleted between the listing and now: it is no longer part of the source.
                log::warn("collection_vanished", fmt::format("collection '{}' was deleted while the collections were "
                                                             "listed; skipped", c.name),
                          {{"collection", c.name}});
                continue;
            }
            if (cnt.status != 200) throw_http_error(base_, "count of collection '" + c.name + "'", cnt);
            c.record_count = parse_json(base_, "count", cnt).get<uint64_t>();
            c.details = {{"source", "chroma-server"}, {"server_version", server_version_}};
            out.push_back(std::move(c));
        }
        if (arr.size() < page) break;
    }
    return out;
}

namespace {

// Reads a collection by position (Chroma's internal order, stable across pages since 0.5.11) as ids
// listed by position, a window at a time, then fetched by id: Chroma serves `get` by id faster than `get`
// by offset (1.5x on Chroma 1.0, 1.35x on the current one; bench/live_read.py). Given ids,
// fetches those. The next pages are requested on their own connections while the current one is
// parsed, so the server is never idle waiting for us.
class HttpBatchReader : public BatchReader {
public:
    HttpBatchReader(ChromaHttpSource &src, CollectionInfo c, size_t batch, uint64_t start = 0,
                    uint64_t count = kToTheEnd)
        : src_(src), c_(std::move(c)), path_(src.collection_path(c_) + "/get"), offset_(start), next_listed_(start),
          unlisted_(count) {
        size_window(batch);
    }
    HttpBatchReader(ChromaHttpSource &src, CollectionInfo c, size_t batch, std::vector<std::string> ids)
        : src_(src), c_(std::move(c)), path_(src.collection_path(c_) + "/get"), by_id_(true), ids_(std::move(ids)) {
        size_window(batch);
    }

    ~HttpBatchReader() override {
        for (auto &p : inflight_)
            if (p.answer.valid()) p.answer.wait();
    }

    bool next(RecordBatch &out) override {
        out.clear();
        out.dim = c_.dimension.value_or(0);
        for (;;) {
            while (inflight_.size() < in_flight_ && request()) {
            }
            if (inflight_.empty()) return false;
            Page page = std::move(inflight_.front());
            inflight_.pop_front();
            HttpResponse r = page.answer.get();
            offset_ = page.offset;
            if (r.status != 200) throw_http_error(src_.describe(), "get from collection '" + c_.name + "'", r);
            // Fewer records than ids: some were deleted since they were listed (a live source).
            if (parse(r.body, out) > 0) return true;
        }
    }

private:
    struct Page {
        uint64_t offset = 0;
        std::future<HttpResponse> answer;
    };

    // Over loopback two requests of `batch` records keep the server busy. Over a slower link (a server
    // on another host, Chroma Cloud) more requests are kept in flight, each of half a batch (smaller
    // answers, less memory each). bench/far_chroma.py at a 20 ms round trip: 8 of half a batch reach
    // 0.84x loopback's records/s at 125 MB peak RSS; 2 whole batches 0.73x at 98 MB; 8 of a quarter 0.79x.
    void size_window(size_t batch) {
        const double rtt = src_.round_trip_ms();
        in_flight_ = rtt < kLoopbackMs ? 2 : rtt < 4 * kLoopbackMs ? 4 : kMaxInFlight;
        batch_ = in_flight_ == 2 ? batch : std::max<size_t>(1, batch / 2);
        log::debug("read_window", fmt::format("collection '{}': {} requests of {} records in flight (round trip {:.1f} ms)",
                                              c_.name, in_flight_, batch_, rtt));
    }
    static constexpr double kLoopbackMs = 2;
    static constexpr size_t kMaxInFlight = 8;

    // Requests the next page; false when there is nothing left to request.
    bool request() {
        if (pending_ == ids_.size() && (by_id_ || !list_window())) return false;
        size_t want = std::min(batch_, ids_.size() - pending_);
        size_t slot = requested_++ % in_flight_;
        if (clients_.size() <= slot) clients_.push_back(src_.new_client());
        HttpClient *client = clients_[slot].get();
        json ids(json::value_t::array);
        for (size_t i = 0; i < want; ++i) ids.push_back(std::move(ids_[pending_ + i]));
        std::string body =
            fmt::format(R"({{"ids":{},"include":["embeddings","documents","metadatas","uris"]}})", ids.dump());
        inflight_.push_back(Page{pending_pos_, std::async(std::launch::async, [client, this, body = std::move(body)] {
                                     return client->post(path_, body);
                                 })});
        pending_ += want;
        pending_pos_ += want;
        return true;
    }

    // By position: the next window of ids, listed by offset (ids only). False at the end.
    bool list_window() {
        if (unlisted_ == 0) return false;
        size_t want = static_cast<size_t>(std::min<uint64_t>(kIdPage, unlisted_));
        if (!list_client_) list_client_ = src_.new_client();
        std::vector<std::string> got = ids_page(*list_client_, src_.describe(), path_, c_.name, next_listed_, want);
        // A short window is the end.
        unlisted_ = got.size() < want ? 0 : unlisted_ - got.size();
        ids_ = std::move(got);
        pending_ = 0;
        pending_pos_ = next_listed_;
        next_listed_ += ids_.size();
        return !ids_.empty();
    }

private:
    size_t parse(const std::string &text, RecordBatch &out) {
        simdjson::padded_string padded(text);
        simdjson::ondemand::document doc;
        if (auto err = parser_.iterate(padded).get(doc))
            throw EnvError(fmt::format("collection '{}': get answer is not JSON: {}", c_.name, simdjson::error_message(err)));
        std::vector<std::string> &ids = out.ids;
        size_t n_emb = 0;
        try {
            simdjson::ondemand::object obj = doc.get_object();
            for (auto field : obj) {
                std::string_view key = field.unescaped_key();
                simdjson::ondemand::value v = field.value();
                if (key == "ids") {
                    for (auto e : v.get_array()) ids.emplace_back(std::string_view(e.get_string()));
                } else if (key == "embeddings") {
                    if (v.is_null()) continue;
                    for (auto row : v.get_array()) {
                        size_t before = floats_.size();
                        for (auto x : row.get_array()) {
                            std::string_view raw = trimmed_token(x.value());
                            float f;
                            auto res = std::from_chars(raw.data(), raw.data() + raw.size(), f);
                            if (res.ec != std::errc() || res.ptr != raw.data() + raw.size())
                                throw DataError(fmt::format("collection '{}': embedding value '{}' is not a number",
                                                            c_.name, std::string(raw)));
                            floats_.push_back(f);
                        }
                        size_t d = floats_.size() - before;
                        if (n_emb == 0 && out.dim == 0) out.dim = static_cast<uint32_t>(d);
                        else if (d != out.dim)
                            throw DataError(fmt::format("collection '{}': embedding #{} at offset {} has {} dimensions, "
                                                        "others have {}", c_.name, n_emb, offset_, d, out.dim));
                        ++n_emb;
                    }
                } else if (key == "documents" || key == "uris") {
                    auto &dst = key == "documents" ? out.documents : out.uris;
                    if (v.is_null()) continue;
                    for (auto e : v.get_array()) {
                        if (e.is_null()) dst.emplace_back(std::nullopt);
                        else dst.emplace_back(std::string(std::string_view(e.get_string())));
                    }
                } else if (key == "metadatas") {
                    if (v.is_null()) continue;
                    for (auto e : v.get_array()) {
                        if (e.is_null()) out.metadatas.emplace_back();
                        else out.metadatas.push_back(metadata_from_ondemand(e.get_object()));
                    }
                }
            }
        } catch (const simdjson::simdjson_error &e) {
            throw EnvError(fmt::format("collection '{}': unexpected get answer at offset {}: {}", c_.name, offset_, e.what()));
        }
        size_t n = ids.size();
        if (n_emb != n)
            throw DataError(fmt::format("collection '{}': get returned {} ids but {} embeddings at offset {}", c_.name, n,
                                        n_emb, offset_));
        if (c_.dimension && n > 0 && out.dim != *c_.dimension)
            throw DataError(fmt::format("collection '{}': embeddings have {} dimensions, the collection says {}", c_.name,
                                        out.dim, *c_.dimension));
        out.embeddings.swap(floats_);
        floats_.clear();
        out.documents.resize(n);
        out.uris.resize(n);
        out.metadatas.resize(n);
        return n;
    }

    ChromaHttpSource &src_;
    CollectionInfo c_;
    size_t batch_ = 0;
    size_t in_flight_ = 2;
    std::string path_;
    uint64_t offset_ = 0;      // position of the page being parsed, for messages
    uint64_t next_listed_ = 0; // by position: of the next id to list
    uint64_t unlisted_ = 0;    // by position: ids still to list (kToTheEnd: to the end)
    bool by_id_ = false;       // given ids rather than a range of positions
    std::vector<std::string> ids_; // the ids to fetch (given, or the listed window), moved out as requested
    size_t pending_ = 0;           // the first id of ids_ not requested yet
    uint64_t pending_pos_ = 0;     // its position (by position), for messages
    size_t requested_ = 0;
    std::vector<std::unique_ptr<HttpClient>> clients_; // one per page in flight
    std::unique_ptr<HttpClient> list_client_;
    std::deque<Page> inflight_;
    simdjson::ondemand::parser parser_;
    std::vector<float> floats_;
};

} // namespace

std::unique_ptr<BatchReader> ChromaHttpSource::read(const CollectionInfo &c, size_t batch_size) {
    return std::make_unique<HttpBatchReader>(*this, c, batch_size);
}

std::unique_ptr<BatchReader> ChromaHttpSource::read_ids(const CollectionInfo &c, std::vector<std::string> ids,
                                                        size_t batch_size) {
    return std::make_unique<HttpBatchReader>(*this, c, batch_size, std::move(ids));
}

std::optional<LiveIds> ChromaHttpSource::live_ids(const CollectionInfo &c) {
    LiveIds out;
    const std::string path = collection_path(c) + "/get";
    auto page = [&](uint64_t offset, size_t limit) { return ids_page(client_, base_, path, c.name, offset, limit); };
    // Each page starts one id early: that id must be the last one listed, else records before the
    // boundary were deleted (or inserted) since, and the page would skip (or repeat) some. Then the
    // last listed ids are looked for in the window before the boundary, to continue from where the
    // newest of them is now; not found, the listing starts over.
    uint64_t next = 0; // position of the next id to list
    for (int restarts = 0;;) {
        if (next == 0) {
            auto first = page(0, kIdPage);
            out.ids = std::move(first);
            next = out.ids.size();
            if (out.ids.size() < kIdPage) return out;
            continue;
        }
        auto got = page(next - 1, kIdPage + 1);
        if (!got.empty() && got.front() == out.ids.back()) {
            out.ids.insert(out.ids.end(), std::make_move_iterator(got.begin() + 1), std::make_move_iterator(got.end()));
            next += got.size() - 1;
            if (got.size() < kIdPage + 1) return out;
            continue;
        }
        if (++out.shifts > kMaxListingShifts) {
            out.consistent = false;
            return out;
        }
        uint64_t from = next > kIdPage ? next - kIdPage : 0;
        auto window = page(from, static_cast<size_t>(next - from));
        // The newest of the last ids listed still present: the listing continues right after it.
        std::unordered_map<std::string_view, uint64_t> pos;
        for (size_t w = 0; w < window.size(); ++w) pos.emplace(window[w], from + w);
        size_t keep = 0;
        std::optional<uint64_t> at;
        for (size_t back = 1; back <= std::min<size_t>(out.ids.size(), kIdPage) && !at; ++back)
            if (auto it = pos.find(out.ids[out.ids.size() - back]); it != pos.end()) {
                at = it->second;
                keep = out.ids.size() - back + 1;
            }
        if (at) {
            out.ids.resize(keep);
            next = *at + 1;
        } else {
            if (++restarts > kMaxListingRestarts) {
                out.consistent = false;
                return out;
            }
            next = 0;
        }
    }
}

std::unique_ptr<BatchReader> ChromaHttpSource::read_range(const CollectionInfo &c, size_t batch_size, uint64_t start,
                                                          uint64_t count) {
    return std::make_unique<HttpBatchReader>(*this, c, batch_size, start, count);
}

} // namespace c2p
