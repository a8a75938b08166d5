#include "target/change_applier.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/record_check.hpp"
#include "target/halfvec.hpp"
#include "util/error.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

// A PostgreSQL text[] literal.
std::string text_array(const std::vector<const std::string *> &ids) {
    std::string out = "{";
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ',';
        out += '"';
        for (char ch : *ids[i]) {
            if (ch == '"' || ch == '\\') out += '\\';
            out += ch;
        }
        out += '"';
    }
    return out + "}";
}

} // namespace

void SyncApplier::check(const RecordBatch &b) {
    const CollectionInfo &c = *c_;
    check_batch(b, c, offset_, checks_, rejects_, checked_);
    if (checked_.rejected > 0 && checks_.on_bad_record == BadRecordPolicy::fail) {
        rejects_.sync();
        throw DataError(fmt::format(
            "collection '{}': {} record(s) that PostgreSQL cannot store{}, listed in {}; nothing was changed. "
            "Fix the source, or rerun with --on-bad-record=skip (NUL characters: --escape-nul)",
            c.name, checked_.rejected, checked_.first_rejected, rejects_.path()));
    }
    n_.rejected += checked_.rejected;
    n_.escaped += checked_.escaped.size();
    n_.read += b.size();
    n_.bytes += b.payload_bytes();
    offset_ += b.size();
}

bool SyncApplier::count(Change change, const std::string &id) {
    json *sample = nullptr;
    switch (change) {
    case Change::none: ++n_.unchanged; return false;
    case Change::added: ++n_.inserted; sample = &n_.sample_new; break;
    case Change::changed: ++n_.updated; sample = &n_.sample_changed; break;
    }
    if (sample->size() < kSyncSampleIds) sample->push_back(id);
    return true;
}

void NativeSyncApplier::write(const RecordBatch &b) {
    check(b);
    const bool half = checks_.halfvec;
    // Every id the source has counts as seen (a rejected record keeps its old row rather than losing it).
    std::vector<const std::string *> ids;
    seen_.header();
    for (size_t i = 0; i < b.size(); ++i) {
        const std::string &id = b.ids[i];
        if (!storable_id(id)) continue;
        ids.push_back(&id);
        seen_.begin_tuple(1);
        seen_.text_field(id);
    }
    pg_.copy_in_all("COPY c2p_sync_seen (id) FROM STDIN WITH (FORMAT BINARY)", seen_);
    have_.clear();
    auto r = pg_.exec_params("SELECT id, encode(digest, 'hex') FROM " + target_ + " WHERE id = ANY($1::text[])",
                             {text_array(ids)});
    for (int k = 0; k < r.rows(); ++k) have_.emplace(r.text(k, 0), r.text(k, 1));
    rows_.header();
    bool any = false;
    auto consider = [&](const RecordBatch &rb, size_t ri, size_t orig) {
        auto it = have_.find(rb.ids[ri]);
        Change change = it == have_.end() ? Change::added
                        : it->second != digest_hex(half ? record_digest_halfvec(b, orig) : record_digest(b, orig))
                            ? Change::changed
                            : Change::none;
        if (!count(change, rb.ids[ri])) return;
        encode_native_row(rows_, scratch_, rb, ri, b, orig, half);
        any = true;
    };
    for (size_t i : checked_.good) consider(b, i, i);
    for (size_t k = 0; k < checked_.escaped.size(); ++k) consider(checked_.escaped, k, checked_.escaped_from[k]);
    if (any) pg_.copy_in_all(rows_copy_, rows_);
    else
        rows_.clear();
}

LayoutSyncApplier::LayoutSyncApplier(PgConnection &pg, const TargetCollection &t, const std::vector<DigestEntry> &have,
                                     const std::string &rows_copy, const PgvectorSinkOptions &checks,
                                     RejectFile &rejects, SyncCounts &n)
    : SyncApplier(pg, checks, rejects, n), t_(t), layout_(target_layout(t.layout)), have_(have), rows_copy_(rows_copy) {}

void LayoutSyncApplier::write(const RecordBatch &b) {
    const CollectionInfo &c = *c_;
    const TargetCollection &t = t_;
    if (!b.empty() && t.column.dim && b.dim != *t.column.dim)
        throw DataError(fmt::format("collection '{}': the source has {} dimensions, {}.embedding is {}; "
                                    "re-migrate it with `chroma2pg migrate --layout {} --replace`",
                                    c.name, b.dim, t.describe(), t.column.sql(), layout_name(t.layout)));
    check(b);
    seen_.header();
    rows_.header();
    bool any = false;
    // Every id the source has counts as seen: a rejected record keeps its old row rather than losing it.
    for (size_t i = 0; i < b.size(); ++i) {
        seen_.begin_tuple(1);
        seen_.text_field(target_row_id(t, b.ids[i]));
    }
    // A record as the target stores it (an escaped copy: its U+2400 text, which is what is read back).
    auto consider = [&](const RecordBatch &rb, size_t i) {
        uint64_t key = id_key(rb.ids[i]);
        auto lo = std::lower_bound(have_.begin(), have_.end(), key,
                                   [](const DigestEntry &e, uint64_t k) { return e.key < k; });
        auto hi = lo;
        while (hi != have_.end() && hi->key == key) ++hi;
        // Held twice in the target counts as changed (LlamaIndex has no key on node_id).
        Change change = lo == hi ? Change::added
                        : hi - lo == 1 && lo->digest == (checks_.halfvec ? record_digest_halfvec(rb, i) : record_digest(rb, i))
                            ? Change::none
                            : Change::changed;
        if (!count(change, rb.ids[i])) return;
        layout_.encode_staged_row(rows_, t, rb, i, c.name);
        any = true;
    };
    for (size_t i : checked_.good) consider(b, i);
    for (size_t k = 0; k < checked_.escaped.size(); ++k) consider(checked_.escaped, k);
    if (b.size()) pg_.copy_in_all("COPY c2p_sync_seen (id) FROM STDIN WITH (FORMAT BINARY)", seen_);
    else seen_.clear();
    if (any) pg_.copy_in_all(rows_copy_, rows_);
    else rows_.clear();
}

} // namespace c2p
