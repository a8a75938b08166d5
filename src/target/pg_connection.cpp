#include "target/pg_connection.hpp"

#include <cstdlib>

#include "target/copy_binary.hpp"
#include "util/error.hpp"

namespace c2p {

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

PgConnection::PgConnection(const std::string &target) {
    std::string conninfo = resolve_target(target);
    conn_ = PQconnectdb(conninfo.c_str());
    if (!conn_) throw EnvError("postgresql: out of memory creating a connection");
    auto field = [&](const char *v) { return std::string(v ? v : ""); };
    describe_ = field(PQuser(conn_)) + "@" + field(PQhost(conn_)) + ":" + field(PQport(conn_)) + "/" + field(PQdb(conn_));
    if (PQstatus(conn_) != CONNECTION_OK) {
        // libpq's message never includes the password; it names host, port and the reason.
        std::string msg = PQerrorMessage(conn_);
        while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
        PQfinish(conn_);
        conn_ = nullptr;
        throw EnvError("cannot connect to postgresql " + describe_ + ": " + msg);
    }
    PQsetNoticeProcessor(conn_, [](void *, const char *) {}, nullptr);
}

PgConnection::~PgConnection() {
    if (conn_) PQfinish(conn_);
}

void PgConnection::fail(const std::string &what, PGresult *r) {
    std::string msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
    // Copied before PQclear: the field points into the result.
    const char *field = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string state = field ? field : "";
    if (r) PQclear(r);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    std::string full = "postgresql " + describe_ + ": " + what + ": " + msg;
    if (!state.empty()) full += " (SQLSTATE " + state + ")";
    if (PQstatus(conn_) != CONNECTION_OK || (!state.empty() && is_transient_sqlstate(state))) throw EnvError(full);
    throw DataError(full);
}

PgResult PgConnection::exec(const std::string &sql) {
    PGresult *r = PQexec(conn_, sql.c_str());
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(sql.substr(0, 200), r);
    return PgResult(r);
}

PgResult PgConnection::exec_params(const std::string &sql, const std::vector<std::optional<std::string>> &params) {
    std::vector<const char *> vals;
    for (const auto &p : params) vals.push_back(p ? p->c_str() : nullptr);
    PGresult *r = PQexecParams(conn_, sql.c_str(), static_cast<int>(vals.size()), nullptr, vals.data(), nullptr,
                               nullptr, 0);
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
    PGresult *r = PQexec(conn_, copy_sql.c_str());
    if (PQresultStatus(r) != PGRES_COPY_IN) fail(copy_sql, r);
    PQclear(r);
}

void PgConnection::copy_in_send(const char *data, size_t len) {
    if (PQputCopyData(conn_, data, static_cast<int>(len)) != 1) fail("COPY send", nullptr);
}

void PgConnection::copy_in_end() {
    if (PQputCopyEnd(conn_, nullptr) != 1) fail("COPY end", nullptr);
    PGresult *r;
    while ((r = PQgetResult(conn_)) != nullptr) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) fail("COPY", r);
        PQclear(r);
    }
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
    PQputCopyEnd(conn_, why.c_str());
    while (PGresult *r = PQgetResult(conn_)) PQclear(r);
}

void PgConnection::copy_out_start(const std::string &copy_sql) {
    PGresult *r = PQexec(conn_, copy_sql.c_str());
    if (PQresultStatus(r) != PGRES_COPY_OUT) fail(copy_sql, r);
    PQclear(r);
}

bool PgConnection::copy_out_next(const char *&buf, int &len) {
    if (copy_out_buf_) {
        PQfreemem(copy_out_buf_);
        copy_out_buf_ = nullptr;
    }
    len = PQgetCopyData(conn_, &copy_out_buf_, 0);
    if (len > 0) {
        buf = copy_out_buf_;
        return true;
    }
    if (len == -2) fail("COPY out", nullptr);
    PGresult *r;
    while ((r = PQgetResult(conn_)) != nullptr) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) fail("COPY out", r);
        PQclear(r);
    }
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
