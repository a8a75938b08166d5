#include "sources/persistent/persistent_source.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
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

struct Shared;

// One connection of the shared snapshot, held by one thread's handle and its readers; given back when
// the last of them goes.
class Lease {
public:
    Lease(std::shared_ptr<Shared> s, size_t i) : s_(std::move(s)), i_(i) {}
    Lease(const Lease &) = delete;
    Lease &operator=(const Lease &) = delete;
    ~Lease();
    const sqlite::Db &db() const;

private:
    std::shared_ptr<Shared> s_;
    size_t i_;
};

class Reader : public BatchReader {
public:
    // `skip`: the first records are passed over (a range that starts further on) without reading their
    // metadata or vectors.
    Reader(std::shared_ptr<const Lease> conn, std::shared_ptr<const Plan> plan, size_t batch, MetaRead meta, uint64_t skip = 0)
        : conn_(std::move(conn)), p_(std::move(plan)), batch_(batch ? batch : 1000), meta_(meta), skip_(skip),
          rows_(conn_->db().prepare(segment_rows_sql(p_->scan_rows))),
          // Rows of other collections are skipped by the merge in collect(): ids only grow.
          md_(conn_->db().prepare(fmt::format("SELECT id, key, string_value, int_value, float_value{} FROM embedding_metadata {}",
                                              p_->has_bool ? ", bool_value" : "",
                                              meta_ == MetaRead::scan     ? "NOT INDEXED"
                                              : meta_ == MetaRead::lookup ? "WHERE id = ? ORDER BY key"
                                                                          : "WHERE id IN (SELECT id FROM embeddings WHERE segment_id = ?) ORDER BY id, key"))),
          wal_vec_(conn_->db().prepare("SELECT vector FROM embeddings_queue WHERE seq_id = ?")) {
        if (p_->has_array)
            arr_.emplace(conn_->db().prepare(
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
                std::string id = rows_.text(1);
                const Override *o = nullptr;
                if (!yielded(id, o)) continue;
                if (skip_ > 0) {
                    --skip_;
                    continue; // collect()'s merge passes over the rows' metadata
                }
                Metadata meta = collect(rows_.i64(0));
                if (o) meta = o->meta;
                emit(out, std::move(id), std::move(meta));
            } else if (wal_i_ < p_->wal_only_ids.size()) {
                const std::string &id = p_->wal_only_ids[wal_i_++];
                const Override *o = nullptr; // every WAL-only id has one (build_plan)
                if (!yielded(id, o)) continue;
                if (skip_ > 0) {
                    --skip_;
                    continue;
                }
                emit(out, id, o->meta);
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
    std::shared_ptr<const Lease> conn_; // first: its statements are finalized before it is given back
    std::shared_ptr<const Plan> p_;
    size_t batch_;
    MetaRead meta_;
    uint64_t skip_;
    sqlite::Stmt rows_, md_, wal_vec_;
    std::optional<sqlite::Stmt> arr_;
    bool md_ok_ = false, arr_ok_ = false, rows_done_ = false;
    size_t wal_i_ = 0;
    size_t vec_cursor_ = 0; // this reader's own place in the plan's shared id index
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

    // Whether the record is read at all: not deleted by the write-ahead log, not unrecoverable (salvage).
    // `o`: its write-ahead-log override, if it has one.
    bool yielded(const std::string &id, const Override *&o) const {
        if (!p_->overrides.empty())
            if (auto it = p_->overrides.find(id); it != p_->overrides.end()) {
                if (!it->second.exists) return false;
                o = &it->second;
            }
        return p_->drop.empty() || !p_->drop.count(id);
    }

    void emit(RecordBatch &out, std::string id, Metadata meta) {
        const VecLoc *loc = p_->vec.find(id, vec_cursor_);
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

// What every handle on one directory shares: the snapshot, its catalog, and the plans, each built
// once. Built in place (the HNSW files' thread reads `cat` and `dir` by reference).
struct Shared {
    std::string dir;
    SourceOptions opts;
    std::shared_ptr<sqlite::Snapshot> snap;
    Catalog cat;
    std::shared_future<bool> metadata_ordered;
    std::mutex plans_mu; // held while a plan builds: another handle wanting it waits for it
    std::map<std::string, std::shared_ptr<const Plan>> plans;
    std::mutex conns_mu;
    std::vector<size_t> free_conns; // the snapshot's connections no handle holds
    HnswAhead ahead; // last: stopped before the catalog it reads goes

    Shared(std::string d, SourceOptions o) : dir(std::move(d)), opts(std::move(o)) {
        if (!is_persistent_dir(dir)) throw EnvError(fmt::format("{}: not a directory containing chroma.sqlite3", dir));
        // The catalog is read as soon as the snapshot's state is fixed (alongside the copy), and with it
        // the collections' HNSW files start to be read.
        snap = std::make_shared<sqlite::Snapshot>(
            dir + "/chroma.sqlite3",
            [this](const sqlite::Db &db) {
                cat = read_catalog(db, dir);
                if (opts.plan_ahead) ahead.start(cat, dir);
            },
            std::max(1, opts.readers));
        for (size_t i = snap->readers(); i-- > 0;) free_conns.push_back(i);
        // A pass over embedding_metadata that only read() needs: it runs on a connection of its own
        // while the plans are built.
        if (cat.embedding_rows > 0)
            metadata_ordered = std::async(std::launch::async, [s = snap] {
                try {
                    return metadata_in_id_order(s->aux_db());
                } catch (const std::exception &) { // the lookups report any trouble with the table themselves
                    return false;
                }
            });
    }
};

Lease::~Lease() {
    std::lock_guard lock(s_->conns_mu);
    s_->free_conns.push_back(i_);
}

const sqlite::Db &Lease::db() const { return s_->snap->db(i_); }

// One thread's handle: the first opens the directory, share() gives the others (a migrate's workers),
// which read the same snapshot through connections of their own.
class PersistentSourceImpl : public PersistentSource {
public:
    explicit PersistentSourceImpl(std::shared_ptr<Shared> s) : s_(std::move(s)), metadata_ordered_(s_->metadata_ordered) {}

    std::string describe() const override { return s_->dir; }

    json details() const override {
        const Catalog &cat = s_->cat;
        json d = {{"kind", "persistent"},
                  {"path", s_->dir},
                  {"era", cat.schema.era},
                  {"migrations", cat.schema.migrations},
                  {"snapshot", s_->snap->method()},
                  {"collections", cat.collections.size()},
                  {"orphan_segment_dirs", cat.orphan_dirs},
                  {"orphan_embedding_rows", cat.orphan_embedding_rows},
                  {"orphan_wal_rows", cat.orphan_queue_rows}};
        if (cat.automatically_purge) d["wal_automatically_purge"] = *cat.automatically_purge;
        return d;
    }

    std::vector<CollectionInfo> inspect_collections() override { return infos(); }

    std::vector<CollectionInfo> list_collections() override {
        auto v = infos();
        if (s_->opts.salvage) return v;
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
                                        s_->dir, n, n == 1 ? "" : "s", report));
        return v;
    }

    std::unique_ptr<BatchReader> read(const CollectionInfo &c, size_t batch_size) override { return reader(c, batch_size, 0); }

    std::unique_ptr<BatchReader> read_range(const CollectionInfo &c, size_t batch_size, uint64_t start,
                                            uint64_t count) override {
        // A few records from the start (a sample; a load's ranges are larger) look their metadata up
        // rather than wait for the metadata pass or sort a large collection's ids before the first row.
        constexpr uint64_t kLookupHead = 5000;
        if (start == 0 && count <= kLookupHead)
            return slice_reader(std::make_unique<Reader>(conn(), readable_plan(c), batch_size, MetaRead::lookup), 0, count);
        return slice_reader(reader(c, batch_size, start), 0, count);
    }

    std::unique_ptr<Source> share() override { return std::make_unique<PersistentSourceImpl>(s_); }

private:
    std::shared_ptr<Shared> s_;
    std::shared_future<bool> metadata_ordered_; // this thread's copy (one shared_future is not for two threads)
    std::shared_ptr<const Lease> conn_;

    // The collection's records from the `skip`th on.
    std::unique_ptr<BatchReader> reader(const CollectionInfo &c, size_t batch_size, uint64_t skip) {
        auto plan = readable_plan(c);
        bool scan_md = plan->scan_rows && metadata_ordered_.valid() && metadata_ordered_.get();
        return std::make_unique<Reader>(conn(), plan, batch_size, scan_md ? MetaRead::scan : MetaRead::sorted, skip);
    }

    // This handle's connection, taken at its first use (a worker that never reads takes none).
    std::shared_ptr<const Lease> conn() {
        if (conn_) return conn_;
        std::lock_guard lock(s_->conns_mu);
        if (s_->free_conns.empty())
            throw std::logic_error(fmt::format("{}: more threads read the directory at once than the {} its snapshot was opened for "
                                               "(SourceOptions::readers)",
                                               s_->dir, s_->snap->readers()));
        size_t i = s_->free_conns.back();
        s_->free_conns.pop_back();
        conn_ = std::make_shared<const Lease>(s_, i);
        return conn_;
    }

    std::shared_ptr<const Plan> readable_plan(const CollectionInfo &c) {
        auto plan = plan_for(c.id);
        if (!s_->opts.salvage && !plan->damage.empty()) {
            std::string report;
            for (auto &d : plan->damage) report += "\n  - " + d.message;
            throw DataError(fmt::format("collection '{}' ({}) is damaged; rerun with --salvage:{}", plan->c.name, plan->c.id, report));
        }
        return plan;
    }

    std::shared_ptr<const Plan> plan_for(const std::string &id) {
        auto db = conn(); // before the plans' lock: taking it locks the connections
        std::lock_guard lock(s_->plans_mu);
        auto it = s_->plans.find(id);
        if (it != s_->plans.end()) return it->second;
        const Catalog &cat = s_->cat;
        for (size_t i = 0; i < cat.collections.size(); ++i)
            if (const auto &c = cat.collections[i]; c.id == id) {
                std::shared_ptr<const Plan> p =
                    build_plan(db->db(), cat, c, s_->dir, s_->opts.salvage, !s_->opts.no_table_scans, s_->ahead.take(i));
                s_->plans[id] = p;
                return p;
            }
        throw UsageError(fmt::format("{}: no collection with id {}", s_->dir, id));
    }

    std::vector<CollectionInfo> infos() {
        const Catalog &cat = s_->cat;
        std::vector<CollectionInfo> out;
        for (auto &c : cat.collections) {
            auto p = plan_for(c.id);
            CollectionInfo info = p->info;
            if (!cat.orphan_dirs.empty())
                info.warnings.push_back(fmt::format("{} orphan segment folder(s) of deleted collections ignored: {}", cat.orphan_dirs.size(),
                                                    fmt::join(cat.orphan_dirs, ", ")));
            if (cat.orphan_embedding_rows)
                info.warnings.push_back(fmt::format("{} orphan embeddings rows of deleted segments ignored", cat.orphan_embedding_rows));
            if (cat.orphan_queue_rows)
                info.warnings.push_back(fmt::format("{} write-ahead-log rows of deleted collections ignored", cat.orphan_queue_rows));
            out.push_back(std::move(info));
        }
        return out;
    }
};

} // namespace

std::unique_ptr<Source> open_persistent_source(const std::string &dir, const SourceOptions &opts) {
    std::string d = dir;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    return std::make_unique<PersistentSourceImpl>(std::make_shared<Shared>(d, opts));
}

} // namespace c2p
