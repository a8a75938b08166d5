// The persistent-directory source over every real fixture directory, plus synthetic damage.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "fixture_dir.hpp"
#include "sources/persistent/collection_plan.hpp"
#include "sources/persistent/hnsw_segment_reader.hpp"
#include "sources/persistent/pickle_reader.hpp"

#include "sources/persistent/persistent_source.hpp"
#include "util/error.hpp"

namespace fs = std::filesystem;
using namespace c2p;

namespace {

std::string sha256_file(const fs::path &p) {
    std::ifstream f(p, std::ios::binary);
    std::vector<char> buf(1 << 16);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    while (f) {
        f.read(buf.data(), std::streamsize(buf.size()));
        EVP_DigestUpdate(ctx, buf.data(), size_t(f.gcount()));
    }
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    std::string s;
    char h[3];
    for (unsigned i = 0; i < n; ++i) {
        std::snprintf(h, sizeof h, "%02x", md[i]);
        s += h;
    }
    return s;
}

// Every file (and its size) under dir, hashed; also the set of names (no file may appear).
std::map<std::string, std::string> tree_hash(const fs::path &dir) {
    std::map<std::string, std::string> m;
    for (auto &e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) m[fs::relative(e.path(), dir).string()] = sha256_file(e.path());
    return m;
}

struct Sql {
    sqlite3 *db = nullptr;
    explicit Sql(const std::string &path, bool rw = false) {
        std::string uri = "file:" + path + (rw ? "" : "?mode=ro");
        EXPECT_EQ(sqlite3_open_v2(uri.c_str(), &db, (rw ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_URI, nullptr),
                  SQLITE_OK);
    }
    ~Sql() { sqlite3_close(db); }
    int64_t scalar(const std::string &sql, const std::string &arg = "") {
        sqlite3_stmt *st = nullptr;
        EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql << sqlite3_errmsg(db);
        if (!arg.empty()) sqlite3_bind_text(st, 1, arg.c_str(), -1, SQLITE_TRANSIENT);
        int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
        sqlite3_finalize(st);
        return v;
    }
    std::string text(const std::string &sql, const std::string &arg = "") {
        sqlite3_stmt *st = nullptr;
        sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
        if (!arg.empty()) sqlite3_bind_text(st, 1, arg.c_str(), -1, SQLITE_TRANSIENT);
        std::string v;
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) v = reinterpret_cast<const char *>(sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return v;
    }
    void exec(const std::string &sql) { ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql; }
};

// Independent count: live rows of the metadata segment, plus WAL ADD/UPSERT of new ids above its
// max seq id, minus WAL DELETEs above it of existing ids.
int64_t independent_count(const std::string &dir, const std::string &coll_id) {
    Sql s(dir + "/chroma.sqlite3");
    std::string seg = s.text("SELECT id FROM segments WHERE scope = 'METADATA' AND collection = ?", coll_id);
    int64_t n = s.scalar("SELECT count(*) FROM embeddings WHERE segment_id = ?", seg);
    int64_t mx = 0;
    if (s.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'max_seq_id'") > 0) {
        std::string t = s.text("SELECT typeof(seq_id) FROM max_seq_id WHERE segment_id = ?", seg);
        if (t == "integer") mx = s.scalar("SELECT seq_id FROM max_seq_id WHERE segment_id = ?", seg);
        else if (t == "blob") {
            std::string hex = s.text("SELECT hex(seq_id) FROM max_seq_id WHERE segment_id = ?", seg);
            mx = int64_t(std::stoull(hex.substr(hex.size() - 16), nullptr, 16));
        }
    }
    std::string tail = "FROM embeddings_queue q WHERE q.topic LIKE '%' || ? AND q.seq_id > " + std::to_string(mx);
    n += s.scalar("SELECT count(DISTINCT q.id) " + tail + " AND q.operation IN (0,2) AND q.id NOT IN (SELECT embedding_id FROM embeddings WHERE segment_id = '" + seg + "')", coll_id);
    n -= s.scalar("SELECT count(DISTINCT q.id) " + tail + " AND q.operation = 3 AND q.id IN (SELECT embedding_id FROM embeddings WHERE segment_id = '" + seg + "')", coll_id);
    return n;
}

struct Dump {
    std::vector<CollectionInfo> infos;
    std::map<std::string, std::vector<std::string>> ids;
    std::map<std::string, std::vector<std::vector<float>>> vecs;
    std::map<std::string, std::vector<RecordBatch>> batches;
};

// Every collection of `infos` read through `src`. `head`: only that many records of each from `start`,
// read with read_range() (a sample's read, a worker's range).
Dump dump(Source &src, std::vector<CollectionInfo> infos, size_t batch = 7, uint64_t head = kToTheEnd, uint64_t start = 0) {
    Dump d;
    d.infos = std::move(infos);
    for (auto &c : d.infos) {
        auto r = head == kToTheEnd && start == 0 ? src.read(c, batch) : src.read_range(c, batch, start, head);
        RecordBatch b;
        while (r->next(b)) {
            EXPECT_LE(b.size(), batch);
            EXPECT_EQ(b.embeddings.size(), b.size() * b.dim);
            for (size_t i = 0; i < b.size(); ++i) {
                d.ids[c.id].push_back(b.ids[i]);
                d.vecs[c.id].emplace_back(b.embedding(i), b.embedding(i) + b.dim);
            }
            d.batches[c.id].push_back(b);
        }
    }
    return d;
}

Dump read_all(const std::string &dir, bool salvage, size_t batch = 7, bool no_table_scans = false,
              uint64_t head = kToTheEnd) {
    SourceOptions o;
    o.salvage = salvage;
    o.no_table_scans = no_table_scans;
    auto src = open_persistent_source(dir, o);
    return dump(*src, src->list_collections(), batch, head);
}

const char *kDamaged = "v0.5.6__ironhack-labs__lab-langchain-med__chroma";

fs::path copy_fixture(const std::string &name) {
    fs::path dst = fs::temp_directory_path() / ("c2p-persist-test-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(dst);
    fs::copy(fs::path(fixtures()) / name, dst, fs::copy_options::recursive);
    for (auto &e : fs::recursive_directory_iterator(dst))
        fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add);
    fs::permissions(dst, fs::perms::owner_all, fs::perm_options::add);
    return dst;
}

} // namespace

TEST(PersistentSource, EveryFixture) {
    fs::path root = fixtures();
    ASSERT_FIXTURES();
    int dirs = 0;
    for (auto &e : fs::directory_iterator(root)) {
        if (!e.is_directory() || !is_persistent_dir(e.path().string())) continue;
        ++dirs;
        std::string dir = e.path().string(), name = e.path().filename().string();
        SCOPED_TRACE(name);
        auto before = tree_hash(dir);
        if (name == kDamaged) {
            try {
                read_all(dir, false);
                ADD_FAILURE() << "damaged fixture accepted";
            } catch (const DataError &ex) {
                std::string m = ex.what();
                EXPECT_NE(m.find("HNSW segment folder 3a5b912e-9b8d-4411-9261-fa2e4de21e2d is missing"), std::string::npos) << m;
                EXPECT_NE(m.find("1000 of 1000 records have no vector"), std::string::npos) << m;
                EXPECT_NE(m.find("'id0', 'id1', 'id10'"), std::string::npos) << m;
                EXPECT_NE(m.find("1 of them still have a vector"), std::string::npos) << m;
            }
            // inspect works without throwing.
            auto src = open_persistent_source(dir, {});
            auto infos = dynamic_cast<PersistentSource &>(*src).inspect_collections();
            ASSERT_EQ(infos.size(), 1u);
            EXPECT_EQ(infos[0].details["status"], "damaged");
            EXPECT_EQ(infos[0].details["unrecoverable_ids"].size(), 1000u);
            EXPECT_EQ(infos[0].record_count, 1000u);
            // Salvage: exactly the one vector the WAL still holds.
            Dump d = read_all(dir, true);
            ASSERT_EQ(d.infos.size(), 1u);
            EXPECT_EQ(d.infos[0].record_count, 1u);
            EXPECT_EQ(d.infos[0].details["unrecoverable_ids"].size(), 999u);
            EXPECT_EQ(d.infos[0].details["salvaged_ids"], nlohmann::ordered_json::array({"id999"}));
            ASSERT_EQ(d.ids[d.infos[0].id], std::vector<std::string>{"id999"});
        } else {
            Dump d = read_all(dir, false);
            for (auto &c : d.infos) {
                SCOPED_TRACE(c.name);
                EXPECT_EQ(c.details["status"], "ok");
                EXPECT_FALSE(c.diagnostics.damaged());
                EXPECT_EQ(int64_t(c.record_count), independent_count(dir, c.id));
                EXPECT_EQ(d.ids[c.id].size(), c.record_count);
                std::set<std::string> uniq(d.ids[c.id].begin(), d.ids[c.id].end());
                EXPECT_EQ(uniq.size(), d.ids[c.id].size());
                for (auto &v : d.vecs[c.id]) ASSERT_EQ(v.size(), c.dimension.value_or(0));
            }
        }
        EXPECT_EQ(before, tree_hash(dir)) << "fixture bytes changed";
    }
    EXPECT_EQ(dirs, 16);
}

TEST(PersistentSource, FixtureFacts) {
    fs::path root = fixtures();
    ASSERT_FIXTURES();
    {
        Dump d = read_all((root / "v1.5__1999Rajesh__Groww_Mutual_Funds__chroma_db").string(), false);
        ASSERT_EQ(d.infos.size(), 1u);
        auto &c = d.infos[0];
        EXPECT_EQ(c.space, Space::cosine);
        EXPECT_EQ(c.details["era"], "1.5+");
        EXPECT_EQ(c.dimension, 384u);
        EXPECT_EQ(d.ids[c.id], (std::vector<std::string>{"chunk_0", "chunk_1", "chunk_2", "chunk_3", "chunk_4", "chunk_5"}));
        EXPECT_EQ(c.details["space_source"], "schema_str");
        bool orphan_warned = false;
        for (auto &w : c.warnings) orphan_warned |= w.find("5 orphan segment folder(s)") != std::string::npos;
        EXPECT_TRUE(orphan_warned);
        auto &b = d.batches[c.id][0];
        ASSERT_TRUE(b.documents[0]);
        EXPECT_EQ(*b.documents[0], "HDFC ELSS Tax Saver Fund has a lock-in period of 3 years from the date of investment.");
        bool has_chunk_type = false;
        for (auto &[k, v] : b.metadatas[0]) has_chunk_type |= k == "chunk_type" && std::get<std::string>(v) == "lock_in_exit";
        EXPECT_TRUE(has_chunk_type);
    }
    {
        // Flushed 0.6.3 index: vectors come from data_level0.bin; the one WAL row (already applied)
        // holds the same vector as the index, bit for bit.
        std::string dir = (root / "v0.6.3__ironhack-labs__lab-langchain-med__chroma_persist").string();
        Dump d = read_all(dir, false, 1000);
        auto &c = d.infos[0];
        EXPECT_EQ(c.details["vectors_from_hnsw"], 1000);
        EXPECT_EQ(c.details["vectors_from_wal"], 0);
        Sql s(dir + "/chroma.sqlite3");
        sqlite3_stmt *st = nullptr;
        sqlite3_prepare_v2(s.db, "SELECT id, vector FROM embeddings_queue", -1, &st, nullptr);
        ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
        std::string wid = reinterpret_cast<const char *>(sqlite3_column_text(st, 0));
        std::vector<float> wv(size_t(sqlite3_column_bytes(st, 1)) / 4);
        std::memcpy(wv.data(), sqlite3_column_blob(st, 1), wv.size() * 4);
        sqlite3_finalize(st);
        auto &ids = d.ids[c.id];
        auto it = std::find(ids.begin(), ids.end(), wid);
        ASSERT_NE(it, ids.end());
        EXPECT_EQ(0, std::memcmp(d.vecs[c.id][size_t(it - ids.begin())].data(), wv.data(), wv.size() * 4));
    }
    {
        // Typed metadata (ints stay ints) and the 1.3 schema_str space.
        Dump d = read_all((root / "v1.3__AbhiSree06__RBAC-Chatbot__vector_db").string(), false);
        auto &b = d.batches[d.infos[0].id][0];
        bool saw_int = false;
        for (auto &[k, v] : b.metadatas[0]) saw_int |= k == "chunk_index" && std::holds_alternative<int64_t>(v);
        EXPECT_TRUE(saw_int);
        EXPECT_EQ(d.infos[0].space, Space::cosine);
    }
}

// Both reads yield the same records, in the same order, with the same metadata (key order too).
void expect_same(const Dump &a, const Dump &b) {
    ASSERT_EQ(a.ids, b.ids);
    EXPECT_EQ(a.vecs, b.vecs);
    for (auto &[cid, batches] : a.batches) {
        const auto &other = b.batches.at(cid);
        ASSERT_EQ(batches.size(), other.size()) << cid;
        for (size_t i = 0; i < batches.size(); ++i)
            for (size_t j = 0; j < batches[i].size(); ++j) {
                const std::string &id = batches[i].ids[j];
                ASSERT_EQ(batches[i].metadatas[j], other[i].metadatas[j]) << cid << " " << id;
                ASSERT_EQ(batches[i].documents[j], other[i].documents[j]) << cid << " " << id;
                ASSERT_EQ(batches[i].uris[j], other[i].uris[j]) << cid << " " << id;
            }
    }
}

using Rec = std::tuple<std::string, std::vector<float>, Metadata, std::optional<std::string>, std::optional<std::string>>;

std::vector<Rec> records_of(const Dump &d, const std::string &cid) {
    std::vector<Rec> out;
    auto it = d.batches.find(cid);
    if (it == d.batches.end()) return out;
    for (const auto &b : it->second)
        for (size_t j = 0; j < b.size(); ++j)
            out.emplace_back(b.ids[j], std::vector<float>(b.embedding(j), b.embedding(j) + b.dim), b.metadatas[j], b.documents[j],
                             b.uris[j]);
    return out;
}

// A range further on passes over its first records without reading them (a migrate worker's range):
// every range yields exactly that slice of the whole read, in order.
void expect_ranges_are_slices(const std::string &dir, bool salvage) {
    const Dump all = read_all(dir, salvage);
    SourceOptions o;
    o.salvage = salvage;
    auto src = open_persistent_source(dir, o);
    for (const auto &c : src->list_collections()) {
        SCOPED_TRACE(c.name);
        const std::vector<Rec> whole = records_of(all, c.id);
        const uint64_t n = whole.size();
        ASSERT_EQ(n, c.record_count);
        for (uint64_t start : {uint64_t(1), uint64_t(7), n / 2, n > 0 ? n - 1 : 0, n, n + 3})
            for (uint64_t count : {uint64_t(3), uint64_t(6000), kToTheEnd}) {
                SCOPED_TRACE(fmt::format("[{}, +{})", start, count));
                const Dump d = dump(*src, {c}, 5, count, start);
                const uint64_t from = std::min(start, n), to = count == kToTheEnd ? n : std::min(n, start + count);
                ASSERT_EQ(records_of(d, c.id), std::vector<Rec>(whole.begin() + long(from), whole.begin() + long(to)));
            }
    }
}

// fn(dir) for each fixture directory that reads (all but the damaged one), traced by its name.
template <class F> void each_readable_fixture(F &&fn) {
    for (auto &e : fs::directory_iterator(fixtures())) {
        std::string name = e.path().filename().string();
        if (!e.is_directory() || !is_persistent_dir(e.path().string()) || name == kDamaged) continue;
        SCOPED_TRACE(name);
        fn(e.path().string());
    }
}

// Each record of `head` equals the record at its position in `all`.
void expect_head_of(const Dump &head, const Dump &all, uint64_t n) {
    for (const auto &[cid, ids] : all.ids) {
        SCOPED_TRACE(cid);
        const auto it = head.ids.find(cid);
        const std::vector<std::string> none;
        const auto &hids = it == head.ids.end() ? none : it->second;
        ASSERT_EQ(hids.size(), std::min<size_t>(n, ids.size()));
        ASSERT_TRUE(std::equal(hids.begin(), hids.end(), ids.begin()));
        std::vector<std::tuple<Metadata, std::optional<std::string>, std::optional<std::string>>> a, b;
        for (const auto *d : {&head, &all})
            for (const auto &batch : d->batches.at(cid))
                for (size_t j = 0; j < batch.size(); ++j)
                    (d == &head ? a : b).emplace_back(batch.metadatas[j], batch.documents[j], batch.uris[j]);
        b.resize(a.size());
        ASSERT_EQ(a, b);
        ASSERT_TRUE(std::equal(head.vecs.at(cid).begin(), head.vecs.at(cid).end(), all.vecs.at(cid).begin()));
    }
}

// A sample's read (the first records, each record's metadata looked up) gives what a whole read
// gives for them, with metadata arrays, WAL overrides and rows out of id order.
TEST(PersistentSource, HeadReadsLookMetadataUp) {
    ASSERT_FIXTURES();
    each_readable_fixture([](const std::string &dir) {
        const Dump all = read_all(dir, false);
        for (uint64_t n : {1, 20, 5000}) expect_head_of(read_all(dir, false, 7, false, n), all, n);
    });
}

// Big collections are read by scanning `embeddings` and `embedding_metadata` in rowid order,
// small ones by rowid lookups: both give the same records. The open-webui fixture mixes six
// collections (both kinds, their metadata rows interleaved).
TEST(PersistentSource, TableScansEqualRowidLookups) {
    ASSERT_FIXTURES();
    each_readable_fixture([](const std::string &dir) { expect_same(read_all(dir, false), read_all(dir, false, 7, true)); });
}

// After an update Chroma re-inserts a record's metadata rows at the end of the table: the rows
// are no longer in id order and a plain scan would miss them, so the reader must look them up.
TEST(PersistentSource, MetadataRowsOutOfIdOrder) {
    ASSERT_FIXTURES();
    fs::path dir = copy_fixture("v0.4.15__britster03__open-webui-latest__backend_data_vector_db");
    Dump before = read_all(dir.string(), false);
    {
        Sql s(dir.string() + "/chroma.sqlite3", true);
        // The biggest collection's first record: its rows move to the end, values unchanged.
        int64_t id = s.scalar("SELECT min(id) FROM embeddings WHERE segment_id = (SELECT segment_id FROM embeddings "
                              "GROUP BY segment_id ORDER BY count(*) DESC LIMIT 1)");
        ASSERT_GT(s.scalar("SELECT count(*) FROM embedding_metadata WHERE id = " + std::to_string(id)), 0);
        std::string moved = "CREATE TEMP TABLE moved AS SELECT * FROM embedding_metadata WHERE id = " + std::to_string(id) + "; " +
                            "DELETE FROM embedding_metadata WHERE id = " + std::to_string(id) + "; " +
                            "INSERT INTO embedding_metadata SELECT * FROM moved;";
        ASSERT_EQ(sqlite3_exec(s.db, moved.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(s.db);
        ASSERT_GT(s.scalar("SELECT min(rowid) FROM embedding_metadata WHERE id = " + std::to_string(id)),
                  s.scalar("SELECT max(rowid) FROM embedding_metadata WHERE id > " + std::to_string(id)));
    }
    expect_same(before, read_all(dir.string(), false));
    expect_same(before, read_all(dir.string(), false, 7, true));
    expect_head_of(read_all(dir.string(), false, 7, false, 5000), before, 5000);
    fs::remove_all(dir);
}

TEST(PersistentSource, RangesAreSlicesOfTheWholeRead) {
    ASSERT_FIXTURES();
    each_readable_fixture([](const std::string &dir) { expect_ranges_are_slices(dir, false); });
}

// A migrate's workers read share()d handles: the snapshot the first handle took (a directory changed
// since is not seen, so every range of a collection reads one state), through connections of their own,
// on threads of their own at once.
TEST(PersistentSource, SharedHandlesReadOneSnapshot) {
    ASSERT_FIXTURES();
    fs::path dir = copy_fixture("v0.4.15__britster03__open-webui-latest__backend_data_vector_db");
    const Dump before = read_all(dir.string(), false);
    SourceOptions o;
    o.readers = 2;
    auto src = open_persistent_source(dir.string(), o);
    auto infos = src->list_collections();
    {
        Sql s(dir.string() + "/chroma.sqlite3", true);
        ASSERT_EQ(sqlite3_exec(s.db, "UPDATE embedding_metadata SET string_value = 'changed after the open' WHERE string_value IS NOT NULL",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        ASSERT_GT(sqlite3_changes(s.db), 0);
    }
    const Dump after = read_all(dir.string(), false);
    ASSERT_EQ(after.ids, before.ids);
    bool changed = false;
    for (auto &[cid, batches] : after.batches)
        for (size_t i = 0; i < batches.size(); ++i) changed |= batches[i].metadatas != before.batches.at(cid)[i].metadatas ||
                                                                batches[i].documents != before.batches.at(cid)[i].documents;
    ASSERT_TRUE(changed) << "a fresh open must see the change";

    auto worker = src->share();
    ASSERT_TRUE(worker);
    Dump mine, theirs;
    std::thread t([&] { theirs = dump(*worker, infos); });
    mine = dump(*src, infos);
    t.join();
    expect_same(before, mine);
    expect_same(before, theirs);

    // Two connections: a third reader at once is a programming error, said as such; one handed back serves again.
    auto third = src->share();
    EXPECT_THROW(third->read(infos.front(), 10), std::logic_error);
    worker.reset();
    third = src->share();
    expect_same(before, dump(*third, infos));
    fs::remove_all(dir);
}

class DamagedCopy : public ::testing::Test {
protected:
    fs::path dir;
    const std::string seg = "e958bfb6-5569-49cc-bead-c6a1706aa306";
    void SetUp() override {
        ASSERT_FIXTURES();
        dir = copy_fixture("v0.6.3__ironhack-labs__lab-langchain-med__chroma_persist");
    }
    void TearDown() override {
        if (!dir.empty()) fs::remove_all(dir);
    }
    std::string list_error() {
        try {
            open_persistent_source(dir.string(), {})->list_collections();
        } catch (const DataError &e) {
            return e.what();
        }
        return "";
    }
};

TEST_F(DamagedCopy, TruncatedDataLevel0) {
    fs::resize_file(dir / seg / "data_level0.bin", 1676 * 600 + 10);
    std::string e = list_error();
    EXPECT_NE(e.find("data_level0.bin truncated: expected 1676000 bytes for 1000 elements, found 1005610"), std::string::npos) << e;
    EXPECT_NE(e.find("400 ids of index_metadata.pickle have no live element"), std::string::npos) << e;
    Dump d = read_all(dir.string(), true);
    auto &c = d.infos[0];
    // 600 from the index + the one the WAL still holds (id999 at seq 1000).
    EXPECT_EQ(c.record_count, 601u);
    EXPECT_EQ(d.ids[c.id].size(), 601u);
    EXPECT_EQ(c.details["unrecoverable_ids"].size(), 399u);
    EXPECT_EQ(c.details["salvaged_ids"].size(), 1u);
}

TEST_F(DamagedCopy, TruncatedPickle) {
    fs::resize_file(dir / seg / "index_metadata.pickle", 5000);
    std::string e = list_error();
    EXPECT_NE(e.find(seg + "/index_metadata.pickle: pickle truncated at offset"), std::string::npos) << e;
    EXPECT_NE(e.find("1000 of 1000 records have no vector"), std::string::npos) << e;
}

TEST_F(DamagedCopy, MissingDataLevel0) {
    fs::remove(dir / seg / "data_level0.bin");
    std::string e = list_error();
    EXPECT_NE(e.find(seg + "/data_level0.bin is missing; header.bin says it holds 1000 elements"), std::string::npos) << e;
}

TEST_F(DamagedCopy, VectorWithoutRecordAndRecordWithoutVector) {
    {
        Sql s((dir / "chroma.sqlite3").string(), true);
        s.exec("DELETE FROM embedding_metadata WHERE id IN (SELECT id FROM embeddings WHERE embedding_id = 'id5')");
        s.exec("DELETE FROM embeddings WHERE embedding_id = 'id5'");
        s.exec("INSERT INTO embeddings (segment_id, embedding_id, seq_id) SELECT segment_id, 'ghost', seq_id FROM embeddings LIMIT 1");
    }
    std::string e = list_error();
    EXPECT_NE(e.find("1 vectors have no record in the metadata segment (not exported): 'id5'"), std::string::npos) << e;
    EXPECT_NE(e.find("1 of 1000 records have no vector"), std::string::npos) << e;
    EXPECT_NE(e.find("'ghost'"), std::string::npos) << e;
    Dump d = read_all(dir.string(), true);
    EXPECT_EQ(d.infos[0].record_count, 999u);
    EXPECT_EQ(d.infos[0].details["unrecoverable_ids"], nlohmann::ordered_json::array({"ghost"}));
}

// An unrecoverable record early in the collection (its row's id has no vector): salvage drops it, and a
// range that starts after it passes over it without counting it.
TEST_F(DamagedCopy, RangesPassOverUnrecoverableRecords) {
    {
        Sql s((dir / "chroma.sqlite3").string(), true);
        s.exec("UPDATE embeddings SET embedding_id = 'ghost' WHERE embedding_id = 'id5'");
    }
    Dump d = read_all(dir.string(), true);
    ASSERT_EQ(d.infos[0].details["unrecoverable_ids"], nlohmann::ordered_json::array({"ghost"}));
    ASSERT_LT(std::find(d.ids.begin()->second.begin(), d.ids.begin()->second.end(), "id6") - d.ids.begin()->second.begin(), 10);
    expect_ranges_are_slices(dir.string(), true);
}

TEST_F(DamagedCopy, WalReplayAboveMaxSeq) {
    // Append WAL rows above the segments' max seq id: update id1's metadata (null deletes a key),
    // delete id2, add new id "n1", upsert id3 with a new vector, re-add existing id4 (ignored).
    {
        Sql s((dir / "chroma.sqlite3").string(), true);
        std::string topic = "persistent://default/default/29ac51bc-2a7e-479e-ad48-aa2c2657a79f";
        std::string vec = "X'" + std::string(384 * 8, '0') + "'";
        std::string vec1 = "X'";
        for (int i = 0; i < 384; ++i) vec1 += "0000803f"; // 1.0f
        vec1 += "'";
        s.exec("INSERT INTO embeddings_queue (seq_id, operation, topic, id, vector, encoding, metadata) VALUES "
               "(2001, 1, '" + topic + "', 'id1', NULL, NULL, '{\"topic\": null, \"n\": 2, \"f\": 2.0, \"b\": true}'),"
               "(2002, 3, '" + topic + "', 'id2', NULL, NULL, NULL),"
               "(2003, 0, '" + topic + "', 'n1', " + vec + ", 'FLOAT32', '{\"chroma:document\": \"new doc\"}'),"
               "(2004, 2, '" + topic + "', 'id3', " + vec1 + ", 'FLOAT32', '{\"chroma:uri\": \"u://3\"}'),"
               "(2005, 0, '" + topic + "', 'id4', " + vec + ", 'FLOAT32', '{\"x\": 1}')");
    }
    Dump d = read_all(dir.string(), false, 1000);
    auto &c = d.infos[0];
    EXPECT_EQ(c.record_count, 1000u); // -id2 +n1
    auto &ids = d.ids[c.id];
    EXPECT_EQ(std::count(ids.begin(), ids.end(), "id2"), 0);
    EXPECT_EQ(ids.back(), "n1");
    std::map<std::string, std::pair<const RecordBatch *, size_t>> at;
    for (auto &b : d.batches[c.id])
        for (size_t i = 0; i < b.size(); ++i) at[b.ids[i]] = {&b, i};
    auto [b1, i1] = at["id1"];
    Metadata expect_id1;
    bool has_topic = false, n_int = false, f_double = false, b_bool = false;
    for (auto &[k, v] : b1->metadatas[i1]) {
        has_topic |= k == "topic";
        n_int |= k == "n" && std::holds_alternative<int64_t>(v);
        f_double |= k == "f" && std::holds_alternative<double>(v);
        b_bool |= k == "b" && std::holds_alternative<bool>(v);
    }
    EXPECT_FALSE(has_topic);
    EXPECT_TRUE(n_int && f_double && b_bool);
    EXPECT_TRUE(b1->documents[i1]); // the document is kept by a metadata update
    auto [bn, in] = at["n1"];
    EXPECT_EQ(bn->documents[in], std::optional<std::string>("new doc"));
    auto [b3, i3] = at["id3"];
    EXPECT_EQ(b3->uris[i3], std::optional<std::string>("u://3"));
    EXPECT_EQ(b3->embedding(i3)[0], 1.0f);
    auto [b4, i4] = at["id4"];
    EXPECT_NE(b4->embedding(i4)[0], 0.0f); // the duplicate ADD was ignored
    EXPECT_EQ(c.details["vectors_from_wal"], 2);
    expect_ranges_are_slices(dir.string(), false);
}

// A label that two live elements of data_level0.bin carry (damage: hnswlib keeps one element per
// label): the id's vector cannot be known from the index. It comes from the write-ahead log when the
// log still holds it (id999 here), else the record is unrecoverable; no id gets another's vector.
TEST_F(DamagedCopy, DuplicatedLabelNeverGivesAnotherIdsVector) {
    Dump want = read_all(dir.string(), false, 1000);
    std::map<std::string, std::vector<float>> true_vec;
    {
        auto &c = want.infos[0];
        for (size_t i = 0; i < want.ids[c.id].size(); ++i) true_vec[want.ids[c.id][i]] = want.vecs[c.id][i];
    }
    fs::path data = dir / seg / "data_level0.bin";
    std::vector<uint8_t> hb(hnsw::kHeaderSize);
    {
        std::ifstream hf(dir / seg / "header.bin", std::ios::binary);
        hf.read(reinterpret_cast<char *>(hb.data()), std::streamsize(hb.size()));
    }
    hnsw::Header h = hnsw::parse_header(hb.data(), hb.size(), "test");
    std::ifstream pf(dir / seg / "index_metadata.pickle", std::ios::binary);
    std::vector<uint8_t> pb((std::istreambuf_iterator<char>(pf)), std::istreambuf_iterator<char>());
    auto pk = unpickle::read_index_metadata(pb.data(), pb.size(), "test");
    std::fstream f(data, std::ios::binary | std::ios::in | std::ios::out);
    auto label_at = [&](uint64_t el) {
        uint64_t l = 0;
        f.seekg(std::streamoff(h.offset_level0 + el * h.size_data_per_element + h.label_offset));
        f.read(reinterpret_cast<char *>(&l), 8);
        return l;
    };
    auto id_of = [&](uint64_t label) { return std::string(pk.find_label(label)->id); };
    auto element_of = [&](const std::string &id) {
        for (uint64_t el = 0; el < h.cur_element_count; ++el)
            if (id_of(label_at(el)) == id) return el;
        ADD_FAILURE() << id << " has no element";
        return uint64_t(0);
    };
    auto copy_label = [&](uint64_t from, uint64_t to) {
        uint64_t l = label_at(from);
        f.seekp(std::streamoff(h.offset_level0 + to * h.size_data_per_element + h.label_offset));
        f.write(reinterpret_cast<const char *>(&l), 8);
    };
    // id999 (its vector also in the WAL) now labels a second element, id5's; id7 labels id8's element.
    uint64_t e999 = element_of("id999"), e5 = element_of("id5"), e7 = element_of("id7"), e8 = element_of("id8");
    copy_label(e999, e5);
    copy_label(e7, e8);
    f.close();

    std::string e = list_error();
    EXPECT_NE(e.find("2 ids of index_metadata.pickle have a label that two or more live elements of data_level0.bin "
                     "carry"), std::string::npos) << e;
    EXPECT_NE(e.find("'id7', 'id999'"), std::string::npos) << e;

    Dump d = read_all(dir.string(), true, 1000);
    auto &c = d.infos[0];
    EXPECT_EQ(c.record_count, 997u);
    EXPECT_EQ(c.details["unrecoverable_ids"], nlohmann::ordered_json::array({"id5", "id7", "id8"}));
    EXPECT_EQ(c.details["salvaged_ids"], nlohmann::ordered_json::array({"id999"}));
    bool named = false;
    for (auto &dm : c.details["damage"])
        named |= dm["kind"] == "label_duplicated" && dm["ids"] == nlohmann::ordered_json::array({"id7", "id999"});
    EXPECT_TRUE(named) << c.details["damage"].dump();
    // The typed diagnostics say the same as the details inspect --json prints.
    EXPECT_TRUE(c.diagnostics.damaged());
    EXPECT_EQ(c.diagnostics.unrecoverable_ids, (std::vector<std::string>{"id5", "id7", "id8"}));
    EXPECT_EQ(c.diagnostics.salvaged_ids, std::vector<std::string>{"id999"});
    EXPECT_EQ(c.diagnostics.damage_json(), c.details["damage"]);
    EXPECT_EQ(c.details["status"], c.diagnostics.status());
    auto &ids = d.ids[c.id];
    ASSERT_EQ(ids.size(), 997u);
    for (size_t i = 0; i < ids.size(); ++i)
        EXPECT_EQ(d.vecs[c.id][i], true_vec[ids[i]]) << "record " << ids[i] << " got another vector";
}

TEST(PersistentSource, ConfigurationInTheApiForm) {
    using c2p::persistent::api_configuration;
    auto stored = nlohmann::ordered_json::parse(
        R"({"vector_index":{"hnsw":{"space":"cosine","ef_search":100}},"embedding_function":{"type":"legacy"}})");
    auto api = api_configuration(stored);
    EXPECT_EQ(api["hnsw"]["space"], "cosine");
    EXPECT_TRUE(api["spann"].is_null());
    EXPECT_EQ(api["embedding_function"]["type"], "legacy");
    EXPECT_FALSE(api.contains("vector_index"));
    auto old = nlohmann::ordered_json::parse(R"({"hnsw_configuration":{"space":"ip"}})");
    EXPECT_EQ(api_configuration(old), old); // 0.5.4–0.6: as stored
    EXPECT_TRUE(api_configuration(nullptr).is_null());
}
