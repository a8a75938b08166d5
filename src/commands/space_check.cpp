#include "commands/space_check.hpp"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/progress.hpp"

namespace c2p {

namespace fs = std::filesystem;

std::string SpaceCheck::status() const {
    if (!free_bytes) return "unknown";
    return *free_bytes >= needed_bytes ? "ok" : "insufficient";
}

nlohmann::ordered_json SpaceCheck::to_json(bool skipped) const {
    nlohmann::ordered_json j = {{"what", what},
                                {"path", path.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(path)},
                                {"free_bytes", free_bytes ? nlohmann::ordered_json(*free_bytes) : nlohmann::ordered_json()},
                                {"estimate_bytes", estimate_bytes},
                                {"needed_bytes", needed_bytes},
                                {"status", status()}};
    if (skipped && status() == "insufficient") j["status"] = "insufficient, check skipped (--skip-space-check)";
    if (!note.empty()) j["note"] = note;
    return j;
}

SpaceCheck directory_space(const std::string &what, const std::string &path, uint64_t estimate) {
    SpaceCheck c{what, "", std::nullopt, estimate, estimate * kSpaceMargin, ""};
    std::error_code ec;
    fs::path p = fs::absolute(path.empty() ? fs::path(".") : fs::path(path), ec);
    if (ec) p = path;
    // The nearest existing parent: a directory that does not exist yet will live on its file system.
    fs::path probe = p;
    while (!probe.empty() && !fs::exists(probe, ec)) {
        if (probe == probe.parent_path()) break;
        probe = probe.parent_path();
    }
    struct statvfs st {};
    if (::statvfs(probe.c_str(), &st) != 0) {
        c.note = fmt::format("cannot measure {}: {}", probe.string(), std::strerror(errno));
        return c;
    }
    c.path = probe.string();
    c.free_bytes = uint64_t(st.f_bavail) * uint64_t(st.f_frsize);
    if (probe != p) c.note = fmt::format("{} does not exist yet; measured {}", p.string(), probe.string());
    return c;
}

bool database_is_local(PgConnection &pg) {
    const char *h = PQhost(pg.raw());
    std::string host = h ? h : "";
    return host.empty() || host.front() == '/' || host == "localhost" || host == "127.0.0.1" || host == "::1";
}

SpaceCheck database_space(PgConnection &pg, uint64_t estimate) {
    SpaceCheck c{"database", "", std::nullopt, estimate, estimate * kSpaceMargin, ""};
    if (!database_is_local(pg)) {
        c.note = "the server is not on this machine (" + pg.describe() + "): its free space cannot be measured";
        return c;
    }
    // The tables go to default_tablespace when set, else to the database's tablespace; one outside the
    // data directory has its own location (and, often, its own file system).
    std::string dir, tablespace;
    auto ts = pg.exec("SELECT t.spcname, pg_tablespace_location(t.oid) FROM pg_tablespace t WHERE t.oid = COALESCE("
                      "(SELECT oid FROM pg_tablespace WHERE spcname = NULLIF(current_setting('default_tablespace'), '')),"
                      " (SELECT dattablespace FROM pg_database WHERE datname = current_database()))");
    if (ts.rows() == 1 && !ts.text(0, 1).empty()) {
        tablespace = ts.text(0, 0);
        dir = ts.text(0, 1);
        c.note = "the tables go to tablespace " + tablespace + " (default_tablespace or the database's own)";
    } else {
        try {
            dir = pg.scalar("SHOW data_directory").value_or("");
        } catch (const PgConnectionLost &) {
            throw;
        } catch (const Error &) {
            c.note = "SHOW data_directory is not allowed for this role (needs pg_read_all_settings or superuser)";
            return c;
        }
    }
    struct statvfs st {};
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec) || ::statvfs(dir.c_str(), &st) != 0) {
        c.note = (tablespace.empty() ? "the data directory " : "the tablespace " + tablespace + "'s directory ") + dir +
                 " the server reports is not visible from here (a container?)";
        return c;
    }
    c.path = dir;
    c.free_bytes = uint64_t(st.f_bavail) * uint64_t(st.f_frsize);
    return c;
}

void enforce_space(const std::vector<SpaceCheck> &checks, bool skip) {
    if (skip) return;
    for (const auto &c : checks) {
        if (c.status() != "insufficient") continue;
        throw EnvError(fmt::format(
            "not enough free space for the {} at {}{}: {} free ({} bytes), {} needed ({} bytes: {}x the estimated {}); "
            "free some space or choose another location, or pass --skip-space-check (CHROMA2PG_SKIP_SPACE_CHECK=1) "
            "to go ahead anyway",
            c.what, c.path, c.note.empty() ? "" : " (" + c.note + ")", human_bytes(double(*c.free_bytes)), *c.free_bytes, human_bytes(double(c.needed_bytes)),
            c.needed_bytes, kSpaceMargin, human_bytes(double(c.estimate_bytes))));
    }
}

} // namespace c2p
