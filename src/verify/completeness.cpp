#include "verify/completeness.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <xxhash.h>

#include "core/record_digest.hpp"
#include "target/halfvec.hpp"
#include "target/pg_table_reader.hpp"
#include "target/pgvector_sink.hpp"
#include "util/progress.hpp"
#include "verify/record_diff.hpp"

namespace c2p {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Keeps the records with the smallest id hashes: a sample that does not depend on read order.
class BottomKSample {
public:
    explicit BottomKSample(size_t k) : k_(k) {}
    void offer(uint64_t key, const RecordBatch &b, size_t i) {
        if (k_ == 0) return;
        if (items_.size() >= k_ && key >= bound_) return;
        items_.push_back({key, b.ids[i], std::vector<float>(b.embedding(i), b.embedding(i) + b.dim)});
        if (items_.size() >= 2 * k_) shrink();
    }
    QuerySample take(uint32_t dim) {
        shrink();
        QuerySample q;
        for (auto &it : items_) {
            q.ids.push_back(it.id);
            if (it.vec.size() == dim) q.vectors.insert(q.vectors.end(), it.vec.begin(), it.vec.end());
            else q.ids.pop_back();
        }
        return q;
    }

private:
    struct Item {
        uint64_t key;
        std::string id;
        std::vector<float> vec;
    };
    void shrink() {
        std::sort(items_.begin(), items_.end(), [](const Item &a, const Item &b) { return a.key < b.key; });
        if (items_.size() > k_) items_.resize(k_);
        if (items_.size() == k_) bound_ = items_.back().key;
    }
    size_t k_;
    uint64_t bound_ = UINT64_MAX;
    std::vector<Item> items_;
};

void copy_record(RecordBatch &dst, const RecordBatch &src, size_t i) {
    if (dst.empty()) dst.dim = src.dim;
    dst.push(src.ids[i], src.embedding(i), src.documents[i], src.uris[i], src.metadatas[i]);
}

// Runs `fa` on a second thread and `fb` here; rethrows the first failure after both ended.
template <class A, class B> void run_both(A fa, B fb, std::atomic<bool> &stop) {
    std::exception_ptr ea, eb;
    std::thread th([&] {
        try {
            fa();
        } catch (...) {
            ea = std::current_exception();
            stop = true;
        }
    });
    try {
        fb();
    } catch (...) {
        eb = std::current_exception();
        stop = true;
    }
    th.join();
    if (ea) std::rethrow_exception(ea);
    if (eb) std::rethrow_exception(eb);
}

bool has_nul(const std::string &s) { return std::memchr(s.data(), 0, s.size()) != nullptr; }

bool record_has_nul(const RecordBatch &b, size_t i) {
    if ((b.documents[i] && has_nul(*b.documents[i])) || (b.uris[i] && has_nul(*b.uris[i]))) return true;
    for (const auto &[k, v] : b.metadatas[i]) {
        if (has_nul(k)) return true;
        if (auto *s = std::get_if<std::string>(&v); s && has_nul(*s)) return true;
        if (auto *arr = std::get_if<std::vector<MetaScalar>>(&v))
            for (const auto &e : *arr)
                if (auto *es = std::get_if<std::string>(&e); es && has_nul(*es)) return true;
    }
    return false;
}

// The source's records as `migrate --escape-nul` stores them: U+0000 (which PostgreSQL cannot hold) as
// U+2400. A record with NUL is either stored so or rejected (then it is missing in the target either
// way), so comparing the stored form is exact. Returns how many records were escaped.
size_t escape_nul_batch(RecordBatch &b) {
    size_t n = 0;
    thread_local RecordBatch one;
    for (size_t i = 0; i < b.size(); ++i) {
        if (!record_has_nul(b, i)) continue;
        one.clear();
        escape_nul_record(b, i, one);
        b.documents[i] = std::move(one.documents[0]);
        b.uris[i] = std::move(one.uris[0]);
        b.metadatas[i] = std::move(one.metadatas[0]);
        ++n;
    }
    return n;
}

bool unescape(std::string &s) {
    bool changed = false;
    for (size_t at; (at = s.find(kNulEscape)) != std::string::npos; changed = true) s.replace(at, 3, 1, '\0');
    return changed;
}

// Record i of b with U+2400 back to U+0000, into `one`; false when it holds no U+2400.
bool unescape_record(const RecordBatch &b, size_t i, RecordBatch &one) {
    one.clear();
    one.dim = b.dim;
    one.push(b.ids[i], b.embedding(i), b.documents[i], b.uris[i], b.metadatas[i]);
    bool changed = false;
    if (one.documents[0]) changed |= unescape(*one.documents[0]);
    if (one.uris[0]) changed |= unescape(*one.uris[0]);
    for (auto &[k, v] : one.metadatas[0]) {
        changed |= unescape(k);
        if (auto *str = std::get_if<std::string>(&v)) changed |= unescape(*str);
        if (auto *arr = std::get_if<std::vector<MetaScalar>>(&v))
            for (auto &e : *arr)
                if (auto *es = std::get_if<std::string>(&e)) changed |= unescape(*es);
    }
    return changed;
}

// A target row whose metadata has keys with a null value: Chroma has no null (the source never has
// such a key), so the row's digest is made to differ from the record it was read as.
Digest with_null_keys(Digest d, const std::vector<std::string> &keys) {
    std::string buf(reinterpret_cast<const char *>(d.data()), d.size());
    for (const auto &k : keys) buf.append(k).push_back('\0');
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(buf.data(), buf.size()));
    std::memcpy(d.data(), c.digest, d.size());
    return d;
}

std::string null_keys_detail(const std::vector<std::string> &keys) {
    std::string list;
    for (const auto &k : keys)
        list += (list.empty() ? "" : ", ") + nlohmann::json(k).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return fmt::format("metadata {}: null in the target, a value Chroma cannot hold (the source has no such key)", list);
}

} // namespace

nlohmann::ordered_json CompletenessResult::to_json() const {
    nlohmann::ordered_json diffs = nlohmann::ordered_json::array();
    for (const auto &d : different)
        diffs.push_back({{"id", d.id}, {"fields", d.fields}, {"details", d.details}});
    return {{"source_records", diff.source_count},
            {"target_records", diff.target_count},
            {"count_match", diff.source_count == diff.target_count},
            {"matching", diff.matching},
            {"missing", missing_ids.size()},
            {"extra", extra_ids.size()},
            {"different", different.size()},
            {"digest_parity", diff.clean()},
            {"missing_ids", missing_ids},
            {"extra_ids", extra_ids},
            {"different_records", diffs},
            {"stored_digest_stale", stored_digest_stale},
            {"nul_escaped", {{"source_records", nul_escaped}, {"target_rows_with_original_digest", nul_escaped_rows}}},
            {"null_valued_metadata_rows", null_valued_rows},
            {"embedding_precision", float16 ? "float16 (halfvec column: the source's float32 values rounded to "
                                              "nearest even, as pgvector converts, then compared bit for bit)"
                                            : "float32, bit for bit"},
            {"seconds",
             {{"read_both", read_seconds},
              {"source_read", source_seconds},
              {"target_read", target_seconds},
              {"compare", compare_seconds},
              {"resolve", resolve_seconds}}}};
}

CompletenessResult check_completeness(Source &src, const CollectionInfo &c, PgConnection &pg, const TargetCollection &target,
                                      const CompletenessOptions &o) {
    CompletenessResult res;
    uint32_t dim = c.dimension.value_or(0);
    const bool half = target.column.halfvec;
    res.float16 = half;
    const PgTableReadOptions ropts = target_layout(target.layout).read_options(target, dim);
    std::vector<DigestEntry> s_entries, t_entries;
    s_entries.reserve(c.record_count);
    t_entries.reserve(c.record_count);
    BottomKSample sample(o.sample);
    std::atomic<bool> stop{false};
    Progress progress("verify " + c.name, c.record_count * 2, o.show_progress);

    // Pass 1: both sides at once.
    auto t0 = Clock::now();
    run_both(
        [&] {
            auto t = Clock::now();
            auto reader = src.read(c, o.batch_size);
            RecordBatch b;
            while (!stop && reader->next(b)) {
                if (half) round_to_halfvec(b);
                res.nul_escaped += escape_nul_batch(b);
                for (size_t i = 0; i < b.size(); ++i) s_entries.push_back({id_key(b.ids[i]), record_digest(b, i)});
                res.source_bytes += b.payload_bytes();
                progress.add(b.size(), b.payload_bytes());
            }
            res.source_seconds = since(t);
        },
        [&] {
            auto t = Clock::now();
            PgTableReader reader(pg, ropts, o.batch_size);
            RecordBatch b;
            while (!stop && reader.next(b)) {
                if (!res.dim) res.dim = b.dim;
                const auto &stored = reader.stored_digests();
                const auto &nulls = reader.metadata_null_keys();
                RecordBatch one;
                for (size_t i = 0; i < b.size(); ++i) {
                    uint64_t key = id_key(b.ids[i]);
                    Digest d = record_digest(b, i);
                    if (!nulls[i].empty()) {
                        d = with_null_keys(d, nulls[i]);
                        ++res.null_valued_rows;
                    }
                    if (target.has_digest && (!stored[i] || *stored[i] != d)) {
                        // An --escape-nul row keeps the digest of the original text (U+0000, not U+2400).
                        if (stored[i] && nulls[i].empty() && unescape_record(b, i, one) &&
                            record_digest(one, 0) == *stored[i])
                            ++res.nul_escaped_rows;
                        else
                            ++res.stored_digest_stale;
                    }
                    t_entries.push_back({key, d});
                    sample.offer(key, b, i);
                }
                progress.add(b.size(), b.payload_bytes());
            }
            res.target_seconds = since(t);
        },
        stop);
    progress.finish();
    res.read_seconds = since(t0);
    if (!res.dim) res.dim = dim;
    res.sample = sample.take(res.dim);

    auto t1 = Clock::now();
    res.diff = compare_digests(s_entries, t_entries);
    std::vector<DigestEntry>().swap(s_entries);
    std::vector<DigestEntry>().swap(t_entries);
    res.compare_seconds = since(t1);
    if (res.diff.clean()) return res;

    // Pass 2 (only when something differs): recover ids, and the records to name fields for.
    auto t2 = Clock::now();
    const DigestDiff &d = res.diff;
    std::unordered_set<uint64_t> missing(d.missing.begin(), d.missing.end()), extra(d.extra.begin(), d.extra.end()),
        different(d.different.begin(), d.different.end());
    std::unordered_set<uint64_t> detail(d.different.begin(),
                                        d.different.begin() + std::min(d.different.size(), o.detail_limit));
    std::unordered_map<uint64_t, std::string> diff_ids;
    std::unordered_map<uint64_t, size_t> s_detail_at, t_detail_at;
    RecordBatch s_detail, t_detail;
    std::vector<std::string> t_missing_unused;
    std::unordered_map<uint64_t, std::string> t_diff_ids;
    std::unordered_map<uint64_t, std::vector<std::string>> t_null_keys;
    run_both(
        [&] {
            auto reader = src.read(c, o.batch_size);
            RecordBatch b;
            while (!stop && reader->next(b)) {
                if (half) round_to_halfvec(b);
                escape_nul_batch(b);
                for (size_t i = 0; i < b.size(); ++i) {
                    uint64_t key = id_key(b.ids[i]);
                    if (missing.count(key)) res.missing_ids.push_back(b.ids[i]);
                    else if (different.count(key)) {
                        diff_ids[key] = b.ids[i];
                        if (detail.count(key)) {
                            s_detail_at[key] = s_detail.size();
                            copy_record(s_detail, b, i);
                        }
                    }
                }
            }
        },
        [&] {
            PgTableReader reader(pg, ropts, o.batch_size);
            RecordBatch b;
            while (!stop && reader.next(b))
                for (size_t i = 0; i < b.size(); ++i) {
                    uint64_t key = id_key(b.ids[i]);
                    if (extra.count(key)) res.extra_ids.push_back(b.ids[i]);
                    else if (different.count(key)) {
                        t_diff_ids[key] = b.ids[i];
                        if (detail.count(key)) {
                            t_detail_at[key] = t_detail.size();
                            copy_record(t_detail, b, i);
                            const auto &nk = reader.metadata_null_keys()[i];
                            if (!nk.empty()) t_null_keys[key] = nk;
                        }
                    }
                }
        },
        stop);
    for (uint64_t key : d.different) {
        DifferentRecord r;
        if (auto it = diff_ids.find(key); it != diff_ids.end()) r.id = it->second;
        else if (auto it2 = t_diff_ids.find(key); it2 != t_diff_ids.end()) r.id = it2->second;
        else r.id = "<not found again: the source changed during verify>";
        auto si = s_detail_at.find(key), ti = t_detail_at.find(key);
        if (si != s_detail_at.end() && ti != t_detail_at.end()) {
            auto fd = diff_records(s_detail, si->second, t_detail, ti->second, half);
            r.fields = fd.fields;
            r.details = fd.details;
            if (auto nk = t_null_keys.find(key); nk != t_null_keys.end()) {
                if (std::find(r.fields.begin(), r.fields.end(), "metadata") == r.fields.end())
                    r.fields.push_back("metadata");
                r.details.push_back(null_keys_detail(nk->second));
            }
            if (r.fields.empty() && s_detail.ids[si->second] != t_detail.ids[ti->second]) {
                r.fields.push_back("id");
                r.details.push_back("id: source '" + s_detail.ids[si->second] + "', target '" + t_detail.ids[ti->second] + "'");
            }
        }
        res.different.push_back(std::move(r));
    }
    std::sort(res.missing_ids.begin(), res.missing_ids.end());
    std::sort(res.extra_ids.begin(), res.extra_ids.end());
    std::sort(res.different.begin(), res.different.end(),
              [](const DifferentRecord &a, const DifferentRecord &b) { return a.id < b.id; });
    res.resolve_seconds = since(t2);
    return res;
}

} // namespace c2p
