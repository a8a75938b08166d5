#include "sources/persistent/sqlite_db.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <fstream>

#include <fmt/format.h>
#include <sqlite3.h>

#include "util/error.hpp"

namespace c2p::sqlite {

namespace fs = std::filesystem;

Stmt::Stmt(sqlite3 *db, const std::string &sql) : db_(db), sql_(sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), int(sql.size()), &st_, nullptr) != SQLITE_OK)
        throw DataError(fmt::format("chroma.sqlite3: cannot prepare query ({}): {}", sqlite3_errmsg(db), sql));
}
Stmt::Stmt(Stmt &&o) noexcept : db_(o.db_), st_(o.st_), sql_(std::move(o.sql_)) { o.st_ = nullptr; }
Stmt &Stmt::operator=(Stmt &&o) noexcept {
    if (this != &o) {
        if (st_) sqlite3_finalize(st_);
        db_ = o.db_;
        st_ = o.st_;
        sql_ = std::move(o.sql_);
        o.st_ = nullptr;
    }
    return *this;
}
Stmt::~Stmt() {
    if (st_) sqlite3_finalize(st_);
}
Stmt &Stmt::bind(int i, const std::string &v) {
    sqlite3_bind_text(st_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
}
Stmt &Stmt::bind(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
}
void Stmt::reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
}
bool Stmt::step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw DataError(fmt::format("chroma.sqlite3: query failed ({}): {}", sqlite3_errmsg(db_), sql_));
}
bool Stmt::is_null(int c) const { return sqlite3_column_type(st_, c) == SQLITE_NULL; }
int Stmt::type(int c) const { return sqlite3_column_type(st_, c); }
int64_t Stmt::i64(int c) const { return sqlite3_column_int64(st_, c); }
double Stmt::f64(int c) const { return sqlite3_column_double(st_, c); }
std::string Stmt::text(int c) const {
    const unsigned char *p = sqlite3_column_text(st_, c);
    int n = sqlite3_column_bytes(st_, c);
    return p ? std::string(reinterpret_cast<const char *>(p), size_t(n)) : std::string();
}
std::string_view Stmt::text_view(int c) const {
    const unsigned char *p = sqlite3_column_text(st_, c);
    int n = sqlite3_column_bytes(st_, c);
    return p ? std::string_view(reinterpret_cast<const char *>(p), size_t(n)) : std::string_view();
}
std::optional<std::string> Stmt::opt_text(int c) const {
    if (is_null(c)) return std::nullopt;
    return text(c);
}
std::string_view Stmt::blob(int c) const {
    const void *p = sqlite3_column_blob(st_, c);
    int n = sqlite3_column_bytes(st_, c);
    return p ? std::string_view(static_cast<const char *>(p), size_t(n)) : std::string_view();
}

Db::Db(const std::string &path, int flags, bool uri) {
    if (uri) flags |= SQLITE_OPEN_URI;
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        if (db_) sqlite3_close(db_);
        db_ = nullptr;
        throw EnvError(fmt::format("cannot open {}: {}", path, msg));
    }
    sqlite3_busy_timeout(db_, 10000);
}
Db::Db(Db &&o) noexcept : db_(o.db_) { o.db_ = nullptr; }
Db &Db::operator=(Db &&o) noexcept {
    if (this != &o) {
        if (db_) sqlite3_close(db_);
        db_ = o.db_;
        o.db_ = nullptr;
    }
    return *this;
}
Db::~Db() {
    if (db_) sqlite3_close(db_);
}
void Db::exec(const std::string &sql) const {
    char *err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string m = err ? err : "?";
        sqlite3_free(err);
        throw DataError(fmt::format("chroma.sqlite3: {}: {}", sql, m));
    }
}
bool Db::has_table(const std::string &name) const {
    Stmt s(db_, "SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?");
    s.bind(1, name);
    return s.step();
}
std::vector<std::string> Db::columns(const std::string &table) const {
    std::vector<std::string> out;
    Stmt s(db_, "SELECT name FROM pragma_table_info(?)");
    s.bind(1, table);
    while (s.step()) out.push_back(s.text(0));
    return out;
}

namespace {

std::string uri_escape(const std::string &path) {
    std::string out = "file:";
    for (unsigned char c : path) {
        if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') out += char(c);
        else out += fmt::format("%{:02X}", c);
    }
    return out;
}

void copy_file(const std::string &from, const std::string &to) {
    std::error_code ec;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec) throw EnvError(fmt::format("cannot copy {} to {}: {}", from, to, ec.message()));
}

} // namespace

Snapshot::Snapshot(const std::string &db_path, const std::function<void(const Db &)> &at_snapshot, size_t readers) {
    uint8_t hdr[100] = {};
    {
        std::ifstream f(db_path, std::ios::binary);
        if (!f) throw EnvError(fmt::format("cannot open {}: {}", db_path, std::strerror(errno)));
        f.read(reinterpret_cast<char *>(hdr), sizeof hdr);
        if (f.gcount() < 100 || std::memcmp(hdr, "SQLite format 3", 16) != 0)
            throw DataError(fmt::format("{}: not an SQLite 3 database", db_path));
    }
    wal_mode_ = hdr[18] == 2 || hdr[19] == 2;

    const char *tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/chroma2pg-snapshot-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw EnvError(fmt::format("cannot create a temporary directory {}: {}", templ, std::strerror(errno)));
    tmpdir_ = buf.data();
    std::string copy = tmpdir_ + "/chroma.sqlite3";
    try {
        if (wal_mode_) {
            copy_file(db_path, copy);
            if (fs::exists(db_path + "-wal")) copy_file(db_path + "-wal", copy + "-wal");
            // Fold the copied WAL into the copy, so it is one self-contained file.
            Db(copy, SQLITE_OPEN_READWRITE).exec("PRAGMA journal_mode = DELETE");
            method_ = "file-copy (wal mode)";
        } else {
            // Rollback-journal mode: while we hold a read transaction's SHARED lock no writer can
            // change the file, so a plain copy is consistent (and ~6x faster than the backup API).
            Db src(uri_escape(db_path) + "?mode=ro", SQLITE_OPEN_READONLY, true);
            sqlite3_busy_timeout(src.get(), 10000);
            src.exec("BEGIN");
            src.exec("SELECT count(*) FROM sqlite_master");
            if (at_snapshot) {
                // The copy and the caller's first reads see the state this lock holds, side by side.
                auto copying = std::async(std::launch::async, [&] { copy_file(db_path, copy); });
                at_snapshot(src); // on a throw, `copying` is waited for before the lock is let go
                copying.get();
            } else {
                copy_file(db_path, copy);
            }
            src.exec("COMMIT");
            method_ = "file-copy under a read lock";
        }
        // One thread at a time uses each connection, so none needs a mutex; serialized mode took a
        // lock in every column accessor.
        for (size_t i = 0; i < std::max<size_t>(readers, 1); ++i) {
            Db &db = readers_.emplace_back(copy, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
            db.exec("PRAGMA query_only = 1");
            db.exec("SELECT count(*) FROM sqlite_master");
        }
        aux_ = Db(copy, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
        aux_.exec("PRAGMA query_only = 1");
        // The open file outlives its name: nothing is left behind even if we are killed.
        // Safe because nothing ever writes to it (no journal is needed).
        std::error_code ec;
        fs::remove_all(tmpdir_, ec);
        tmpdir_.clear();
        if (wal_mode_ && at_snapshot) at_snapshot(readers_[0]);
    } catch (...) {
        aux_ = Db();
        readers_.clear();
        std::error_code ec;
        fs::remove_all(tmpdir_, ec);
        throw;
    }
}

Snapshot::~Snapshot() {
    readers_.clear();
    std::error_code ec;
    if (!tmpdir_.empty()) fs::remove_all(tmpdir_, ec);
}

uint64_t seq_id_of(const Stmt &s, int col, const std::string &what) {
    int t = s.type(col);
    if (t == SQLITE_INTEGER) {
        int64_t v = s.i64(col);
        if (v < 0) throw DataError(fmt::format("{}: negative seq_id {}", what, v));
        return uint64_t(v);
    }
    if (t == SQLITE_BLOB) {
        std::string_view b = s.blob(col);
        if (b.empty()) throw DataError(fmt::format("{}: empty seq_id blob", what));
        uint64_t v = 0;
        for (size_t i = 0; i < b.size(); ++i) {
            if (i + 8 < b.size()) {
                if (b[i] != 0) throw DataError(fmt::format("{}: seq_id blob of {} bytes exceeds 64 bits", what, b.size()));
                continue;
            }
            v = (v << 8) | uint8_t(b[i]);
        }
        return v;
    }
    throw DataError(fmt::format("{}: seq_id of unexpected SQLite type {}", what, t));
}

} // namespace c2p::sqlite
