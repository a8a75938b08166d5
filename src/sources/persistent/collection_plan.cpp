#include "sources/persistent/collection_plan.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <fstream>
#include <future>
#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "util/error.hpp"

namespace c2p::persistent {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr size_t kShowIds = 10;

std::optional<MetaScalar> json_scalar(const nlohmann::json &v) {
    if (v.is_boolean()) return MetaScalar(v.get<bool>());
    if (v.is_number_integer()) {
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) return MetaScalar(double(v.get<uint64_t>()));
        return MetaScalar(v.get<int64_t>());
    }
    if (v.is_number_float()) return MetaScalar(v.get<double>());
    if (v.is_string()) return MetaScalar(v.get<std::string>());
    return std::nullopt;
}

std::string show_ids(const std::vector<std::string> &ids, uint64_t count) {
    std::string s;
    for (size_t i = 0; i < ids.size() && i < kShowIds; ++i) s += (i ? ", " : "") + fmt::format("'{}'", ids[i]);
    if (count > kShowIds) s += fmt::format(" … ({} in all)", count);
    return s;
}

struct Ctx {
    Plan &p;
    const std::string what; // "collection 'x' (id)"
    void damage(std::string kind, std::string file, std::string msg, std::vector<std::string> ids = {}, uint64_t count = 0) {
        SourceDamage d;
        d.kind = std::move(kind);
        d.file = std::move(file);
        d.message = what + ": " + msg;
        d.count = count;
        if (ids.size() > kShowIds) ids.resize(kShowIds);
        d.ids = std::move(ids);
        p.damage.push_back(std::move(d));
    }
    void warn(const std::string &msg) { p.info.warnings.push_back(msg); }
};

void append_scalar(Metadata &m, const std::string &key, MetaScalar v) {
    for (auto &kv : m)
        if (kv.first == key) {
            if (auto *arr = std::get_if<std::vector<MetaScalar>>(&kv.second)) {
                arr->push_back(std::move(v));
                return;
            }
            kv.second = std::visit([](auto &&x) -> MetaValue { return x; }, std::move(v));
            return;
        }
    m.emplace_back(key, std::visit([](auto &&x) -> MetaValue { return x; }, std::move(v)));
}

// Element i's label, with kDeletedBit set when hnswlib marked it deleted. The pass reads a few bytes
// of every element, so it touches every page of data_level0.bin: through one reused buffer with
// pread (MappedFile::read_at) it takes ~30% less CPU than through the map, where each first touch
// of a page faults (100,000 x 384: inspect 0.25 -> 0.19 s). Copying whole vectors out is faster
// through the map (the reader).
constexpr uint64_t kDeletedBit = uint64_t(1) << 63;
std::vector<uint64_t> scan_labels(const hnsw::View &view, const hnsw::MappedFile &data, const std::string &what) {
    std::vector<uint64_t> out(view.usable());
    const size_t step = view.header().size_data_per_element;
    constexpr uint64_t kWindow = 2048; // elements a read
    std::vector<uint8_t> buf;
    for (uint64_t first = 0; first < out.size(); first += kWindow) {
        const size_t n = size_t(std::min<uint64_t>(kWindow, out.size() - first));
        buf.resize(n * step);
        data.read_at(first * step, buf.data(), n * step, what);
        for (size_t k = 0; k < n; ++k) {
            const uint8_t *el = buf.data() + k * step;
            out[first + k] = view.label_of(el) | (view.deleted_of(el) ? kDeletedBit : 0);
        }
    }
    return out;
}

// A collection's ids in scan order, packed (4-byte length, then the bytes) into blocks: read from
// SQLite while the HNSW part is built, then consumed once, each block freed when passed.
class IdStream {
public:
    void add(std::string_view id) {
        const size_t need = sizeof(uint32_t) + id.size();
        if (blocks_.empty() || blocks_.back().capacity() - blocks_.back().size() < need) {
            blocks_.emplace_back();
            blocks_.back().reserve(std::max(kBlockBytes, need));
        }
        const auto len = uint32_t(id.size());
        blocks_.back().append(reinterpret_cast<const char *>(&len), sizeof len).append(id);
    }
    template <class F> void consume(F &&f) {
        for (auto &b : blocks_) {
            for (size_t at = 0; at < b.size();) {
                uint32_t len;
                std::memcpy(&len, b.data() + at, sizeof len);
                at += sizeof len;
                f(std::string_view(b.data() + at, len));
                at += len;
            }
            std::string().swap(b);
        }
        blocks_.clear();
    }

private:
    static constexpr size_t kBlockBytes = size_t(1) << 20;
    std::vector<std::string> blocks_;
};

} // namespace

WalMeta parse_wal_metadata(const std::string &text, const std::string &what) {
    WalMeta out;
    if (text.empty()) return out;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception &e) {
        throw DataError(fmt::format("{}: metadata is not valid JSON: {}", what, e.what()));
    }
    if (j.is_null()) return out;
    if (!j.is_object()) throw DataError(fmt::format("{}: metadata is not a JSON object", what));
    for (auto it = j.begin(); it != j.end(); ++it) {
        const auto &v = it.value();
        if (v.is_null()) {
            out.emplace_back(it.key(), std::nullopt);
        } else if (v.is_array()) {
            std::vector<MetaScalar> arr;
            for (const auto &e : v) {
                auto s = json_scalar(e);
                if (!s) throw DataError(fmt::format("{}: metadata key '{}' holds an array with a non-scalar element", what, it.key()));
                arr.push_back(std::move(*s));
            }
            out.emplace_back(it.key(), MetaValue(std::move(arr)));
        } else {
            auto s = json_scalar(v);
            if (!s) throw DataError(fmt::format("{}: metadata key '{}' holds an unsupported JSON value", what, it.key()));
            out.emplace_back(it.key(), std::visit([](auto &&x) -> MetaValue { return x; }, std::move(*s)));
        }
    }
    return out;
}

void merge_metadata(Metadata &m, const WalMeta &upd) {
    for (const auto &[k, v] : upd) {
        auto it = std::find_if(m.begin(), m.end(), [&](const auto &kv) { return kv.first == k; });
        if (!v) {
            if (it != m.end()) m.erase(it);
        } else if (it != m.end()) {
            it->second = *v;
        } else {
            m.emplace_back(k, *v);
        }
    }
}

namespace {
// Summation order of |v|² used by the hnswlib build in Chroma; "seq" = plain left-to-right,
// "4" = 4 SSE lanes combined (l0+l2)+(l1+l3) then the remainder, "8" = AVX 8 lanes.
int norm_lanes() {
    static const int lanes = [] {
        const char *e = std::getenv("C2P_COSINE_SUM_LANES");
        if (!e) return 4;
        if (std::strcmp(e, "seq") == 0 || std::strcmp(e, "1") == 0) return 1;
        return std::atoi(e) == 8 ? 8 : 4;
    }();
    return lanes;
}
} // namespace

void cosine_roundtrip(float *v, uint32_t dim) {
    float norm;
    int lanes = norm_lanes();
    if (lanes == 1) {
        norm = 0.0f;
        for (uint32_t i = 0; i < dim; ++i) norm += v[i] * v[i];
    } else {
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        uint32_t L = uint32_t(lanes), i = 0;
        for (; i + L <= dim; i += L)
            for (uint32_t k = 0; k < L; ++k) acc[k] += v[i + k] * v[i + k];
        if (L == 8) {
            for (int k = 0; k < 4; ++k) acc[k] += acc[k + 4];
        }
        norm = (acc[0] + acc[2]) + (acc[1] + acc[3]);
        for (; i < dim; ++i) norm += v[i] * v[i];
    }
    float length = std::sqrt(norm);
    float inv = 1.0f / (length + 1e-30f);
    for (uint32_t i = 0; i < dim; ++i) {
        float stored = v[i] * inv;
        v[i] = stored * length;
    }
}

std::string segment_rows_sql(bool scan) {
    return scan ? "SELECT id, embedding_id FROM embeddings NOT INDEXED WHERE segment_id = ?"
                : "SELECT id, embedding_id FROM embeddings WHERE id IN (SELECT id FROM embeddings WHERE segment_id = ?) ORDER BY id";
}

json api_configuration(const json &stored) {
    if (!stored.is_object() || !stored.contains("vector_index") || !stored["vector_index"].is_object()) return stored;
    const json &vi = stored["vector_index"];
    json out = json::object();
    out["hnsw"] = vi.contains("hnsw") ? vi["hnsw"] : json(nullptr);
    out["spann"] = vi.contains("spann") ? vi["spann"] : json(nullptr);
    for (auto it = stored.begin(); it != stored.end(); ++it)
        if (it.key() != "vector_index") out[it.key()] = it.value();
    if (!out.contains("embedding_function")) out["embedding_function"] = nullptr;
    return out;
}

HnswPart read_hnsw_part(const Catalog &cat, const CatalogCollection &c, const std::string &dir) {
    HnswPart part;
    part.plan = std::make_shared<Plan>();
    Plan &p = *part.plan;
    p.dir = dir;
    p.c = c;
    p.cosine = c.space == Space::cosine;
    p.has_bool = cat.schema.has_bool_value;
    p.has_array = cat.schema.has_metadata_array;
    Ctx ctx{p, fmt::format("collection '{}' ({})", c.name, c.id)};
    CollectionInfo &info = p.info;
    info.id = c.id;
    info.name = c.name;
    info.space = c.space;
    info.metadata = c.metadata;
    info.configuration = api_configuration(c.configuration);
    info.tenant = c.tenant;
    info.database = c.database;
    info.warnings = c.warnings;
    json &det = info.details;
    det["era"] = cat.schema.era;
    det["metadata_segment"] = c.meta_segment;
    det["vector_segment"] = c.vec_segment;
    det["space_source"] = c.space_source;
    if (!c.schema.is_null()) det["schema"] = c.schema;

    std::optional<uint32_t> &dim = part.dim;
    dim = c.dimension;
    std::optional<uint64_t> &vec_max = part.vec_max;
    vec_max = c.vec_max_seq;
    std::string seg_rel = c.vec_segment;
    std::string seg_dir = dir + "/" + c.vec_segment;

    // ---- HNSW segment ----
    uint64_t &hnsw_elements = part.hnsw_elements, &deleted_elements = part.deleted_elements;
    std::optional<unpickle::IndexMetadata> pk;
    std::future<std::vector<uint64_t>> labels;
    std::error_code folder_ec;
    bool folder = !c.vec_segment.empty() && fs::is_directory(seg_dir, folder_ec);
    // ENOENT is "missing" (damage below); anything else means it cannot be looked at (permissions, I/O).
    if (folder_ec && folder_ec != std::errc::no_such_file_or_directory && folder_ec != std::errc::not_a_directory)
        throw EnvError(
            fmt::format("{}: cannot read the HNSW segment folder {}: {}", ctx.what, seg_dir, folder_ec.message()));
    if (!c.vec_segment.empty() && !folder) {
        if (vec_max && *vec_max > 0)
            ctx.damage("hnsw_missing", seg_rel,
                       fmt::format("HNSW segment folder {} is missing, but max_seq_id says the index held operations up to "
                                   "seq {}; vectors not still in the write-ahead log are lost",
                                   seg_rel, *vec_max));
    }
    if (folder) {
        p.files = hnsw::SegmentFiles::open(seg_dir);
        auto &f = *p.files;
        std::optional<hnsw::Header> hdr;
        if (f.has_header) {
            try {
                std::ifstream hf(seg_dir + "/header.bin", std::ios::binary);
                if (!hf) // it exists (has_header): unreadable, not damaged
                    throw EnvError(
                        fmt::format("{}: cannot read {}/header.bin: {}", ctx.what, seg_dir, std::strerror(errno)));
                std::vector<uint8_t> hb((std::istreambuf_iterator<char>(hf)), std::istreambuf_iterator<char>());
                hdr = hnsw::parse_header(hb.data(), hb.size(), ctx.what + ": " + seg_rel);
            } catch (const DataError &e) {
                if (f.has_pickle) ctx.damage("header_invalid", seg_rel + "/header.bin", e.what());
                else ctx.warn(std::string(e.what()) + " (index never persisted: not needed)");
            }
        }
        if (!f.has_pickle) {
            // Chroma loads the index only when index_metadata.pickle exists; without it every
            // vector comes from the WAL.
            if (hdr && hdr->cur_element_count > 0)
                ctx.damage("pickle_missing", seg_rel + "/index_metadata.pickle",
                           fmt::format("{}/index_metadata.pickle is missing but header.bin says the index holds {} elements; "
                                       "their ids cannot be known",
                                       seg_rel, hdr->cur_element_count));
            else if (vec_max && *vec_max > 0)
                ctx.damage("pickle_missing", seg_rel + "/index_metadata.pickle",
                           fmt::format("{}/index_metadata.pickle is missing but max_seq_id says the index held operations up "
                                       "to seq {}",
                                       seg_rel, *vec_max));
            for (const char *fn : {"header.bin", "data_level0.bin", "length.bin"}) {
                bool present = std::string(fn) == "header.bin" ? f.has_header : std::string(fn) == "data_level0.bin" ? f.has_data : f.has_lengths;
                if (!present)
                    ctx.warn(fmt::format("{}/{} is missing; the index was never persisted (no index_metadata.pickle, "
                                         "header says {} elements), so no vector is lost: all come from the write-ahead log",
                                         seg_rel, fn, hdr ? hdr->cur_element_count : 0));
            }
        } else {
            // The element labels are read on another thread while the pickle is parsed: both are
            // needed to map ids to elements, and the scan touches every page of data_level0.bin.
            std::optional<hnsw::View> early;
            std::string early_error;
            if (hdr && (f.has_data || hdr->cur_element_count == 0)) {
                bool need_len = p.cosine && hdr->cur_element_count > 0 && f.has_lengths;
                auto view = [&](bool allow_truncated) {
                    early.emplace(*hdr, f.data.data(), f.data.size(), f.lengths.data(), f.lengths.size(),
                                  ctx.what + ": " + seg_rel, need_len, allow_truncated);
                };
                try {
                    view(false);
                } catch (const DataError &e) {
                    early_error = e.what();
                    view(true);
                }
                labels = std::async(std::launch::async, [view = *early, data = &f.data, what = ctx.what + ": " + seg_rel + "/data_level0.bin"] {
                    return scan_labels(view, *data, what);
                });
            }
            try {
                pk = unpickle::read_index_metadata(f.pickle.data(), f.pickle.size(),
                                                 ctx.what + ": " + seg_rel + "/index_metadata.pickle");
                det["pickle"] = {{"shape", pk->shape}, {"protocol", pk->protocol}, {"ids", pk->by_label.size()}};
            } catch (const DataError &e) {
                ctx.damage("pickle_invalid", seg_rel + "/index_metadata.pickle", e.what());
            }
            if (!f.has_header) ctx.damage("hnsw_file_missing", seg_rel + "/header.bin", seg_rel + "/header.bin is missing");
            if (pk && hdr) {
                if (!vec_max && pk->max_seq_id) vec_max = uint64_t(std::max<int64_t>(0, *pk->max_seq_id));
                if (pk->dimensionality && uint64_t(*pk->dimensionality) != hdr->dim)
                    ctx.damage("dimension_mismatch", seg_rel + "/index_metadata.pickle",
                               fmt::format("pickle dimensionality {} differs from header.bin dimension {}", *pk->dimensionality, hdr->dim));
                if (dim && *dim != hdr->dim)
                    ctx.damage("dimension_mismatch", seg_rel + "/header.bin",
                               fmt::format("header.bin dimension {} differs from collections.dimension {}", hdr->dim, *dim));
                if (!dim) dim = hdr->dim;
                hnsw_elements = hdr->cur_element_count;
                if (!early) // data_level0.bin is missing while the index has elements
                    ctx.damage("hnsw_file_missing", seg_rel + "/data_level0.bin",
                               fmt::format("{}/data_level0.bin is missing; header.bin says it holds {} elements", seg_rel,
                                           hdr->cur_element_count));
                if (p.cosine && hdr->cur_element_count > 0 && !f.has_lengths)
                    ctx.damage("hnsw_file_missing", seg_rel + "/length.bin",
                               fmt::format("{}/length.bin is missing: the norms of {} cosine vectors are unknown (salvage "
                                           "exports them unit-normalised)",
                                           seg_rel, hdr->cur_element_count));
                if (early) {
                    if (!early_error.empty()) ctx.damage("hnsw_truncated", seg_rel, early_error);
                    p.view = std::move(early);
                }
            }
        }
    }
    std::vector<uint64_t> label_of = labels.valid() ? labels.get() : std::vector<uint64_t>{};
    if (p.files) {
        p.files->data.close_file();
        p.files->lengths.close_file();
    }
    if (pk && p.view) {
        // label → element, as hnswlib's label_lookup_ (the last element with a label wins).
        constexpr uint64_t kNoElement = UINT64_MAX;
        std::vector<uint64_t> element_of(pk->by_label.size(), kNoElement);
        // Live elements per label: hnswlib keeps one element per label, so two mean a damaged file
        // where at most one holds the id's vector and which one cannot be known.
        std::vector<uint8_t> live_with_label(pk->by_label.size(), 0);
        uint64_t unnamed = 0;
        for (uint64_t i = 0; i < label_of.size(); ++i) {
            bool del = label_of[i] & kDeletedBit;
            if (del) ++deleted_elements;
            const unpickle::IdLabel *e = pk->find_label(label_of[i] & ~kDeletedBit);
            if (e) {
                size_t j = size_t(e - pk->by_label.data());
                element_of[j] = del ? i | kDeletedBit : i;
                if (!del && live_with_label[j] < 2) ++live_with_label[j];
            } else if (!del) {
                ++unnamed;
            }
        }
        label_of = {};
        std::vector<std::string> lost, twice, ambiguous;
        uint64_t lost_n = 0, twice_n = 0, ambiguous_n = 0;
        p.vec.reserve(pk->by_label.size());
        for (size_t j = 0; j < pk->by_label.size(); ++j) {
            const auto &[id, label] = pk->by_label[j];
            uint64_t el = element_of[j];
            if (live_with_label[j] > 1) {
                // Not taken from the index: the write-ahead log proves its vector, or it is unrecoverable.
                ++ambiguous_n;
                ambiguous.push_back(std::string(id));
                continue;
            }
            if (el == kNoElement || (el & kDeletedBit)) {
                ++lost_n;
                if (lost.size() < kShowIds) lost.push_back(std::string(id));
                continue;
            }
            if (!p.vec.add(id, VecLoc{VecLoc::hnsw, false, el}, false)) {
                ++twice_n;
                if (twice.size() < kShowIds) twice.push_back(std::string(id));
            }
        }
        if (lost_n) {
            std::sort(lost.begin(), lost.end());
            ctx.damage("label_not_found", seg_rel + "/data_level0.bin",
                       fmt::format("{} ids of index_metadata.pickle have no live element in data_level0.bin (label not found): {}",
                                   lost_n, show_ids(lost, lost_n)),
                       lost, lost_n);
        }
        if (ambiguous_n) {
            std::sort(ambiguous.begin(), ambiguous.end());
            ctx.damage("label_duplicated", seg_rel + "/data_level0.bin",
                       fmt::format("{} ids of index_metadata.pickle have a label that two or more live elements of "
                                   "data_level0.bin carry (a damaged file: which element holds the id's vector cannot "
                                   "be known, so none is used; the vector comes from the write-ahead log where it still "
                                   "holds one, else the record is unrecoverable): {}",
                                   ambiguous_n, show_ids(ambiguous, ambiguous_n)),
                       ambiguous, ambiguous_n);
        }
        if (twice_n)
            ctx.damage("pickle_invalid", seg_rel + "/index_metadata.pickle",
                       fmt::format("{} ids appear twice in id_to_label with different labels (the first label's vector is "
                                   "used): {}",
                                   twice_n, show_ids(twice, twice_n)),
                       twice, twice_n);
        if (unnamed)
            ctx.warn(fmt::format("{} live elements of {}/data_level0.bin have labels unknown to index_metadata.pickle; "
                                 "ignored, as Chroma does",
                                 unnamed, seg_rel));
    }
    return part; // p.vec holds what is needed of the pickle
}

std::shared_ptr<Plan> build_plan(const sqlite::Db &db, const Catalog &cat, const CatalogCollection &c, const std::string &dir,
                                 bool salvage, bool allow_scan, std::future<HnswPart> hnsw_part) {
    // The HNSW files are read on another thread while this one reads the collection's ids from SQLite.
    if (!hnsw_part.valid())
        hnsw_part = std::async(std::launch::async, [&cat, &c, &dir] { return read_hnsw_part(cat, c, dir); });
    IdStream ids;
    bool scan_rows = false;
    if (!c.meta_segment.empty()) {
        auto n = db.prepare("SELECT count(*) FROM embeddings WHERE segment_id = ?");
        n.bind(1, c.meta_segment);
        // A scan reads every collection's rows but no index: ~3× cheaper per row than lookups.
        scan_rows = allow_scan && n.step() && uint64_t(n.i64(0)) * 3 >= cat.embedding_rows;
        auto s = db.prepare(segment_rows_sql(scan_rows));
        s.bind(1, c.meta_segment);
        while (s.step()) ids.add(s.text_view(1));
    }
    HnswPart part = hnsw_part.get();
    std::shared_ptr<Plan> plan = std::move(part.plan);
    Plan &p = *plan;
    p.scan_rows = scan_rows;
    Ctx ctx{p, fmt::format("collection '{}' ({})", c.name, c.id)};
    CollectionInfo &info = p.info;
    json &det = info.details;
    std::optional<uint32_t> dim = part.dim;
    const std::optional<uint64_t> vec_max = part.vec_max;
    const uint64_t meta_max = c.meta_max_seq.value_or(0);
    const std::string seg_rel = c.vec_segment;

    // ---- WAL: one pass, ordered by seq_id ----
    uint64_t vec_floor = vec_max.value_or(0);
    uint64_t wal_rows = 0, wal_vec_rows = 0, wal_meta_rows = 0;
    std::unordered_map<std::string, uint64_t> latest_vec; // any seq: for salvage
    std::vector<std::string> bad_wal;
    uint64_t bad_wal_n = 0;
    std::unordered_set<std::string> wal_bad_ids;
    if (cat.schema.has_queue && !c.topics.empty()) {
        std::string in;
        for (size_t i = 0; i < c.topics.size(); ++i) in += i ? ",?" : "?";
        auto s = db.prepare("SELECT seq_id, operation, id, vector IS NOT NULL, length(vector), encoding, metadata "
                            "FROM embeddings_queue WHERE topic IN (" + in + ") ORDER BY seq_id");
        for (size_t i = 0; i < c.topics.size(); ++i) s.bind(int(i + 1), c.topics[i]);
        auto find_row = db.prepare("SELECT id FROM embeddings WHERE segment_id = ? AND embedding_id = ?");
        std::string md_sql = fmt::format("SELECT key, string_value, int_value, float_value{} FROM embedding_metadata WHERE id = ? ORDER BY key",
                                         p.has_bool ? ", bool_value" : "");
        auto md = db.prepare(md_sql);
        std::optional<sqlite::Stmt> arr;
        if (p.has_array)
            arr.emplace(db.prepare("SELECT key, string_value, int_value, float_value, bool_value FROM embedding_metadata_array "
                                   "WHERE id = ? ORDER BY key, rowid"));
        while (s.step()) {
            ++wal_rows;
            uint64_t seq = uint64_t(s.i64(0));
            int64_t op = s.i64(1);
            std::string id = s.text(2);
            bool has_vec = s.i64(3) != 0;
            if (has_vec) {
                int64_t bytes = s.i64(4);
                auto enc = s.opt_text(5);
                bool ok = (!enc || *enc == "FLOAT32") && bytes > 0 && bytes % 4 == 0 && (!dim || uint64_t(bytes) == uint64_t(*dim) * 4);
                if (ok && !dim) dim = uint32_t(bytes / 4);
                if (!ok) {
                    has_vec = false;
                    if (seq > vec_floor) {
                        ++bad_wal_n;
                        if (bad_wal.size() < kShowIds)
                            bad_wal.push_back(fmt::format("{} (seq {}: {} bytes, encoding {})", id, seq, bytes, enc.value_or("NULL")));
                        wal_bad_ids.insert(id);
                    }
                } else {
                    latest_vec[id] = seq;
                }
            }
            if (op == 3) latest_vec.erase(id);
            // Vector side.
            if (seq > vec_floor) {
                ++wal_vec_rows;
                VecLoc *it = p.vec.find(id);
                switch (op) {
                case 0: // ADD
                    if (!it && has_vec) p.vec.set(id, VecLoc{VecLoc::wal, false, seq}, true);
                    break;
                case 1: // UPDATE
                    if (it && has_vec) *it = VecLoc{VecLoc::wal, false, seq};
                    break;
                case 2: // UPSERT
                    if (has_vec) p.vec.set(id, VecLoc{VecLoc::wal, false, seq}, true);
                    break;
                case 3: // DELETE
                    if (it) p.vec.erase(id);
                    break;
                default:
                    throw DataError(fmt::format("{}: embeddings_queue row seq {} has unknown operation {}", ctx.what, seq, op));
                }
            }
            // Metadata side.
            if (seq > meta_max && !c.meta_segment.empty()) {
                ++wal_meta_rows;
                auto ins = p.overrides.try_emplace(id);
                Override &o = ins.first->second;
                if (ins.second) {
                    find_row.reset();
                    find_row.bind(1, c.meta_segment).bind(2, id);
                    if (find_row.step()) {
                        o.in_sqlite = true;
                        o.exists = true;
                        o.rowid = find_row.i64(0);
                        md.reset();
                        md.bind(1, o.rowid);
                        while (md.step()) {
                            MetaScalar v;
                            if (decode_typed(md, 1, p.has_bool, v)) append_scalar(o.meta, md.text(0), std::move(v));
                        }
                        if (arr) {
                            arr->reset();
                            arr->bind(1, o.rowid);
                            while (arr->step()) {
                                MetaScalar v;
                                if (!decode_typed(*arr, 1, true, v)) continue;
                                std::string k = arr->text(0);
                                auto it2 = std::find_if(o.meta.begin(), o.meta.end(), [&](auto &kv) { return kv.first == k; });
                                if (it2 == o.meta.end()) o.meta.emplace_back(k, MetaValue(std::vector<MetaScalar>{}));
                                append_scalar(o.meta, k, std::move(v));
                            }
                        }
                    }
                }
                std::string mtext = s.opt_text(6).value_or("");
                WalMeta wm = op == 3 ? WalMeta{} : parse_wal_metadata(mtext, fmt::format("{}: embeddings_queue seq {}", ctx.what, seq));
                bool was = o.exists;
                if (op == 0) {
                    if (!was) {
                        o.exists = true;
                        o.meta.clear();
                        WalMeta nn;
                        for (auto &kv : wm)
                            if (kv.second) nn.push_back(kv);
                        merge_metadata(o.meta, nn);
                        if (!o.in_sqlite) p.wal_only_ids.push_back(id);
                    }
                } else if (op == 1) {
                    if (was) merge_metadata(o.meta, wm);
                } else if (op == 2) {
                    if (was) merge_metadata(o.meta, wm);
                    else {
                        o.exists = true;
                        o.meta.clear();
                        WalMeta nn;
                        for (auto &kv : wm)
                            if (kv.second) nn.push_back(kv);
                        merge_metadata(o.meta, nn);
                        if (!o.in_sqlite) p.wal_only_ids.push_back(id);
                    }
                } else if (op == 3) {
                    o.exists = false;
                    o.meta.clear();
                }
            }
        }
    }
    if (bad_wal_n)
        ctx.damage("wal_vector_invalid", "chroma.sqlite3",
                   fmt::format("{} write-ahead-log vectors have the wrong size or encoding (expected {} float32): {}", bad_wal_n,
                               dim.value_or(0), show_ids(bad_wal, bad_wal_n)),
                   bad_wal, bad_wal_n);
    // De-duplicate wal_only_ids (an id added, deleted and added again) keeping live ones, first order.
    {
        std::unordered_set<std::string> seen;
        std::vector<std::string> out;
        for (auto &id : p.wal_only_ids) {
            auto &o = p.overrides[id];
            if (o.exists && !o.in_sqlite && seen.insert(id).second) out.push_back(id);
        }
        p.wal_only_ids = std::move(out);
    }

    // ---- Match live records with vectors ----
    uint64_t live = 0;
    std::vector<std::string> novec;
    auto check = [&](std::string_view id) {
        ++live;
        if (VecLoc *it = p.vec.find(id)) it->matched = true;
        else novec.emplace_back(id);
    };
    if (!c.meta_segment.empty()) {
        // In the reader's order, so the vector lookups below (and the reader's) hit VecIndex's
        // next-entry guess.
        ids.consume([&](std::string_view id) {
            if (!p.overrides.empty()) {
                auto o = p.overrides.find(std::string(id));
                if (o != p.overrides.end() && !o->second.exists) return;
            }
            check(id);
        });
        for (auto &id : p.wal_only_ids) check(id);
    }
    std::vector<std::string> orphan_vecs;
    uint64_t orphan_n = 0;
    p.vec.for_each([&](std::string_view id, VecLoc &loc) {
        if (!loc.matched) {
            ++orphan_n;
            orphan_vecs.push_back(std::string(id));
        }
    });
    std::sort(orphan_vecs.begin(), orphan_vecs.end());
    if (orphan_n)
        ctx.damage("vector_without_record", seg_rel,
                   fmt::format("{} vectors have no record in the metadata segment (not exported): {}", orphan_n,
                               show_ids(orphan_vecs, orphan_n)),
                   orphan_vecs, orphan_n);
    uint64_t from_wal = 0, from_hnsw = 0;
    p.vec.for_each([&](std::string_view, VecLoc &loc) {
        if (loc.matched && loc.kind == VecLoc::wal) ++from_wal;
        if (loc.matched && loc.kind == VecLoc::hnsw) ++from_hnsw;
    });

    std::vector<std::string> unrecoverable;
    if (!novec.empty()) {
        uint64_t recoverable = 0;
        for (auto &id : novec) {
            auto it = latest_vec.find(id);
            if (it != latest_vec.end()) {
                ++recoverable;
                if (salvage) {
                    p.vec.set(id, VecLoc{VecLoc::wal, true, it->second}, true);
                    p.salvaged_ids.push_back(id);
                    continue;
                }
            }
            unrecoverable.push_back(id);
        }
        std::vector<std::string> shown = novec;
        std::sort(shown.begin(), shown.end());
        ctx.damage("no_vector", seg_rel.empty() ? "chroma.sqlite3" : seg_rel,
                   fmt::format("{} of {} records have no vector (not in the HNSW index, not in the write-ahead log above seq {}): "
                               "{}; {} of them still have a vector in an older write-ahead-log row{}",
                               novec.size(), live, vec_floor, show_ids(shown, novec.size()), recoverable,
                               salvage ? " (used)" : " (--salvage uses it)"),
                   shown, novec.size());
        if (salvage) {
            if (!unrecoverable.empty()) {
                // Ensure the dropped set is exact.
            }
        } else {
            // Without salvage the WAL-recoverable ones are still unrecoverable for a strict read.
        }
    }
    // In salvage mode the lost records are dropped; without it read() is refused anyway.
    for (auto &id : unrecoverable) p.drop.insert(id);
    if (!dim && live > 0 && p.drop.size() < live)
        ctx.damage("dimension_unknown", "chroma.sqlite3", "the dimension is unknown (collections.dimension is NULL and no vector was found)");
    p.dim = dim.value_or(0);
    info.dimension = dim;
    info.record_count = salvage ? live - p.drop.size() : live;

    std::sort(unrecoverable.begin(), unrecoverable.end());
    std::sort(p.salvaged_ids.begin(), p.salvaged_ids.end());
    info.diagnostics = SourceDiagnostics{p.damage, unrecoverable, p.salvaged_ids};
    det["status"] = info.diagnostics.status();
    det["records_in_metadata"] = live;
    det["vectors_from_hnsw"] = from_hnsw;
    det["vectors_from_wal"] = from_wal;
    det["hnsw_elements"] = part.hnsw_elements;
    det["deleted_elements"] = part.deleted_elements;
    det["wal_rows"] = wal_rows;
    det["wal_rows_replayed_vectors"] = wal_vec_rows;
    det["wal_rows_replayed_metadata"] = wal_meta_rows;
    det["vector_max_seq_id"] = vec_floor;
    det["metadata_max_seq_id"] = meta_max;
    det["cosine_vectors"] = p.cosine ? "as Chroma's get returns them: hnswlib float32 normalisation × norm" : "not applicable";
    for (auto &d : p.damage) info.warnings.push_back(d.message);
    det["damage"] = info.diagnostics.damage_json();
    det["unrecoverable_ids"] = info.diagnostics.unrecoverable_ids;
    det["salvaged_ids"] = info.diagnostics.salvaged_ids;
    return plan;
}

} // namespace c2p::persistent
