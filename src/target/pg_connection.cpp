#include "target/pg_connection.hpp"

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "target/copy_binary.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {

PgSettings &pg_settings() {
    static PgSettings s;
    return s;
}

std::string resolve_target(const std::string &target) {
    if (!target.empty()) return target;
    if (const char *u = std::getenv("DATABASE_URL"); u && *u) return u;
    // Nothing said where: libpq would try the local socket as the current OS user, and its error
    // would not tell a new user what was missing.
    static constexpr const char *kPgVars[] = {"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"};
    for (const char *v : kPgVars)
        if (const char *e = std::getenv(v); e && *e) return "";
    throw UsageError("no PostgreSQL target: --to is not given and none of CHROMA2PG_TO, DATABASE_URL, PGHOST, PGHOSTADDR, "
                     "PGPORT, PGDATABASE, PGUSER, PGSERVICE is set; pass e.g. --to postgresql://USER@HOST:5432/DBNAME "
                     "(password from PGPASSWORD or ~/.pgpass), or set DATABASE_URL");
}

namespace {

std::string trimmed(std::string msg) {
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return msg;
}

// Starts a connection with chroma2pg's defaults (a connect timeout, TCP keepalives so a dead peer is
// noticed, application_name); the user's connection string overrides each, being expanded after them.
PGconn *connect_with_defaults(const std::string &conninfo, int connect_timeout) {
    std::vector<std::pair<std::string, std::string>> kv;
    if (!std::getenv("PGCONNECT_TIMEOUT") && connect_timeout > 0) kv.emplace_back("connect_timeout", std::to_string(connect_timeout));
    kv.emplace_back("keepalives", "1");
    kv.emplace_back("keepalives_idle", "30");
    kv.emplace_back("keepalives_interval", "10");
    kv.emplace_back("keepalives_count", "3");
    kv.emplace_back("fallback_application_name", "chroma2pg");
    if (!conninfo.empty()) kv.emplace_back("dbname", conninfo);
    std::vector<const char *> keys, vals;
    for (const auto &[k, v] : kv) {
        keys.push_back(k.c_str());
        vals.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    vals.push_back(nullptr);
    return PQconnectdbParams(keys.data(), vals.data(), 1);
}

// A server that is not up yet (refused, socket absent) or starting, stopping or recovering: worth waiting
// for. Not a timeout: a server that accepts and never answers is hung, not starting.
bool server_starting(const std::string &msg) {
    for (const char *s : {"Connection refused", "No such file or directory", "the database system is starting up",
                          "the database system is shutting down", "the database system is in recovery mode",
                          "the database system is not yet accepting connections", "the database system is not accepting connections"})
        if (msg.find(s) != std::string::npos) return true;
    return false;
}

// poll() on the connection's socket; false when `timeout_ms` passed without `events`.
bool wait_socket(PGconn *c, short events, int timeout_ms) {
    pollfd p{PQsocket(c), events, 0};
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        int r = ::poll(&p, 1, timeout_ms);
        if (r > 0) return true;
        if (r == 0) return false;
        if (errno != EINTR) return true; // libpq reports the socket's error on the next call
        if (timeout_ms >= 0)
            timeout_ms = int(std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    until - std::chrono::steady_clock::now()).count()));
    }
}

} // namespace

PgConnection::PgConnection(const std::string &target) : conninfo_(resolve_target(target)) {
    const auto &cfg = pg_settings();
    auto start = std::chrono::steady_clock::now();
    double delay = 0.5;
    for (int attempt = 1;; ++attempt) {
        conn_ = connect_with_defaults(conninfo_, cfg.connect_timeout_seconds);
        if (!conn_) throw EnvError("postgresql: out of memory creating a connection");
        auto field = [&](const char *v) { return std::string(v ? v : ""); };
        describe_ = field(PQuser(conn_)) + "@" + field(PQhost(conn_)) + ":" + field(PQport(conn_)) + "/" + field(PQdb(conn_));
        if (PQstatus(conn_) == CONNECTION_OK) break;
        // libpq's message never includes the password; it names host, port and the reason.
        std::string msg = trimmed(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!server_starting(msg) || waited >= cfg.connect_wait_seconds) {
            if (msg.find("timeout expired") != std::string::npos) // hung: retrying would multiply the wait
                throw PgUnresponsive("cannot connect to postgresql " + describe_ + ": " + msg +
                                     " (no answer within the connect timeout: the server is hung or a firewall drops the "
                                     "packets; set connect_timeout in the connection string to wait longer)");
            std::string waited_note = attempt > 1 ? fmt::format(" (still not accepting connections after {:.0f}s and {} "
                                                                "attempts; --pg-connect-wait waits longer)",
                                                                waited, attempt)
                                                  : "";
            throw EnvError("cannot connect to postgresql " + describe_ + ": " + msg + waited_note);
        }
        log::warn("pg_wait", fmt::format("postgresql {} is not accepting connections yet ({}); retrying in {:.1f}s",
                                         describe_, msg, delay),
                  {{"target", describe_}, {"attempt", attempt}});
        std::this_thread::sleep_for(std::chrono::duration<double>(std::min(delay, cfg.connect_wait_seconds - waited)));
        delay = std::min(delay * 2, 5.0);
    }
    PQsetNoticeProcessor(conn_, [](void *, const char *) {}, nullptr);
    // Every wait goes through poll() with a deadline (await), never a blocking libpq call.
    PQsetnonblocking(conn_, 1);
}

PgConnection::~PgConnection() {
    if (conn_) PQfinish(conn_);
}

void PgConnection::fail(const std::string &what, PGresult *r) {
    std::string msg = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    // Copied before PQclear: the field points into the result.
    const char *field = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string state = field ? field : "";
    if (r) PQclear(r);
    std::string full = "postgresql " + describe_ + ": " + what + ": " + msg;
    if (!state.empty()) full += " (SQLSTATE " + state + ")";
    if (PQstatus(conn_) != CONNECTION_OK || (!state.empty() && is_transient_sqlstate(state))) throw PgConnectionLost(full);
    if (state == "42501") {
        const char *u = PQuser(conn_), *d = PQdb(conn_);
        throw PgRefused(full + "; " + permission_hint(msg, u ? u : "", d ? d : ""));
    }
    if (state == "53100") full += "; the server's disk (or the tablespace's) is full: free space there, then rerun";
    if (is_environment_sqlstate(state)) throw PgRefused(full);
    throw DataError(full);
}

void PgConnection::await(short events, const std::string &what) {
    const int t = pg_settings().timeout_seconds;
    for (;;) {
        if (wait_socket(conn_, events, t > 0 ? t * 1000 : -1)) return;
        if (patience_ > 0 && still_running_elsewhere(t)) continue;
        unresponsive_ = true;
        throw PgUnresponsive(fmt::format("postgresql {}: no answer for {}s during {} (--pg-timeout {}): the server "
                                         "is hung, stopped or unreachable",
                                         describe_, t, what.substr(0, 200), t));
    }
}

bool PgConnection::still_running_elsewhere(int timeout_seconds) const {
    PGconn *c = connect_with_defaults(conninfo_, std::max(2, timeout_seconds));
    bool running = false;
    if (c && PQstatus(c) == CONNECTION_OK && PQsetnonblocking(c, 1) == 0 &&
        PQsendQuery(c, fmt::format("SELECT state FROM pg_stat_activity WHERE pid = {}", PQbackendPID(conn_)).c_str())) {
        bool answered = true;
        while (PQflush(c) == 1 && (answered = wait_socket(c, POLLIN | POLLOUT, timeout_seconds * 1000))) PQconsumeInput(c);
        while (answered && PQisBusy(c)) {
            answered = wait_socket(c, POLLIN, timeout_seconds * 1000);
            if (answered && !PQconsumeInput(c)) answered = false;
        }
        if (answered)
            while (PGresult *r = PQgetResult(c)) {
                if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) running = std::string(PQgetvalue(r, 0, 0)) == "active";
                PQclear(r);
            }
    }
    if (c) PQfinish(c);
    if (running) log::debug("pg_wait", "postgresql " + describe_ + ": a long statement is still running");
    return running;
}

void PgConnection::flush(const std::string &what) {
    for (;;) {
        int f = PQflush(conn_);
        if (f == 0) return;
        if (f < 0) fail(what, nullptr);
        // libpq: while the send buffer drains, read what the server sends so it can go on.
        await(POLLIN | POLLOUT, what);
        if (!PQconsumeInput(conn_)) fail(what, nullptr);
    }
}

PGresult *PgConnection::collect(const std::string &what) {
    PGresult *keep = nullptr;
    for (;;) {
        while (PQisBusy(conn_)) {
            try {
                await(POLLIN, what);
            } catch (...) {
                PQclear(keep);
                throw;
            }
            if (!PQconsumeInput(conn_)) {
                PQclear(keep);
                fail(what, nullptr);
            }
        }
        PGresult *r = PQgetResult(conn_);
        if (!r) return keep;
        auto st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
            PQclear(keep);
            return r;
        }
        if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(keep);
            keep = r;
        }
    }
}

PGresult *PgConnection::run(const std::string &sql, const std::vector<std::optional<std::string>> *params) {
    const std::string what = sql.substr(0, 200);
    int sent;
    if (params) {
        std::vector<const char *> vals;
        for (const auto &p : *params) vals.push_back(p ? p->c_str() : nullptr);
        sent = PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(vals.size()), nullptr, vals.data(), nullptr, nullptr, 0);
    } else {
        sent = PQsendQuery(conn_, sql.c_str());
    }
    if (!sent) fail(what, nullptr);
    flush(what);
    PGresult *r = collect(what);
    if (!r) fail(what, nullptr);
    return r;
}

PgResult PgConnection::exec(const std::string &sql) {
    PGresult *r = run(sql, nullptr);
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(sql.substr(0, 200), r);
    return PgResult(r);
}

PgResult PgConnection::exec_params(const std::string &sql, const std::vector<std::optional<std::string>> &params) {
    PGresult *r = run(sql, &params);
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(sql.substr(0, 200), r);
    return PgResult(r);
}

std::optional<std::string> PgConnection::scalar(const std::string &sql, const std::vector<std::optional<std::string>> &params) {
    auto r = params.empty() ? exec(sql) : exec_params(sql, params);
    if (r.rows() == 0) return std::nullopt;
    return r.opt(0, 0);
}

void PgConnection::copy_in_start(const std::string &copy_sql) {
    PGresult *r = run(copy_sql, nullptr);
    if (PQresultStatus(r) != PGRES_COPY_IN) fail(copy_sql, r);
    PQclear(r);
}

void PgConnection::copy_in_send(const char *data, size_t len) {
    for (;;) {
        int rc = PQputCopyData(conn_, data, static_cast<int>(len));
        if (rc == 1) break;
        if (rc < 0) fail("COPY send", nullptr);
        await(POLLOUT, "COPY send"); // 0: libpq's buffer is full
    }
    flush("COPY send");
}

void PgConnection::copy_in_end() {
    for (;;) {
        int rc = PQputCopyEnd(conn_, nullptr);
        if (rc == 1) break;
        if (rc < 0) fail("COPY end", nullptr);
        await(POLLOUT, "COPY end");
    }
    flush("COPY end");
    PGresult *r = collect("COPY");
    if (r && PQresultStatus(r) != PGRES_COMMAND_OK) fail("COPY", r);
    PQclear(r);
}

void PgConnection::copy_in_send(CopyBinaryBuffer &buf) {
    copy_in_send(buf.data().data(), buf.size());
    buf.clear();
}

void PgConnection::copy_in_finish(CopyBinaryBuffer &buf) {
    buf.trailer();
    copy_in_send(buf);
    copy_in_end();
}

void PgConnection::copy_in_all(const std::string &copy_sql, CopyBinaryBuffer &buf) {
    copy_in_start(copy_sql);
    copy_in_finish(buf);
}

void PgConnection::copy_in_abort(const std::string &why) noexcept {
    if (!ok()) return;
    try {
        if (PQputCopyEnd(conn_, why.c_str()) < 0) return;
        flush("COPY abort");
        PQclear(collect("COPY abort"));
    } catch (...) {
    }
}

void PgConnection::copy_out_start(const std::string &copy_sql) {
    PGresult *r = run(copy_sql, nullptr);
    if (PQresultStatus(r) != PGRES_COPY_OUT) fail(copy_sql, r);
    PQclear(r);
}

bool PgConnection::copy_out_next(const char *&buf, int &len) {
    if (copy_out_buf_) {
        PQfreemem(copy_out_buf_);
        copy_out_buf_ = nullptr;
    }
    while ((len = PQgetCopyData(conn_, &copy_out_buf_, 1)) == 0) {
        await(POLLIN, "COPY out");
        if (!PQconsumeInput(conn_)) fail("COPY out", nullptr);
    }
    if (len > 0) {
        buf = copy_out_buf_;
        return true;
    }
    if (len == -2) fail("COPY out", nullptr);
    PGresult *r = collect("COPY out");
    if (r && PQresultStatus(r) != PGRES_COMMAND_OK) fail("COPY out", r);
    PQclear(r);
    return false;
}

std::string quote_ident(const std::string &s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += "\"\"";
        else out += c;
    }
    return out + "\"";
}

std::string quote_literal(const std::string &s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "''";
        else out += c;
    }
    return out + "'";
}

bool is_transient_sqlstate(const std::string &s) {
    // 08: connection exceptions; 57P01-03: admin shutdown / crash / cannot connect now; 40001/40P01 retryable.
    return s.rfind("08", 0) == 0 || s == "57P01" || s == "57P02" || s == "57P03" || s == "40001" || s == "40P01";
}

void retry_lost_connection(const std::string &what, int attempts, const std::function<void()> &fn) {
    for (int attempt = 1;; ++attempt) {
        try {
            fn();
            return;
        } catch (const PgConnectionLost &e) {
            if (attempt >= attempts) throw EnvError(fmt::format("{}: {} (gave up after {} attempts)", what, e.what(), attempt));
            double delay = std::min(30.0, 0.5 * (1 << std::min(attempt, 6)));
            log::warn("retry", fmt::format("{}: {}; retrying it from the beginning in {:.1f}s (attempt {}/{})", what,
                                           e.what(), delay, attempt + 1, attempts),
                      {{"what", what}, {"attempt", attempt + 1}, {"reason", e.what()}});
            std::this_thread::sleep_for(std::chrono::duration<double>(delay));
        }
    }
}

bool is_environment_sqlstate(const std::string &s) {
    for (const char *cls : {"53", "57", "58", "28", "08"})
        if (s.rfind(cls, 0) == 0) return true;
    return s == "42501" || s == "3D000" || s == "55P03" || s == "55006" || s == "25006";
}

std::string permission_hint(const std::string &message, const std::string &role, const std::string &database) {
    // PostgreSQL: "permission denied for schema app", "... for database rag", "... for table t",
    // "must be owner of table t".
    auto after = [&](const std::string &prefix) -> std::optional<std::string> {
        auto at = message.find(prefix);
        if (at == std::string::npos) return std::nullopt;
        std::string rest = message.substr(at + prefix.size());
        auto end = rest.find_first_of("\n");
        return rest.substr(0, end);
    };
    const std::string r = quote_ident(role);
    if (auto s = after("permission denied for schema "))
        return fmt::format("as the schema's owner or a superuser run: GRANT USAGE, CREATE ON SCHEMA {} TO {};",
                           quote_ident(*s), r);
    if (auto d = after("permission denied for database "))
        return fmt::format("as the database's owner or a superuser run: GRANT CREATE ON DATABASE {} TO {};",
                           quote_ident(*d), r);
    for (const char *kind : {"table", "relation", "sequence", "view"})
        if (auto t = after(std::string("permission denied for ") + kind + " "))
            return fmt::format("as the table's owner or a superuser run: GRANT SELECT, INSERT, UPDATE, DELETE ON "
                               "TABLE {} TO {}; (or pass --schema with a schema this role owns)",
                               quote_ident(*t), r);
    for (const char *kind : {"table", "relation", "index", "sequence", "view", "schema"})
        if (auto t = after(std::string("must be owner of ") + kind + " "))
            return fmt::format("the {} {} belongs to another role: as a superuser run ALTER {} {} OWNER TO {}; or run "
                               "chroma2pg as its owner",
                               kind, *t, std::string(kind) == "relation" || std::string(kind) == "index" ? "TABLE" : kind,
                               quote_ident(*t), r);
    return fmt::format("role {} lacks a privilege on database {}: ask its owner for the grant the message names "
                       "(docs/exit-codes.md)",
                       r, quote_ident(database));
}

void PgConnection::rollback_quietly() noexcept {
    try {
        if (ok()) exec("ROLLBACK");
    } catch (...) {
    }
}

void PgConnection::abort_copy_and_transaction(bool &in_copy, bool &in_tx) noexcept {
    try {
        if (in_copy) copy_in_abort("chroma2pg: load aborted");
    } catch (...) {
    }
    in_copy = false;
    if (in_tx) rollback_quietly();
    in_tx = false;
}

} // namespace c2p
