// A libpq connection with errors that name the SQLSTATE and never the password.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <libpq-fe.h>

namespace c2p {

class CopyBinaryBuffer;

// Owns a PGresult.
class PgResult {
public:
    explicit PgResult(PGresult *r = nullptr) : r_(r, &PQclear) {}
    PGresult *get() const { return r_.get(); }
    int rows() const { return PQntuples(r_.get()); }
    bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col); }
    std::string text(int row, int col) const { return PQgetvalue(r_.get(), row, col); }
    std::optional<std::string> opt(int row, int col) const {
        if (is_null(row, col)) return std::nullopt;
        return text(row, col);
    }

private:
    std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

class PgConnection {
public:
    // `target`: conninfo or URL; empty means DATABASE_URL, else libpq's PG* variables and ~/.pgpass.
    explicit PgConnection(const std::string &target);
    ~PgConnection();
    PgConnection(const PgConnection &) = delete;
    PgConnection &operator=(const PgConnection &) = delete;

    PGconn *raw() const { return conn_; }
    // "user@host:port/db", safe to print.
    const std::string &describe() const { return describe_; }

    PgResult exec(const std::string &sql);
    PgResult exec_params(const std::string &sql, const std::vector<std::optional<std::string>> &params);
    // One-value query helper; nullopt for NULL or no row.
    std::optional<std::string> scalar(const std::string &sql, const std::vector<std::optional<std::string>> &params = {});

    // COPY ... FROM STDIN: start, send chunks, end (throws with the server's message on failure).
    void copy_in_start(const std::string &copy_sql);
    void copy_in_send(const char *data, size_t len);
    void copy_in_end();
    void copy_in_abort(const std::string &why) noexcept;
    // The same from an encoder's buffer: send what it holds and empty it; finish adds the binary
    // trailer, sends the rest and ends the COPY; copy_in_all runs a whole COPY from one buffer.
    void copy_in_send(CopyBinaryBuffer &buf);
    void copy_in_finish(CopyBinaryBuffer &buf);
    void copy_in_all(const std::string &copy_sql, CopyBinaryBuffer &buf);

    // COPY ... TO STDOUT: returns false when done. `buf` is owned by libpq until the next call.
    void copy_out_start(const std::string &copy_sql);
    bool copy_out_next(const char *&buf, int &len);

    int server_version() const { return PQserverVersion(conn_); }
    bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
    // After a failure inside a transaction: ROLLBACK when the connection still works; never throws.
    void rollback_quietly() noexcept;
    // A sink's abort(): ends an open COPY and rolls back an open transaction; never throws.
    void abort_copy_and_transaction(bool &in_copy, bool &in_tx) noexcept;

private:
    [[noreturn]] void fail(const std::string &what, PGresult *r);
    PGconn *conn_ = nullptr;
    std::string describe_;
    char *copy_out_buf_ = nullptr;
};

std::string quote_ident(const std::string &s);
std::string quote_literal(const std::string &s);
// SQLSTATE classes that mean "the connection went away, try again".
bool is_transient_sqlstate(const std::string &sqlstate);

// The resolved conninfo: --to, else DATABASE_URL, else "" (libpq's PG* variables).
std::string resolve_target(const std::string &target);

} // namespace c2p
