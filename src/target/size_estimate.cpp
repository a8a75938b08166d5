// The size model. Every structure is laid out the way PostgreSQL 13-17 (8 kB pages) and pgvector
// 0.6-0.8 lay it out, page by page, over the sampled rows cycled to the collection's size:
//   heap    24-byte page header; per row a 4-byte line pointer + MAXALIGN(tuple): 24-byte tuple
//           header (null bitmap included up to 8 columns), values at their alignment, varlenas under
//           127 bytes with a 1-byte header. A row over 2,032 bytes (TOAST_TUPLE_THRESHOLD) is shrunk as
//           the toaster does: largest value first, an `extended` one (text, jsonb) is compressed with
//           pglz (its size modelled by pglz_compressed_size), an `external` one (pgvector's vector and
//           halfvec since 0.6) is not; then the largest values go out of line until the row fits, an
//           18-byte pointer staying in the row.
//   TOAST   1,996-byte chunks (MAXALIGN(36 + chunk) + line pointer each), inserted one by one: a
//           chunk that does not fit the current page goes to a page the free-space map knows (32-byte
//           categories) or a new page; plus the B-tree on (chunk_id, chunk_seq).
//   B-tree  built by sorting: leaves filled to 90% (fillfactor), inner pages to 70%, a metapage.
//   HNSW    pgvector's in-memory build writes, per element, an element tuple MAXALIGN(72 + vector)
//           and a neighbour tuple MAXALIGN(4 + (level + 2) * m * 6) on the same page when both fit;
//           levels drawn as pgvector draws them (-ln(U) / ln(m)); a metapage.
//   IVFFlat a metapage, the list tuples (centres), then each list's entries MAXALIGN(8 + vector) on
//           its own chain of pages.
//   GIN     one entry tuple per distinct key/value (jsonb_ops) or path hash (jsonb_path_ops) with its
//           posting list of varbyte-encoded row pointers; entries are inserted in sorted order, which
//           leaves entry pages about half full; long posting lists go to posting-tree pages.
// Calibrated against pg_total_relation_size on PostgreSQL 15 + pgvector 0.8 (tests/integration/
// test_dry_run.py): 16 to 3,072 dimensions, HNSW/IVFFlat/none, within a few percent for the tables and
// indexes; GIN within ~10% on realistic metadata. Not modelled: lz4 (default_toast_compression), dead
// rows, fillfactor; jsonb is assumed to compress like its JSON text.
#include "target/size_estimate.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/json_text.hpp"

namespace c2p {
namespace {

constexpr uint64_t kPage = 8192;
constexpr uint64_t kPageHeader = 24;
constexpr uint64_t kItemId = 4;
constexpr uint64_t kToastThreshold = 2032;   // TOAST_TUPLE_THRESHOLD
constexpr uint64_t kToastChunk = 1996;       // TOAST_MAX_CHUNK_SIZE
constexpr uint64_t kToastPointer = 18;       // varatt_external + 2-byte header
constexpr uint64_t kMaxHeapTuplesPerPage = 291;
constexpr uint64_t kBtreeSpecial = 16;
constexpr uint64_t kVectorIndexSpecial = 8;  // HnswPageOpaqueData / IvfflatPageOpaqueData
constexpr uint64_t kGinMaxItemSize = 2712;
// Larger collections are simulated on this many rows and scaled: the layout repeats.
constexpr uint64_t kSimulatedRows = 200000;

uint64_t maxalign(uint64_t x) { return (x + 7) & ~uint64_t(7); }
uint64_t align_to(uint64_t x, uint64_t a) { return a <= 1 ? x : (x + a - 1) / a * a; }
uint64_t pages_bytes(double pages) { return static_cast<uint64_t>(std::ceil(pages)) * kPage; }

struct RowLayout {
    uint64_t tuple = 0;                // MAXALIGNed tuple length in the heap page
    std::vector<uint64_t> out_of_line; // payload bytes moved to TOAST
};

// A value's state while the toaster works on the row.
struct ToastState {
    uint64_t size = 0;         // VARSIZE now (compressed or not)
    bool compressed = false, out_of_line = false, incompressible = false;
};

uint64_t tuple_length(const SampledRow &r, const std::vector<ToastState> &st) {
    bool hasnull = std::any_of(r.begin(), r.end(), [](const StoredValue &v) { return v.is_null; });
    uint64_t off = maxalign(23 + (hasnull ? (r.size() + 7) / 8 : 0));
    for (size_t i = 0; i < r.size(); ++i) {
        const auto &v = r[i];
        if (v.is_null) continue;
        if (v.varlena && st[i].out_of_line) off += kToastPointer;
        else if (v.varlena && v.toastable && !st[i].compressed && v.bytes - 3 <= 127) off += v.bytes - 3; // 1-byte header
        else off = align_to(off, v.align) + st[i].size;
    }
    return off;
}

// heap_toast_insert_or_update's first two passes: compress the largest extended values (external ones
// are only marked), moving one out at once when it alone exceeds the target; then move the largest
// out of line until the row fits.
RowLayout layout_row(const SampledRow &r) {
    std::vector<ToastState> st(r.size());
    for (size_t i = 0; i < r.size(); ++i) st[i].size = r[i].bytes;
    RowLayout out;
    uint64_t len = tuple_length(r, st);
    auto biggest = [&](bool for_compression) {
        size_t best = r.size();
        uint64_t best_size = maxalign(kToastPointer);
        for (size_t i = 0; i < r.size(); ++i) {
            const auto &v = r[i];
            if (v.is_null || !v.varlena || !v.toastable || st[i].out_of_line) continue;
            if (for_compression && (st[i].compressed || st[i].incompressible)) continue;
            if (st[i].size > best_size) {
                best = i;
                best_size = st[i].size;
            }
        }
        return best;
    };
    auto externalize = [&](size_t i) {
        st[i].out_of_line = true;
        out.out_of_line.push_back(st[i].size - 4);
    };
    while (maxalign(len) > kToastThreshold) {
        size_t b = biggest(true);
        if (b == r.size()) break;
        if (r[b].extended && r[b].compressed > 0 && r[b].compressed < r[b].bytes) {
            st[b].compressed = true;
            st[b].size = r[b].compressed;
        } else {
            st[b].incompressible = true;
        }
        if (st[b].size > kToastThreshold - 24) externalize(b); // alone larger than the data target
        len = tuple_length(r, st);
    }
    while (maxalign(len) > kToastThreshold) {
        size_t b = biggest(false);
        if (b == r.size()) break;
        externalize(b);
        len = tuple_length(r, st);
    }
    out.tuple = maxalign(len);
    return out;
}

// Pages of a B-tree built bottom-up from `n` tuples of `tuple` bytes each (line pointer included).
double btree_pages(double n, double leaf_tuple, double inner_tuple) {
    if (n <= 0) return 1; // the metapage
    const double usable = double(kPage - kPageHeader - kBtreeSpecial);
    double per_leaf = std::max(1.0, std::floor((usable - kPage * 0.10) / leaf_tuple));
    double leaves = std::ceil(n / per_leaf);
    double pages = 1 + leaves;
    double level = leaves;
    double per_inner = std::max(2.0, std::floor((usable - kPage * 0.30) / inner_tuple));
    while (level > 1) {
        level = std::ceil(level / per_inner);
        pages += level;
    }
    return pages;
}

// Bytes of the varbyte encoding of a row-pointer delta (7 bits per byte).
double varbyte_len(double delta) {
    double n = 1;
    for (double d = std::max(1.0, delta); d >= 128; d /= 128) n += 1;
    return n;
}

void gin_add_value(std::set<std::string> &row, const std::string &key, const MetaScalar &v, bool path_ops, bool in_array) {
    std::string text;
    char flag = 'S';
    if (const auto *b = std::get_if<bool>(&v)) text.assign(1, *b ? 't' : 'f'), flag = 'B';
    else if (const auto *i = std::get_if<int64_t>(&v)) text = std::to_string(*i), flag = 'N';
    else if (const auto *d = std::get_if<double>(&v)) {
        if (!std::isfinite(*d)) return; // a record PostgreSQL refuses: never indexed
        text = normalized_numeric(*d), flag = 'N';
    }
    else {
        text = std::get<std::string>(v);
        if (in_array) flag = 'K'; // jsonb_ops files string array elements as keys
    }
    // Appended piece by piece: GCC 12 at -O3 warns falsely (-Wrestrict) about chained operator+.
    std::string entry;
    entry.reserve(key.size() + text.size() + 3);
    if (path_ops) {
        entry += 'P';
        entry += key;
        entry += '\0';
    }
    entry += flag;
    entry += text;
    row.insert(std::move(entry));
}

} // namespace

uint32_t pglz_compressed_size(std::string_view s) {
    const size_t n = s.size();
    if (n < 32) return 0;
    constexpr size_t kWindow = 4095, kMaxMatch = 273, kFirstSuccessBy = 1024, kChain = 64;
    constexpr int kHashBits = 13;
    std::vector<int32_t> head(size_t(1) << kHashBits, -1), prev(n, -1);
    auto hash = [&](size_t i) {
        uint32_t h = 0;
        for (size_t k = 0; k < 4 && i + k < n; ++k) h = h * 131 + uint8_t(s[i + k]);
        return (h * 2654435761u) >> (32 - kHashBits);
    };
    auto remember = [&](size_t p) {
        uint32_t h = hash(p);
        prev[p] = head[h];
        head[h] = int32_t(p);
    };
    size_t out = 0, items = 0, i = 0;
    bool matched = false;
    while (i < n) {
        if (!matched && out >= kFirstSuccessBy) return 0;
        size_t best = 0;
        if (i + 3 <= n) {
            size_t steps = 0;
            for (int32_t c = head[hash(i)]; c >= 0 && i - size_t(c) <= kWindow && steps < kChain; c = prev[size_t(c)], ++steps) {
                size_t len = 0, lim = std::min(kMaxMatch, n - i);
                while (len < lim && s[size_t(c) + len] == s[i + len]) ++len;
                if (len > best) best = len;
                if (best >= 128) break;
            }
        }
        if (best >= 3) {
            out += best > 17 ? 3 : 2;
            matched = true;
            for (size_t k = 0; k < best; ++k) remember(i + k);
            i += best;
        } else {
            out += 1;
            remember(i);
            ++i;
        }
        ++items;
    }
    out += (items + 7) / 8;
    if (out > n * 3 / 4) return 0; // pglz's default strategy wants 25% saved
    return uint32_t(out + 8);      // 4-byte header + raw size and method
}

std::string normalized_numeric(double v) {
    std::string s;
    json_text::append_double(s, v);
    if (auto dot = s.find('.'); dot != std::string::npos) {
        while (s.size() > dot + 1 && s.back() == '0') s.pop_back();
        if (s.back() == '.') s.pop_back();
    }
    if (s == "-0") s.assign(1, '0');
    return s;
}

HeapEstimate estimate_heap(const std::vector<SampledRow> &sample, uint64_t rows) {
    HeapEstimate e;
    const uint64_t toast_index_meta = kPage; // every table with a TOAST table has its (empty) index
    if (rows == 0 || sample.empty()) {
        e.toast_bytes = toast_index_meta;
        return e;
    }
    std::vector<RowLayout> layouts;
    layouts.reserve(sample.size());
    for (const auto &r : sample) layouts.push_back(layout_row(r));

    const uint64_t sim = std::min(rows, kSimulatedRows);
    const uint64_t cap = kPage - kPageHeader;
    uint64_t heap_pages = 1, free = cap, on_page = 0;
    // TOAST: pages' free bytes, the current target page, the free-space map by 32-byte category.
    std::vector<uint64_t> toast_free;
    std::multimap<uint64_t, size_t> fsm;
    long target = -1;
    uint64_t chunks = 0;
    for (uint64_t i = 0; i < sim; ++i) {
        const RowLayout &l = layouts[i % layouts.size()];
        uint64_t need = l.tuple + kItemId;
        if (need > free || on_page >= kMaxHeapTuplesPerPage) {
            ++heap_pages;
            free = cap;
            on_page = 0;
        }
        free -= std::min(free, need);
        ++on_page;
        for (uint64_t payload : l.out_of_line) {
            for (uint64_t left = payload; left > 0;) {
                uint64_t c = std::min(left, kToastChunk);
                left -= c;
                uint64_t t = maxalign(36 + c) + kItemId; // header 24 + chunk_id + chunk_seq + varlena header
                ++chunks;
                if (target >= 0 && toast_free[size_t(target)] >= t) {
                    toast_free[size_t(target)] -= t;
                    continue;
                }
                if (target >= 0) fsm.emplace(toast_free[size_t(target)] / 32, size_t(target));
                auto it = fsm.lower_bound((t + 31) / 32);
                if (it != fsm.end()) {
                    target = long(it->second);
                    fsm.erase(it);
                } else {
                    toast_free.push_back(cap);
                    target = long(toast_free.size() - 1);
                }
                toast_free[size_t(target)] -= t;
            }
        }
    }
    double scale = double(rows) / double(sim);
    e.heap_bytes = pages_bytes(double(heap_pages) * scale);
    e.rows_per_page = double(sim) / double(heap_pages);
    if (chunks == 0) {
        e.toast_bytes = toast_index_meta;
    } else {
        // The TOAST index: (oid, int4) keys inserted in ascending order (right-most splits keep 90%).
        double idx = btree_pages(double(chunks) * scale, 20, 20);
        e.toast_bytes = pages_bytes(double(toast_free.size()) * scale) + pages_bytes(idx);
    }
    return e;
}

uint64_t estimate_btree(const std::vector<uint32_t> &key_bytes, uint64_t rows) {
    if (rows == 0 || key_bytes.empty()) return kPage;
    double sum = 0;
    for (uint32_t k : key_bytes) sum += double(maxalign(8 + k) + kItemId);
    double avg = sum / double(key_bytes.size());
    return pages_bytes(btree_pages(double(rows), avg, avg));
}

uint64_t estimate_null_btree(uint64_t rows) {
    if (rows == 0) return kPage;
    // Deduplicated: one posting-list tuple per ~1/3 page holding 6-byte row pointers.
    return pages_bytes(btree_pages(double(rows) * 6.0 / 2000.0, 2000 + 16, 16));
}

uint64_t estimate_hnsw(uint64_t rows, uint32_t dim, bool halfvec, int m) {
    if (rows == 0) return 2 * kPage;
    const uint64_t vec = (halfvec ? 2ull : 4ull) * dim + 8;
    const uint64_t etup = maxalign(72 + vec);
    const uint64_t empty = kPage - kPageHeader - kVectorIndexSpecial;
    const uint64_t max_size = empty - kItemId;
    const double ml = 1.0 / std::log(double(std::max(m, 2)));
    const uint64_t sim = std::min(rows, kSimulatedRows);
    uint64_t pages = 1, space = empty; // after the metapage
    uint64_t state = 0x9E3779B97F4A7C15ull;
    auto uniform = [&state] { // splitmix64: the same estimate on every run
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        return (double(z >> 11) + 0.5) / 9007199254740992.0;
    };
    auto page_free = [&space] { return space >= kItemId ? space - kItemId : 0; };
    for (uint64_t i = 0; i < sim; ++i) {
        int level = static_cast<int>(-std::log(uniform()) * ml);
        uint64_t ntup = maxalign(4 + uint64_t(level + 2) * uint64_t(m) * 6);
        uint64_t combined = etup + ntup + kItemId;
        if (page_free() < etup || (combined <= max_size && page_free() < combined)) {
            ++pages;
            space = empty;
        }
        space -= std::min(space, etup + kItemId);
        if (page_free() < ntup) {
            ++pages;
            space = empty;
        }
        space -= std::min(space, ntup + kItemId);
    }
    return pages_bytes(1 + double(pages) * double(rows) / double(sim));
}

uint64_t estimate_ivfflat(uint64_t rows, uint32_t dim, bool halfvec, uint64_t lists) {
    if (rows == 0 || lists == 0) return kPage;
    const uint64_t vec = (halfvec ? 2ull : 4ull) * dim + 8;
    const double usable = double(kPage - kPageHeader - kVectorIndexSpecial);
    double list_tuple = double(maxalign(8 + vec) + kItemId);
    double list_pages = std::ceil(double(lists) / std::max(1.0, std::floor(usable / list_tuple)));
    double per_page = std::max(1.0, std::floor(usable / double(maxalign(8 + vec) + kItemId)));
    double per_list = std::ceil(double(rows) / double(lists) / per_page);
    return pages_bytes(1 + list_pages + double(lists) * std::max(1.0, per_list));
}

void add_gin_entries(GinSample &g, const Metadata &m, bool path_ops) {
    ++g.rows;
    std::set<std::string> row;
    for (const auto &[key, value] : m) {
        if (!path_ops) row.insert("K" + key);
        if (const auto *arr = std::get_if<std::vector<MetaScalar>>(&value)) {
            for (const auto &e : *arr) gin_add_value(row, key, e, path_ops, true);
        } else {
            MetaScalar s = std::visit(
                [](const auto &x) -> MetaScalar {
                    if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::vector<MetaScalar>>) return false;
                    else return x;
                },
                value);
            gin_add_value(row, key, s, path_ops, false);
        }
    }
    for (const auto &e : row) ++g.entries[e];
}

uint64_t estimate_gin(const GinSample &g, uint64_t rows, double heap_rows_per_page, bool path_ops) {
    if (rows == 0 || g.rows == 0) return 2 * kPage;
    const double k = double(rows) / double(g.rows);
    const bool sampled = g.rows < rows;
    const double per_page = std::max(1.0, heap_rows_per_page);
    double entry_bytes = 0, tree_pages = 0;
    for (const auto &[entry, count] : g.entries) {
        // An entry seen once in a sample stands for ~k distinct ones (ids, counters…); others repeat.
        double distinct = count == 1 && sampled ? k : 1;
        double holders = count == 1 && sampled ? 1 : double(count) * k;
        uint64_t text = entry.size() - 1;
        if (text > 125) text = 8; // long keys are indexed by their hash
        double base = double(path_ops ? maxalign(8 + 4) : maxalign(8 + 2 + text));
        // Row pointers of the holders: a delta inside a heap page is small, across pages ~2048 units.
        double gap = double(rows) / holders;
        double cross = std::min(1.0, gap / per_page);
        double bytes_per_ptr = (1 - cross) * varbyte_len(gap) + cross * varbyte_len(std::max(2048.0, 2048.0 * gap / per_page));
        double posting = 8 + (holders - 1) * bytes_per_ptr;
        if (base + posting <= double(kGinMaxItemSize)) {
            entry_bytes += distinct * double(maxalign(uint64_t(base + posting)) + kItemId);
        } else {
            entry_bytes += distinct * double(maxalign(uint64_t(base) + 8) + kItemId);
            tree_pages += distinct * std::ceil(holders * bytes_per_ptr * 1.03 / 8100.0);
        }
    }
    // Sorted inserts split entry pages in half; jsonb_path_ops's small fixed-size keys pack tighter.
    double entry_pages = std::max(1.0, std::ceil(entry_bytes / (path_ops ? 0.75 : 0.5) / 8150.0));
    return pages_bytes(1 + entry_pages + tree_pages);
}

} // namespace c2p
