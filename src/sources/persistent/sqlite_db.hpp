// Minimal RAII wrappers over sqlite3 for the persistent-directory reader, and the read-only
// snapshot of chroma.sqlite3.
//
// Snapshot: Chroma may be running on the directory. Holding a read transaction open for a whole
// migration would block its writers (rollback-journal mode), so the database is copied once,
// consistently, into a private temporary file with SQLite's online backup API (source opened with
// `mode=ro`, which in rollback-journal mode never writes a byte), and every query then reads the
// copy. A database in WAL mode cannot be opened read-only without its -shm file being writable,
// so in WAL mode chroma.sqlite3 and chroma.sqlite3-wal are copied as files instead and the copy
// is opened (SQLite replays the WAL into the copy). The source directory is never written.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace c2p::sqlite {

class Stmt {
public:
    Stmt(sqlite3 *db, const std::string &sql);
    Stmt(Stmt &&o) noexcept;
    Stmt &operator=(Stmt &&o) noexcept;
    Stmt(const Stmt &) = delete;
    Stmt &operator=(const Stmt &) = delete;
    ~Stmt();

    Stmt &bind(int i, const std::string &v);
    Stmt &bind(int i, int64_t v);
    void reset();
    bool step(); // true while a row is available
    bool is_null(int c) const;
    int type(int c) const; // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL
    int64_t i64(int c) const;
    double f64(int c) const;
    std::string text(int c) const;
    std::string_view text_view(int c) const; // valid until the next step() or reset()
    std::optional<std::string> opt_text(int c) const;
    std::string_view blob(int c) const;

private:
    sqlite3 *db_ = nullptr;
    sqlite3_stmt *st_ = nullptr;
    std::string sql_;
};

class Db {
public:
    Db() = default;
    // Opens `path` (an ordinary file name) with the given sqlite3_open_v2 flags.
    Db(const std::string &path, int flags, bool uri = false);
    Db(Db &&o) noexcept;
    Db &operator=(Db &&o) noexcept;
    Db(const Db &) = delete;
    Db &operator=(const Db &) = delete;
    ~Db();
    sqlite3 *get() const { return db_; }
    Stmt prepare(const std::string &sql) const { return Stmt(db_, sql); }
    void exec(const std::string &sql) const;
    bool has_table(const std::string &name) const;
    std::vector<std::string> columns(const std::string &table) const;

private:
    sqlite3 *db_ = nullptr;
};

// A private, consistent copy of a Chroma database, opened read-only and unlinked at once
// (it lives until closed; a killed run leaves nothing in the temporary directory). Each of its
// connections must not be used by two threads at the same time; since the copy has no name once
// unlinked, every connection is opened up front.
class Snapshot {
public:
    // Throws EnvError when the file cannot be opened or copied. `at_snapshot`, when given, is called once
    // with a connection that sees the snapshot's state, as early as possible: in rollback-journal mode
    // on the source itself, under the read lock, while the copy is made on another thread; in WAL mode
    // on the copy. It must only read, and keep nothing of the connection. `readers`: how many threads
    // will read the copy at once (db(0) .. db(readers - 1)), besides aux_db().
    explicit Snapshot(const std::string &db_path, const std::function<void(const Db &)> &at_snapshot = {}, size_t readers = 1);
    ~Snapshot();
    Snapshot(const Snapshot &) = delete;
    Snapshot &operator=(const Snapshot &) = delete;
    const Db &db(size_t reader = 0) const { return readers_.at(reader); }
    size_t readers() const { return readers_.size(); }
    // A second connection to the same copy, for work on another thread alongside db().
    const Db &aux_db() const { return aux_; }
    bool wal_mode() const { return wal_mode_; }
    const std::string &method() const { return method_; } // "file-copy under a read lock" or "file-copy (wal mode)"

private:
    std::string tmpdir_;
    std::vector<Db> readers_;
    Db aux_;
    bool wal_mode_ = false;
    std::string method_;
};

// Decodes a Chroma seq_id cell: INTEGER, or a big-endian BLOB (8 bytes, or wider with zero
// leading bytes). Throws DataError on anything else.
uint64_t seq_id_of(const Stmt &s, int col, const std::string &what);

} // namespace c2p::sqlite
