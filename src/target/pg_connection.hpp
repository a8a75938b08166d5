// A libpq connection with errors that name the SQLSTATE and never the password.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <libpq-fe.h>

#include "util/error.hpp"

namespace c2p {

// How long PostgreSQL may keep chroma2pg waiting (--pg-timeout, --pg-connect-wait; docs/exit-codes.md).
struct PgSettings {
    // Silence tolerated mid-statement or mid-COPY before the server counts as hung; 0 waits forever.
    // A statement marked long (PgConnection::Patience) waits on while a second session can see it run.
    int timeout_seconds = 120;
    // libpq connect_timeout unless the connection string or PGCONNECT_TIMEOUT sets one.
    int connect_timeout_seconds = 10;
    // A server that refuses connections or is starting up is retried with backoff this long in all
    // (a compose file starts the database and chroma2pg together).
    int connect_wait_seconds = 60;
};
PgSettings &pg_settings();

// The session died (server restart, network): a fresh connection may succeed; retried with backoff.
struct PgConnectionLost : EnvError {
    explicit PgConnectionLost(const std::string &msg) : EnvError(msg) {}
};
// The server refused for a cause outside the data (disk or tablespace full, a missing privilege): retrying
// cannot help, so it is not retried; the message names the fix.
struct PgRefused : EnvError {
    explicit PgRefused(const std::string &msg) : EnvError(msg, false) {}
};
// The server stopped answering for --pg-timeout seconds: not retried, so a hung server fails in bounded time.
struct PgUnresponsive : EnvError {
    explicit PgUnresponsive(const std::string &msg) : EnvError(msg, false) {}
};

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
    bool ok() const { return !unresponsive_ && PQstatus(conn_) == CONNECTION_OK; }

    // While alive, a silent server is not hung as long as a second session sees this one's statement
    // still active (index builds, full-table scans): checked every --pg-timeout seconds.
    class Patience {
    public:
        explicit Patience(PgConnection &pg) : pg_(pg) { ++pg_.patience_; }
        ~Patience() { --pg_.patience_; }
        Patience(const Patience &) = delete;
        Patience &operator=(const Patience &) = delete;

    private:
        PgConnection &pg_;
    };
    // After a failure inside a transaction: ROLLBACK when the connection still works; never throws.
    void rollback_quietly() noexcept;
    // A sink's abort(): ends an open COPY and rolls back an open transaction; never throws.
    void abort_copy_and_transaction(bool &in_copy, bool &in_tx) noexcept;

private:
    [[noreturn]] void fail(const std::string &what, PGresult *r);
    // Waits for the socket (POLLIN and/or POLLOUT) within --pg-timeout; throws PgUnresponsive.
    void await(short events, const std::string &what);
    void flush(const std::string &what);
    // The statement's result (the first error, else the last result; a COPY state at once).
    PGresult *collect(const std::string &what);
    PGresult *run(const std::string &sql, const std::vector<std::optional<std::string>> *params);
    // A second session's view: is this one's backend still running a statement?
    bool still_running_elsewhere(int timeout_seconds) const;
    PGconn *conn_ = nullptr;
    std::string conninfo_;
    int patience_ = 0;
    bool unresponsive_ = false;
    std::string describe_;
    char *copy_out_buf_ = nullptr;
};

std::string quote_ident(const std::string &s);
std::string quote_literal(const std::string &s);
// SQLSTATE classes that mean "the connection went away, try again".
bool is_transient_sqlstate(const std::string &sqlstate);
// SQLSTATEs of the environment, not the data (exit 3): resources such as disk full (53), privileges
// (42501), operator intervention (57), system errors (58), authorization (28), a missing database (3D000).
bool is_environment_sqlstate(const std::string &sqlstate);
// For a permission error (42501): the GRANT (or ownership change) that fixes it, from the server's message.
std::string permission_hint(const std::string &message, const std::string &role, const std::string &database);

// Runs fn, and runs it again with backoff when it throws PgConnectionLost (a PostgreSQL restart), up to
// `attempts` times in all; fn must be able to start over (reconnect when its connection is not ok()).
void retry_lost_connection(const std::string &what, int attempts, const std::function<void()> &fn);

// The resolved conninfo: --to, else DATABASE_URL, else "" (libpq's PG* variables).
std::string resolve_target(const std::string &target);

} // namespace c2p
