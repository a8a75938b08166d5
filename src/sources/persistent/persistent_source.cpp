#include "sources/persistent/persistent_source.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sqlite3.h>

#include "sources/persistent/collection_plan.hpp"
#include "sources/persistent/sqlite_catalog.hpp"
#include "sources/persistent/sqlite_db.hpp"
#include "util/error.hpp"

namespace c2p {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using namespace c2p::persistent;

bool is_persistent_dir(const std::string &path) {
    std::error_code ec;
    return fs::is_directory(path, ec) && fs::is_regular_file(fs::path(path) / "chroma.sqlite3", ec);
}

namespace {

// Splits chroma:document / chroma:uri out of a record's metadata.
void split_meta(Metadata &m, std::optional<std::string> &doc, std::optional<std::string> &uri) {
    for (auto it = m.begin(); it != m.end();) {
        if (it->first == "chroma:document" || it->first == "chroma:uri") {
            std::optional<std::string> &dst = it->first == "chroma:document" ? doc : uri;
            if (auto *s = std::get_if<std::string>(&it->second)) dst = std::move(*s);
            it = m.erase(it);
        } else {
            ++it;
        }
    }
}

// How a reader finds each record's metadata rows.
enum class MetaRead {
    scan,   // a plain scan of embedding_metadata, merged: its rows are in id order (metadata_in_id_order)
    sorted, // the collection's rows sorted by id (the sort is done before the first row)
    lookup, // each record's own rows: for a few records from the start, without waiting for either
};

class Reader : public BatchReader {
public:
    Reader(std::shared_ptr<sqlite::Snapshot> snap, std::shared_ptr<Plan> plan, size_t batch, MetaRead meta)
        : snap_(std::move(snap)), p_(std::move(plan)), batch_(batch ? batch : 1000), meta_(meta),
          rows_(snap_->db().prepare(segment_rows_sql(p_->scan_rows))),
          // Rows of other collections are skipped by the merge in collect(): ids only grow.
          md_(snap_->db().prepare(fmt::format("SELECT id, key, string_value, int_value, float_value{} FROM embedding_metadata {}",
                                              p_->has_bool ? ", bool_value" : "",
                                              meta_ == MetaRead::scan     ? "NOT INDEXED"
                                              : meta_ == MetaRead::lookup ? "WHERE id = ? ORDER BY key"
                                                                          : "WHERE id IN (SELECT id FROM embeddings WHERE segment_id = ?) ORDER BY id, key"))),
          wal_vec_(snap_->db().prepare("SELECT vector FROM embeddings_queue WHERE seq_id = ?")) {
        if (p_->has_array)
            arr_.emplace(snap_->db().prepare(
                meta_ == MetaRead::lookup
                    ? "SELECT a.id, a.key, a.string_value, a.int_value, a.float_value, a.bool_value FROM "
                      "embedding_metadata_array a WHERE a.id = ? ORDER BY a.key, a.rowid"
                    : "SELECT a.id, a.key, a.string_value, a.int_value, a.float_value, a.bool_value FROM "
                      "embedding_metadata_array a JOIN embeddings e ON e.id = a.id WHERE e.segment_id = ? "
                      "ORDER BY a.id, a.key, a.rowid"));
        if (!p_->c.meta_segment.empty()) {
            rows_.bind(1, p_->c.meta_segment);
            if (meta_ != MetaRead::lookup) {
                if (meta_ == MetaRead::sorted) md_.bind(1, p_->c.meta_segment);
                md_ok_ = md_.step();
                if (arr_) {
                    arr_->bind(1, p_->c.meta_segment);
                    arr_ok_ = arr_->step();
                }
            }
        } else {
            rows_done_ = true;
        }
        vbuf_.resize(p_->dim);
    }

    bool next(RecordBatch &out) override {
        out.clear();
        out.dim = p_->dim;
        out.reserve(batch_);
        while (out.size() < batch_) {
            if (!rows_done_) {
                if (!rows_.step()) {
                    rows_done_ = true;
                    continue;
                }
                int64_t rowid = rows_.i64(0);
                std::string id = rows_.text(1);
                Metadata meta = collect(rowid);
                auto o = p_->overrides.empty() ? p_->overrides.end() : p_->overrides.find(id);
                if (o != p_->overrides.end()) {
                    if (!o->second.exists) continue;
                    meta = o->second.meta;
                }
                emit(out, std::move(id), std::move(meta));
            } else if (wal_i_ < p_->wal_only_ids.size()) {
                const std::string &id = p_->wal_only_ids[wal_i_++];
                emit(out, id, p_->overrides.at(id).meta);
            } else {
                break;
            }
        }
        if (p_->files) {
            p_->files->data.release_pages();
            p_->files->lengths.release_pages();
        }
        return !out.empty();
    }

private:
    std::shared_ptr<sqlite::Snapshot> snap_;
    std::shared_ptr<Plan> p_;
    size_t batch_;
    MetaRead meta_;
    sqlite::Stmt rows_, md_, wal_vec_;
    std::optional<sqlite::Stmt> arr_;
    bool md_ok_ = false, arr_ok_ = false, rows_done_ = false;
    size_t wal_i_ = 0;
    std::vector<float> vbuf_;

    Metadata collect(int64_t rowid) {
        Metadata m;
        if (meta_ == MetaRead::lookup) {
            md_.reset();
            md_.bind(1, rowid);
            md_ok_ = md_.step();
            if (arr_) {
                arr_->reset();
                arr_->bind(1, rowid);
                arr_ok_ = arr_->step();
            }
        }
        while (md_ok_ && md_.i64(0) < rowid) md_ok_ = md_.step();
        while (md_ok_ && md_.i64(0) == rowid) {
            MetaScalar v;
            if (decode_typed(md_, 2, p_->has_bool, v))
                m.emplace_back(md_.text(1), std::visit([](auto &&x) -> MetaValue { return x; }, std::move(v)));
            md_ok_ = md_.step();
        }
        // A scan meets a record's keys in insertion order; the indexed query sorts them.
        auto by_key = [](const auto &a, const auto &b) { return a.first < b.first; };
        if (meta_ == MetaRead::scan && !std::is_sorted(m.begin(), m.end(), by_key)) std::sort(m.begin(), m.end(), by_key);
        if (arr_) {
            while (arr_ok_ && arr_->i64(0) < rowid) arr_ok_ = arr_->step();
            while (arr_ok_ && arr_->i64(0) == rowid) {
                std::string k = arr_->text(1);
                MetaScalar v;
                bool ok = decode_typed(*arr_, 2, true, v);
                auto it = std::find_if(m.begin(), m.end(), [&](auto &kv) { return kv.first == k; });
                if (it == m.end()) {
                    m.emplace_back(k, MetaValue(std::vector<MetaScalar>{}));
                    it = std::prev(m.end());
                }
                if (auto *a = std::get_if<std::vector<MetaScalar>>(&it->second); a && ok) a->push_back(std::move(v));
                arr_ok_ = arr_->step();
            }
        }
        return m;
    }

    void emit(RecordBatch &out, std::string id, Metadata meta) {
        if (!p_->drop.empty() && p_->drop.count(id)) return;
        const VecLoc *loc = p_->vec.find(id);
        if (!loc) throw DataError(fmt::format("collection '{}' ({}): record '{}' has no vector", p_->c.name, p_->c.id, id));
        load_vector(id, *loc);
        std::optional<std::string> doc, uri;
        split_meta(meta, doc, uri);
        out.push(std::move(id), vbuf_.data(), std::move(doc), std::move(uri), std::move(meta));
    }

    void load_vector(const std::string &id, const VecLoc &loc) {
        uint32_t dim = p_->dim;
        if (loc.kind == VecLoc::hnsw) {
            p_->view->vector(loc.pos, vbuf_.data());
            if (p_->cosine && p_->view->has_lengths()) {
                float len = p_->view->length(loc.pos);
                for (uint32_t i = 0; i < dim; ++i) vbuf_[i] *= len;
            }
            return;
        }
        wal_vec_.reset();
        wal_vec_.bind(1, int64_t(loc.pos));
        if (!wal_vec_.step())
            throw DataError(fmt::format("collection '{}' ({}): record '{}': write-ahead-log row seq {} vanished", p_->c.name, p_->c.id,
                                        id, loc.pos));
        std::string_view b = wal_vec_.blob(0);
        if (b.size() != size_t(dim) * 4)
            throw DataError(fmt::format("collection '{}' ({}): record '{}': write-ahead-log vector of {} bytes, expected {} for dimension {}",
                                        p_->c.name, p_->c.id, id, b.size(), size_t(dim) * 4, dim));
        std::memcpy(vbuf_.data(), b.data(), b.size());
        if (p_->cosine) cosine_roundtrip(vbuf_.data(), dim);
    }
};

// Reads each collection's HNSW part (read_hnsw_part), in catalog order, on one thread of its own:
// the plans are then built in that order (list_collections) while it goes on to the next one.
class HnswAhead {
public:
    HnswAhead() = default;
    HnswAhead(const HnswAhead &) = delete;
    HnswAhead &operator=(const HnswAhead &) = delete;
    ~HnswAhead() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    void start(const Catalog &cat, const std::string &dir) {
        promises_.resize(cat.collections.size());
        for (auto &p : promises_) futures_.push_back(p.get_future());
        thread_ = std::thread([this, &cat, &dir] {
            for (size_t i = 0; i < promises_.size() && !stop_; ++i) {
                try {
                    promises_[i].set_value(read_hnsw_part(cat, cat.collections[i], dir));
                } catch (...) {
                    promises_[i].set_exception(std::current_exception());
                }
            }
        });
    }
    // Collection i's part, or nothing (build_plan then reads it itself) when not started or already taken.
    std::future<HnswPart> take(size_t i) { return i < futures_.size() ? std::move(futures_[i]) : std::future<HnswPart>(); }

private:
    std::vector<std::promise<HnswPart>> promises_;
    std::vector<std::future<HnswPart>> futures_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

class PersistentSourceImpl : public PersistentSource {
public:
    PersistentSourceImpl(std::string dir, SourceOptions opts) : dir_(std::move(dir)), opts_(std::move(opts)) {
        if (!is_persistent_dir(dir_)) throw EnvError(fmt::format("{}: not a directory containing chroma.sqlite3", dir_));
        // The catalog is read as soon as the snapshot's state is fixed (alongside the copy), and with it
        // the collections' HNSW files start to be read.
        snap_ = std::make_shared<sqlite::Snapshot>(dir_ + "/chroma.sqlite3", [this](const sqlite::Db &db) {
            cat_ = read_catalog(db, dir_);
            if (opts_.plan_ahead) ahead_.start(cat_, dir_);
        });
        // A pass over embedding_metadata that only read() needs: it runs on the second
        // connection while the plans are built on the first.
        if (cat_.embedding_rows > 0)
            metadata_ordered_ = std::async(std::launch::async, [snap = snap_] {
                try {
                    return metadata_in_id_order(snap->aux_db());
                } catch (const std::exception &) { // the lookups report any trouble with the table themselves
                    return false;
                }
            });
    }

    std::string describe() const override { return dir_; }

    json details() const override {
        json d = {{"kind", "persistent"},
                  {"path", dir_},
                  {"era", cat_.schema.era},
                  {"migrations", cat_.schema.migrations},
                  {"snapshot", snap_->method()},
                  {"collections", cat_.collections.size()},
                  {"orphan_segment_dirs", cat_.orphan_dirs},
                  {"orphan_embedding_rows", cat_.orphan_embedding_rows},
                  {"orphan_wal_rows", cat_.orphan_queue_rows}};
        if (cat_.automatically_purge) d["wal_automatically_purge"] = *cat_.automatically_purge;
        return d;
    }

    std::vector<CollectionInfo> inspect_collections() override { return infos(); }

    std::vector<CollectionInfo> list_collections() override {
        auto v = infos();
        if (opts_.salvage) return v;
        std::string report;
        size_t n = 0;
        for (auto &c : v)
            for (const auto &d : c.diagnostics.damage) {
                ++n;
                report += "\n  - " + d.message;
            }
        if (n)
            throw DataError(fmt::format("persistent directory {} is damaged ({} problem{}); nothing was read. Rerun with --salvage "
                                        "to migrate every record that can be recovered and report the rest:{}",
                                        dir_, n, n == 1 ? "" : "s", report));
        return v;
    }

    std::unique_ptr<BatchReader> read(const CollectionInfo &c, size_t batch_size) override {
        auto plan = readable_plan(c);
        bool scan_md = plan->scan_rows && metadata_ordered_.valid() && metadata_ordered_.get();
        return std::make_unique<Reader>(snap_, plan, batch_size, scan_md ? MetaRead::scan : MetaRead::sorted);
    }

    std::unique_ptr<BatchReader> read_range(const CollectionInfo &c, size_t batch_size, uint64_t start,
                                            uint64_t count) override {
        // A few records from the start (a sample; a load's ranges are larger) look their metadata up
        // rather than wait for the metadata pass or sort a large collection's ids before the first row.
        constexpr uint64_t kLookupHead = 5000;
        if (start == 0 && count <= kLookupHead)
            return slice_reader(std::make_unique<Reader>(snap_, readable_plan(c), batch_size, MetaRead::lookup), 0, count);
        return Source::read_range(c, batch_size, start, count);
    }

private:
    std::string dir_;
    SourceOptions opts_;
    std::shared_ptr<sqlite::Snapshot> snap_;
    Catalog cat_;
    std::map<std::string, std::shared_ptr<Plan>> plans_;
    std::shared_future<bool> metadata_ordered_;
    HnswAhead ahead_; // last: stopped before the catalog it reads goes

    std::shared_ptr<Plan> readable_plan(const CollectionInfo &c) {
        auto plan = plan_for(c.id);
        if (!opts_.salvage && !plan->damage.empty()) {
            std::string report;
            for (auto &d : plan->damage) report += "\n  - " + d.message;
            throw DataError(fmt::format("collection '{}' ({}) is damaged; rerun with --salvage:{}", plan->c.name, plan->c.id, report));
        }
        return plan;
    }

    std::shared_ptr<Plan> plan_for(const std::string &id) {
        auto it = plans_.find(id);
        if (it != plans_.end()) return it->second;
        for (size_t i = 0; i < cat_.collections.size(); ++i)
            if (const auto &c = cat_.collections[i]; c.id == id) {
                auto p = build_plan(snap_->db(), cat_, c, dir_, opts_.salvage, !opts_.no_table_scans, ahead_.take(i));
                plans_[id] = p;
                return p;
            }
        throw UsageError(fmt::format("{}: no collection with id {}", dir_, id));
    }

    std::vector<CollectionInfo> infos() {
        std::vector<CollectionInfo> out;
        for (auto &c : cat_.collections) {
            auto p = plan_for(c.id);
            CollectionInfo info = p->info;
            if (!cat_.orphan_dirs.empty())
                info.warnings.push_back(fmt::format("{} orphan segment folder(s) of deleted collections ignored: {}", cat_.orphan_dirs.size(),
                                                    fmt::join(cat_.orphan_dirs, ", ")));
            if (cat_.orphan_embedding_rows)
                info.warnings.push_back(fmt::format("{} orphan embeddings rows of deleted segments ignored", cat_.orphan_embedding_rows));
            if (cat_.orphan_queue_rows)
                info.warnings.push_back(fmt::format("{} write-ahead-log rows of deleted collections ignored", cat_.orphan_queue_rows));
            out.push_back(std::move(info));
        }
        return out;
    }
};

} // namespace

std::unique_ptr<Source> open_persistent_source(const std::string &dir, const SourceOptions &opts) {
    std::string d = dir;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    return std::make_unique<PersistentSourceImpl>(d, opts);
}

} // namespace c2p
