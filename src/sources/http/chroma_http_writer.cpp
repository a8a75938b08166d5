#include "sources/http/chroma_http_writer.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include "backup/sha256.hpp"
#include "core/json_text.hpp"
#include "core/metadata_json.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

size_t on_body(char *p, size_t size, size_t n, void *ud) {
    static_cast<std::string *>(ud)->append(p, size * n);
    return size * n;
}

json parse_or_throw(const std::string &base, const std::string &what, const HttpResponse &r) {
    try {
        return json::parse(r.body);
    } catch (const std::exception &e) {
        throw EnvError(fmt::format("Chroma at {}: {}: the answer is not JSON: {}", base, what, r.body.substr(0, 200)));
    }
}

void append_opt(std::string &out, const std::optional<std::string> &s) {
    if (s) json_text::append_string(out, *s);
    else out.append("null");
}

} // namespace

ChromaHttpWriter::ChromaHttpWriter(ChromaHttpSource &server, std::string url, ChromaWriterOptions opts,
                                   std::string target_name)
    : server_(server), url_(std::move(url)), opts_(std::move(opts)), target_(std::move(target_name)) {
    if (server_.api_version() != 2)
        throw EnvError("restore needs a Chroma server with API v2 (Chroma >= 1.0); " + server_.describe() +
                       " speaks API v1");
}

std::string ChromaHttpWriter::staging_name(const std::string &target) {
    const std::string suffix = "-c2p-restoring";
    if (target.size() + suffix.size() <= 512) return target + suffix;
    return "c2p-restoring-" + sha256_hex(target).substr(0, 32);
}

std::string ChromaHttpWriter::collections_path() const {
    return "/api/v2/tenants/" + url_escape(opts_.tenant) + "/databases/" + url_escape(opts_.database) + "/collections";
}

ChromaCollectionState ChromaHttpWriter::lookup(const std::string &name) {
    ChromaCollectionState st;
    auto r = server_.client().get(collections_path() + "/" + url_escape(name));
    ++requests_;
    if (r.status == 404) return st;
    // Chroma 1.0 answers a missing collection with 404, older 1.x with 400/500 "does not exist".
    if (r.status != 200) {
        if (r.body.find("does not exist") != std::string::npos || r.body.find("NotFound") != std::string::npos) return st;
        throw_http_error(server_.describe(), "look up collection '" + name + "'", r);
    }
    auto j = parse_or_throw(server_.describe(), "collection", r);
    st.exists = true;
    st.id = j.value("id", "");
    st.count = count(st.id);
    return st;
}

uint64_t ChromaHttpWriter::count(const std::string &id) {
    auto r = server_.client().get(collections_path() + "/" + id + "/count");
    ++requests_;
    if (r.status != 200) throw_http_error(server_.describe(), "count of collection " + id, r);
    return parse_or_throw(server_.describe(), "count", r).get<uint64_t>();
}

void ChromaHttpWriter::create_staging(const CollectionInfo &c) {
    // Try the configuration as backed up; an older or newer server may refuse parts of it, then keep
    // what matters for search results: the distance space.
    json space_only = {{"hnsw", {{"space", space_name(c.space)}}}};
    std::vector<std::pair<json, std::string>> attempts;
    if (c.configuration.is_object() && !c.configuration.empty()) attempts.emplace_back(c.configuration, "as backed up");
    attempts.emplace_back(space_only, "space only");
    HttpResponse last;
    for (const auto &[cfg, label] : attempts) {
        json body = {{"name", staging_}, {"configuration", cfg}, {"get_or_create", false}};
        if (c.metadata.is_object() && !c.metadata.empty()) body["metadata"] = c.metadata;
        last = server_.client().post(collections_path(), body.dump());
        ++requests_;
        if (last.status == 200) {
            auto j = parse_or_throw(server_.describe(), "create collection", last);
            staging_id_ = j.value("id", "");
            config_note_ = label;
            if (label != "as backed up" && attempts.size() > 1)
                log::warn("configuration_reduced",
                          fmt::format("{}: the server refused the backed-up configuration; created with space '{}' "
                                      "only", c.name, space_name(c.space)),
                          {{"collection", c.name}});
            return;
        }
        if (last.status == 401 || last.status == 403) break;
    }
    throw_http_error(server_.describe(), "create collection '" + staging_ + "'", last);
}

void ChromaHttpWriter::begin(const CollectionInfo &c) {
    c_ = c;
    staging_ = staging_name(target_);
    sent_ = skipped_ = 0;
    auto target = lookup(target_);
    if (target.exists && target.count > 0 && !opts_.overwrite)
        throw UsageError(fmt::format("collection '{}' already exists in {} with {} records; pass --overwrite to "
                                     "replace it (it is replaced only once the restored copy is complete)",
                                     target_, server_.describe(), target.count));
    auto staging = lookup(staging_);
    if (staging.exists) {
        resumed_ = true;
        checking_ = staging.count > 0;
        staging_id_ = staging.id;
        log::info("restore_resume",
                  fmt::format("{}: continuing an interrupted restore into '{}' ({} of {} records already there)",
                              target_, staging_, staging.count, c.record_count),
                  {{"collection", target_}, {"staging", staging_}, {"present", staging.count}});
    } else {
        create_staging(c);
    }
}

size_t ChromaHttpWriter::present(const RecordBatch &b) {
    std::string body = "{\"ids\":[";
    for (size_t i = 0; i < b.size(); ++i) {
        if (i) body.push_back(',');
        json_text::append_string(body, b.ids[i]);
    }
    body.append("],\"include\":[]}");
    auto r = server_.client().post(collections_path() + "/" + staging_id_ + "/get", body);
    ++requests_;
    if (r.status != 200) throw_http_error(server_.describe(), "get ids from '" + staging_ + "'", r);
    auto j = parse_or_throw(server_.describe(), "get", r);
    return j.contains("ids") && j["ids"].is_array() ? j["ids"].size() : 0;
}

void ChromaHttpWriter::write(const RecordBatch &b) {
    if (b.empty()) return;
    if (checking_) {
        // Resuming: batches arrive in backup order, so those fully present were sent before the interruption.
        size_t n = present(b);
        if (n == b.size()) {
            skipped_ += b.size();
            return;
        }
        if (n == 0) checking_ = false;
    }
    size_t max_records = std::max<size_t>(1, server_.max_batch_size());
    size_t from = 0;
    size_t bytes = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        // Estimate of this record's JSON: ~14 chars per float plus its strings.
        size_t rec = 32 + b.ids[i].size() + 14 * size_t(b.dim) + (b.documents[i] ? b.documents[i]->size() * 2 : 4) +
                     (b.uris[i] ? b.uris[i]->size() * 2 : 4) + 64 * b.metadatas[i].size();
        if (i > from && (i - from >= max_records || bytes + rec > opts_.max_body_bytes)) {
            send(b, from, i);
            from = i;
            bytes = 0;
        }
        bytes += rec;
    }
    send(b, from, b.size());
}

void ChromaHttpWriter::send(const RecordBatch &b, size_t from, size_t to) {
    if (from >= to) return;
    ids_.clear();
    embs_.clear();
    docs_.clear();
    uris_.clear();
    metas_.clear();
    for (size_t i = from; i < to; ++i) {
        const char *sep = i == from ? "" : ",";
        ids_.append(sep);
        json_text::append_string(ids_, b.ids[i]);
        embs_.append(sep);
        embs_.push_back('[');
        const float *v = b.embedding(i);
        for (uint32_t d = 0; d < b.dim; ++d) {
            if (d) embs_.push_back(',');
            json_text::append_float32(embs_, v[d]);
        }
        embs_.push_back(']');
        docs_.append(sep);
        append_opt(docs_, b.documents[i]);
        uris_.append(sep);
        append_opt(uris_, b.uris[i]);
        metas_.append(sep);
        append_metadata_json(metas_, b.metadatas[i]);
    }
    body_.clear();
    body_.append("{\"ids\":[").append(ids_).append("],\"embeddings\":[").append(embs_).append("],\"documents\":[")
        .append(docs_).append("],\"uris\":[").append(uris_).append("],\"metadatas\":[").append(metas_).append("]}");
    auto r = server_.client().post(collections_path() + "/" + staging_id_ + "/upsert", body_);
    ++requests_;
    if (r.status == 413 && to - from > 1) {
        // Still too large for this server: halve and retry.
        size_t mid = from + (to - from) / 2;
        send(b, from, mid);
        send(b, mid, to);
        return;
    }
    if (r.status != 200 && r.status != 201)
        throw_http_error(server_.describe(), fmt::format("upsert of {} records into '{}'", to - from, staging_), r);
    sent_ += to - from;
}

void ChromaHttpWriter::finish() {
    uint64_t have = count(staging_id_);
    if (have != c_.record_count)
        throw DataError(fmt::format("collection '{}': the restored copy '{}' holds {} records, the backup has {}; it "
                                    "was left under its staging name (delete it to start over)",
                                    target_, staging_, have, c_.record_count));
    auto target = lookup(target_);
    if (target.exists) {
        if (target.count > 0 && !opts_.overwrite)
            throw UsageError(fmt::format("collection '{}' appeared in {} during the restore with {} records; pass "
                                         "--overwrite to replace it", target_, server_.describe(), target.count));
        auto r = custom("DELETE", collections_path() + "/" + url_escape(target_), "");
        if (r.status != 200 && r.status != 204)
            throw_http_error(server_.describe(), "delete the collection being replaced, '" + target_ + "'", r);
        log::info("replaced", fmt::format("{}: deleted the existing collection ({} records) to replace it", target_,
                                          target.count), {{"collection", target_}});
    }
    json body = {{"new_name", target_}};
    auto r = custom("PUT", collections_path() + "/" + staging_id_, body.dump());
    if (r.status != 200) throw_http_error(server_.describe(), "rename '" + staging_ + "' to '" + target_ + "'", r);
    target_id_ = staging_id_;
}

HttpResponse ChromaHttpWriter::custom(const std::string &method, const std::string &path, const std::string &body) {
    ++requests_;
    ParsedUrl pu = parse_url(url_);
    CURL *c = curl_easy_init();
    if (!c) throw EnvError("libcurl: cannot create a handle");
    HttpResponse r;
    std::string full = pu.base + path;
    curl_easy_setopt(c, CURLOPT_URL, full.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (opts_.insecure_tls) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!pu.user.empty()) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, pu.user.c_str());
        curl_easy_setopt(c, CURLOPT_PASSWORD, pu.password.c_str());
    }
    struct curl_slist *headers = nullptr;
    headers = curl_slist_append(headers, "Accept: application/json");
    std::string auth;
    if (!opts_.token.empty()) {
        auth = opts_.token_header == "authorization" ? "Authorization: Bearer " + opts_.token
                                                     : "X-Chroma-Token: " + opts_.token;
        headers = curl_slist_append(headers, auth.c_str());
    }
    if (!body.empty()) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        throw EnvError(fmt::format("cannot reach Chroma at {}: {} ({} {})", pu.base, curl_easy_strerror(rc), method, path));
    return r;
}

} // namespace c2p
