#include "sources/http/chroma_http_writer.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "util/sha256.hpp"
#include "core/json_text.hpp"
#include "core/metadata_json.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

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

constexpr size_t kMaxTagSize = 25; // "20261125T154736Z-1a2b3c4d"

bool all_of(const std::string &s, size_t from, size_t n, bool (*ok)(char)) {
    if (s.size() < from + n) return false;
    for (size_t i = from; i < from + n; ++i)
        if (!ok(s[i])) return false;
    return true;
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

bool is_origin_tag(const std::string &t) {
    if (t.size() == 12 && t.compare(0, 4, "src-") == 0) return all_of(t, 4, 8, is_hex);
    return t.size() == kMaxTagSize && all_of(t, 0, 8, is_digit) && t[8] == 'T' && all_of(t, 9, 6, is_digit) &&
           t[15] == 'Z' && t[16] == '-' && all_of(t, 17, 8, is_hex);
}

// The staging name without its tag: also the whole name a chroma2pg before the tags used.
std::string staging_base(const std::string &target) {
    const std::string suffix = "-c2p-restoring";
    if (target.size() + suffix.size() + 1 + kMaxTagSize <= 512) return target + suffix;
    return "c2p-restoring-" + sha256_hex(target).substr(0, 32);
}

// What filled `staging` (a staging collection of `target`), for messages.
std::string staging_origin(const std::string &target, const std::string &staging) {
    const std::string base = staging_base(target);
    return describe_origin_tag(staging.size() > base.size() ? staging.substr(base.size() + 1) : "");
}

// Chroma's message from an error answer, else the start of its body.
std::string error_message(const HttpResponse &r) {
    try {
        auto j = json::parse(r.body);
        if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
    } catch (const std::exception &) {
    }
    return r.body.substr(0, 300);
}

// A 4xx about the request's data (a value the server will not take), not about the collection or access.
bool refuses_data(const HttpResponse &r) {
    if (r.status != 400 && r.status != 422) return false;
    return r.body.find("does not exist") == std::string::npos && r.body.find("NotFound") == std::string::npos;
}

} // namespace

std::string describe_origin_tag(const std::string &tag) {
    if (tag.empty()) return "a restore by an earlier chroma2pg (its backup is not recorded)";
    if (tag.compare(0, 4, "src-") == 0) return "a source other than a backup (tag " + tag.substr(4) + ")";
    return fmt::format("a backup made {}-{}-{}T{}:{}:{}Z (tag {})", tag.substr(0, 4), tag.substr(4, 2), tag.substr(6, 2),
                       tag.substr(9, 2), tag.substr(11, 2), tag.substr(13, 2), tag.substr(17));
}

ChromaHttpWriter::ChromaHttpWriter(ChromaHttpSource &server, std::string url, ChromaWriterOptions opts,
                                   std::string target_name, RestoreOrigin origin)
    : server_(server), url_(std::move(url)), opts_(std::move(opts)), target_(std::move(target_name)),
      origin_(std::move(origin)) {
    if (server_.api_version() != 2)
        throw EnvError("restore needs a Chroma server with API v2 (Chroma >= 1.0); " + server_.describe() +
                       " speaks API v1");
    staging_ = staging_name(target_, origin_.tag);
}

ChromaHttpWriter::~ChromaHttpWriter() = default;

std::string ChromaHttpWriter::staging_name(const std::string &target, const std::string &tag) {
    return staging_base(target) + "-" + tag;
}

std::vector<std::string> ChromaHttpWriter::list_names() {
    std::vector<std::string> names;
    const size_t page = 100;
    for (size_t offset = 0;; offset += page) {
        auto r = server_.client().get(collections_path() + fmt::format("?limit={}&offset={}", page, offset));
        ++requests_;
        if (r.status != 200) throw_http_error(server_.describe(), "list collections", r);
        auto j = parse_or_throw(server_.describe(), "list collections", r);
        if (!j.is_array()) throw EnvError("Chroma at " + server_.describe() + ": list collections: expected an array");
        for (const auto &c : j)
            if (c.is_object() && c.contains("name") && c["name"].is_string()) names.push_back(c["name"].get<std::string>());
        if (j.size() < page) break;
    }
    return names;
}

std::vector<std::string> ChromaHttpWriter::foreign_stagings() {
    const std::string base = staging_base(target_);
    std::vector<std::string> out;
    for (const auto &n : list_names()) {
        if (n == staging_ || n.compare(0, base.size(), base) != 0) continue;
        if (n.size() == base.size() || (n[base.size()] == '-' && is_origin_tag(n.substr(base.size() + 1))))
            out.push_back(n);
    }
    return out;
}

std::string ChromaHttpWriter::foreign_message(const std::vector<std::string> &names) const {
    std::string list;
    for (const auto &n : names)
        list += fmt::format("{}'{}' holds a partial restore from {}", list.empty() ? "" : "; ", n,
                            staging_origin(target_, n));
    return fmt::format("collection '{}': {}, not from this run's {} (tag {}); it is not continued with another "
                       "backup's records. Rerun with the backup that filled it to finish it, or pass --overwrite to "
                       "delete it and restore from this one",
                       target_, list, origin_.label, origin_.tag);
}

uint64_t ChromaHttpWriter::records_rejected() const { return rejects_ ? rejects_->rejected() : 0; }

std::string ChromaHttpWriter::reject_path() const { return rejects_ ? rejects_->path() : std::string(); }

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
    sent_ = skipped_ = 0;
    batch_offset_ = 0;
    auto target = lookup(target_);
    if (target.exists && target.count > 0 && !opts_.overwrite)
        throw UsageError(fmt::format("collection '{}' already exists in {} with {} records; pass --overwrite to "
                                     "replace it (it is replaced only once the restored copy is complete)",
                                     target_, server_.describe(), target.count));
    auto foreign = foreign_stagings();
    if (!foreign.empty() && !opts_.overwrite) throw UsageError(foreign_message(foreign));
    for (const auto &n : foreign) {
        auto r = custom("DELETE", collections_path() + "/" + url_escape(n), "");
        if (r.status != 200 && r.status != 204)
            throw_http_error(server_.describe(), "delete the interrupted restore '" + n + "'", r);
        log::info("restore_discarded",
                  fmt::format("{}: deleted '{}', an interrupted restore from {} (--overwrite)", target_, n,
                              staging_origin(target_, n)),
                  {{"collection", target_}, {"staging", n}});
    }
    // Every record not already present is sent again, so the rejects of an interrupted run are found again.
    rejects_ = std::make_unique<RejectFile>(
        (std::filesystem::path(opts_.reject_dir) / (target_ + ".rejects.jsonl")).string(), c.name);
    rejects_->reset();
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
    struct Advance {
        uint64_t &offset;
        size_t n;
        ~Advance() { offset += n; }
    } advance{batch_offset_, b.size()};
    if (checking_) {
        // Resuming: batches arrive in backup order, so those fully present were sent before the interruption.
        size_t n = present(b);
        if (n == b.size()) {
            skipped_ += b.size();
            return;
        }
        if (n == 0) checking_ = false;
    }
    // One request at a time: a request all of whose records are refused, before any record of the
    // collection was accepted, is about the collection or the server, not about single records.
    auto send_checked = [&](size_t from, size_t to) {
        bool first = sent_ == 0 && skipped_ == 0;
        if (send(b, from, to) == to - from && to - from > 1 && first)
            throw DataError(fmt::format("collection '{}': Chroma at {} refuses every record of the first request "
                                        "({} records; see {}); nothing of it was restored",
                                        target_, server_.describe(), to - from, rejects_->path()));
    };
    size_t max_records = std::max<size_t>(1, server_.max_batch_size());
    size_t from = 0;
    size_t bytes = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        // Estimate of this record's JSON: ~14 chars per float plus its strings.
        size_t rec = 32 + b.ids[i].size() + 14 * size_t(b.dim) + (b.documents[i] ? b.documents[i]->size() * 2 : 4) +
                     (b.uris[i] ? b.uris[i]->size() * 2 : 4) + 64 * b.metadatas[i].size();
        if (i > from && (i - from >= max_records || bytes + rec > opts_.max_body_bytes)) {
            send_checked(from, i);
            from = i;
            bytes = 0;
        }
        bytes += rec;
    }
    send_checked(from, b.size());
}

size_t ChromaHttpWriter::send(const RecordBatch &b, size_t from, size_t to) {
    if (from >= to) return 0;
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
        append_metadata_json(metas_, b.metadatas[i], FloatText::shortest);
    }
    body_.clear();
    body_.append("{\"ids\":[").append(ids_).append("],\"embeddings\":[").append(embs_).append("],\"documents\":[")
        .append(docs_).append("],\"uris\":[").append(uris_).append("],\"metadatas\":[").append(metas_).append("]}");
    auto r = server_.client().post(collections_path() + "/" + staging_id_ + "/upsert", body_);
    ++requests_;
    // Too large for this server, or a value in it refused: halve and retry, down to the refused record.
    if ((r.status == 413 || refuses_data(r)) && to - from > 1) {
        size_t mid = from + (to - from) / 2;
        size_t refused = send(b, from, mid);
        return refused + send(b, mid, to);
    }
    if (refuses_data(r)) {
        std::string reason = fmt::format("Chroma refused the record (HTTP {}): {}", r.status, error_message(r));
        rejects_->add(b, from, batch_offset_ + from, reason, "rejected");
        rejects_->sync();
        log::warn("record_rejected",
                  fmt::format("{}: record '{}' not restored: {}; it is in {}", target_, b.ids[from], reason,
                              rejects_->path()),
                  {{"collection", target_}, {"id", b.ids[from]}, {"reject_file", rejects_->path()}});
        return 1;
    }
    if (r.status != 200 && r.status != 201)
        throw_http_error(server_.describe(), fmt::format("upsert of {} records into '{}'", to - from, staging_), r);
    sent_ += to - from;
    return 0;
}

void ChromaHttpWriter::finish() {
    uint64_t have = count(staging_id_);
    uint64_t rejected = records_rejected();
    if (have + rejected != c_.record_count)
        throw DataError(fmt::format("collection '{}': the restored copy '{}' holds {} records{}, the backup has {}; "
                                    "it was left under its staging name (delete it to start over)",
                                    target_, staging_, have,
                                    rejected ? fmt::format(" and {} were refused", rejected) : "", c_.record_count));
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
    return server_.client().send(method, path, body);
}

} // namespace c2p
