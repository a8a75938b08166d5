#include "commands/common.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <set>

#include <fnmatch.h>

#include <fmt/format.h>

#include "commands/command_line.hpp"
#include "pipeline/range_runner.hpp"
#include "sources/http/http_client.hpp"
#include "target/layout_sink.hpp"
#include "target/table_layout.hpp"
#include "target/target_layout.hpp"
#include "target/pg_connection.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {

GlobalOptions &global_options() {
    static GlobalOptions g;
    return g;
}

void add_source_flags(CLI::App &cmd, SourceFlags &f, bool with_collections) {
    cmd.add_option("--from", f.from,
                   "Source: a Chroma server URL (http[s]://host:port), a Chroma persistent directory (with "
                   "chroma.sqlite3), or a chroma2pg backup directory")
        ->required()
        ->envname("CHROMA2PG_FROM");
    cmd.add_option("--tenant", f.opts.tenant, "Chroma tenant (server sources)")
        ->envname("CHROMA2PG_TENANT")
        ->capture_default_str();
    cmd.add_option("--database", f.opts.database, "Chroma database (server sources)")
        ->envname("CHROMA2PG_DATABASE")
        ->capture_default_str();
    cmd.add_option("--token", f.opts.token,
                   "Chroma auth token (default: $CHROMA_API_KEY or $CHROMA_TOKEN); never printed")
        ->envname("CHROMA2PG_TOKEN");
    cmd.add_option("--token-header", f.opts.token_header,
                   "How to send the token: x-chroma-token or authorization (Bearer)")
        ->check(CLI::IsMember({"x-chroma-token", "authorization"}))
        ->envname("CHROMA2PG_TOKEN_HEADER")
        ->capture_default_str();
    cmd.add_option_function<double>("--chroma-wait", set_chroma_start_wait,
                                    "Seconds to keep retrying a Chroma server that is not up yet (connection refused, "
                                    "HTTP 5xx), with backoff; 0 fails at once")
        ->envname("CHROMA2PG_CHROMA_WAIT")
        ->check(CLI::NonNegativeNumber)
        ->default_str(fmt::format("{:g}", chroma_start_wait()));
    cmd.add_flag("--insecure", f.opts.insecure_tls, "Do not verify the Chroma server's TLS certificate")
        ->envname("CHROMA2PG_INSECURE");
    cmd.add_flag("--salvage", f.opts.salvage,
                 "Damaged persistent directory: take every record that can be recovered and report the rest "
                 "(default: refuse, naming the damage)")
        ->envname("CHROMA2PG_SALVAGE");
    if (with_collections) add_collection_flags(cmd, f.collections, f.exclude_collections);
}

void add_collection_flags(CLI::App &cmd, std::vector<std::string> &only, std::vector<std::string> &exclude) {
    cmd.add_option("--collections", only, "Only these collections (comma-separated names)")
        ->delimiter(',')
        ->envname("CHROMA2PG_COLLECTIONS");
    cmd.add_option("--exclude-collections", exclude,
                   "Leave out these collections (comma-separated names or glob patterns such as 'tmp_*'; repeatable)")
        ->delimiter(',')
        ->envname("CHROMA2PG_EXCLUDE_COLLECTIONS");
}

void add_target_flags(CLI::App &cmd, std::string &to, std::string &schema) {
    cmd.add_option("--to", to,
                   "PostgreSQL: a libpq connection string or postgresql:// URL (default: $DATABASE_URL, else the "
                   "PG* variables and ~/.pgpass)")
        ->envname("CHROMA2PG_TO");
    cmd.add_option("--schema", schema, "PostgreSQL schema for the tables")
        ->envname("CHROMA2PG_SCHEMA")
        ->capture_default_str();
    add_pg_wait_flags(cmd);
}

CLI::Validator memory_setting_check() {
    return CLI::Validator(
        [](std::string &v) -> std::string {
            size_t i = 0;
            while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
            std::string unit = v.substr(i);
            if (i > 0 && (unit.empty() || unit == "kB" || unit == "MB" || unit == "GB" || unit == "TB")) return {};
            return "expected a size such as 512MB or 2GB (units kB, MB, GB, TB, as PostgreSQL writes them), not '" + v + "'";
        },
        "SIZE");
}

void add_layout_option(CLI::App &cmd, std::string &layout, const std::string &what) {
    std::string help = what + ": native (chroma2pg's tables), langchain (LangChain PGVector)";
    for (const TableLayout *tl : table_layout_registry()) help += ", " + tl->name + " (" + tl->client + ")";
    cmd.add_option("--layout", layout, help + "; docs/layouts.md")
        ->check(CLI::IsMember(layout_names()))
        ->envname("CHROMA2PG_LAYOUT")
        ->capture_default_str();
}

void add_pg_wait_flags(CLI::App &cmd) {
    auto &pg = pg_settings();
    cmd.add_option("--pg-timeout", pg.timeout_seconds,
                   "Seconds PostgreSQL may stay silent during a statement or COPY before the server counts as hung "
                   "(exit 3; migrate --resume continues); index builds and full scans wait on while the server "
                   "shows them running; 0 waits forever")
        ->envname("CHROMA2PG_PG_TIMEOUT")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd.add_option("--pg-connect-wait", pg.connect_wait_seconds,
                   "Seconds to keep retrying, with backoff, a PostgreSQL server that refuses connections or is starting "
                   "up (connect_timeout defaults to 10 s; set it in the connection string)")
        ->envname("CHROMA2PG_PG_CONNECT_WAIT")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
}

void refuse_options_for_layout(const TargetLayout &l, const LayoutOptionsGiven &given) {
    if (given.id_prefix && !l.takes_id_prefix()) {
        std::string takers;
        for (const auto &n : layout_names())
            if (target_layout(parse_layout(n)).takes_id_prefix()) takers += (takers.empty() ? "" : ", ") + n;
        throw UsageError(fmt::format("--langchain-id-prefix applies to --layout {} only", takers));
    }
    // A framework layout's indexes are its framework's (LangChain creates ix_cmetadata_gin itself when the app
    // starts): an option that would change them is refused, not ignored.
    if (given.metadata_index && !l.takes_index_choice())
        throw UsageError(fmt::format("--metadata-index applies to the native layout: the {} layout gets the indexes its "
                                     "framework's store creates (docs/layouts.md); drop --metadata-index",
                                     l.name()));
    if (given.index_builds > 1 && !l.builds_side_by_side())
        throw UsageError(fmt::format("--index-builds {}: the {} layout publishes its collections one at a time (each "
                                     "in one transaction with its index build); drop --index-builds",
                                     given.index_builds, l.name()));
}

void resolve_token(SourceOptions &o) {
    if (!o.token.empty()) return;
    for (const char *v : {"CHROMA_API_KEY", "CHROMA_TOKEN"})
        if (const char *t = std::getenv(v); t && *t) {
            o.token = t;
            return;
        }
}

std::vector<CollectionInfo> select_collections(Source &src, const std::vector<std::string> &wanted,
                                               const std::vector<std::string> &exclude) {
    return filter_collections(src.list_collections(), wanted, src.describe(), exclude);
}

std::vector<CollectionInfo> select_collections(Source &src, const SourceFlags &f) {
    return select_collections(src, f.collections, f.exclude_collections);
}

namespace {

bool excluded_by(const CollectionInfo &c, const std::string &pattern) {
    return c.name == pattern || c.id == pattern || ::fnmatch(pattern.c_str(), c.name.c_str(), 0) == 0;
}

std::vector<CollectionInfo> without_excluded(std::vector<CollectionInfo> cols, const std::vector<CollectionInfo> &all,
                                             const std::vector<std::string> &exclude,
                                             const std::string &source_description) {
    for (const auto &p : exclude) {
        if (std::none_of(all.begin(), all.end(), [&](const CollectionInfo &c) { return excluded_by(c, p); }))
            log::warn("exclude_unmatched",
                      "--exclude-collections '" + p + "' matches no collection in " + source_description,
                      {{"pattern", p}});
    }
    std::erase_if(cols, [&](const CollectionInfo &c) {
        return std::any_of(exclude.begin(), exclude.end(), [&](const std::string &p) { return excluded_by(c, p); });
    });
    return cols;
}

} // namespace

std::vector<CollectionInfo> filter_collections(const std::vector<CollectionInfo> &all, const std::vector<std::string> &wanted,
                                               const std::string &source_description,
                                               const std::vector<std::string> &exclude) {
    if (wanted.empty()) return without_excluded(all, all, exclude, source_description);
    std::vector<CollectionInfo> out;
    std::set<std::string> seen;
    for (const auto &w : wanted) {
        bool found = false;
        for (const auto &c : all)
            if (c.name == w || c.id == w) {
                if (seen.insert(c.id).second) out.push_back(c);
                found = true;
            }
        if (!found) {
            std::string names;
            for (const auto &c : all) names += (names.empty() ? "" : ", ") + c.name;
            throw UsageError("collection '" + w + "' not found in " + source_description +
                            " (it has: " + (names.empty() ? "no collections" : names) + ")");
        }
    }
    return without_excluded(std::move(out), all, exclude, source_description);
}

Interrupted interrupted_run(const Interrupted &e, const std::string &command, const std::string &state,
                            const std::string &how, const std::vector<std::string> &add,
                            const std::vector<std::string> &drop) {
    std::string note;
    std::string cmd = command_line::rerun(add, drop, &note);
    return Interrupted(e.signo, command + " interrupted by " + interrupt::signal_name(e.signo) + ": " + state + "; " + how +
                                    ": " + cmd + (note.empty() ? "" : " (" + note + ")"));
}

void each_collection(const std::vector<CollectionInfo> &cols, const LoopInterruptText &text, int jobs,
                     const CollectionRetry &retry, const std::function<void(const CollectionInfo &c, int worker)> &step) {
    std::atomic<size_t> done{0};
    RangeRunner runner(std::max(1, std::min<int>(jobs, int(cols.size()))), 0);
    std::vector<RangeWork> work(cols.size()); // no ranges: a collection is its finish step
    RangeSteps steps;
    steps.started = [](size_t) {};
    steps.finish = [&](size_t i, int worker) {
        const CollectionInfo &c = cols[i];
        if (retry.attempts > 1)
            retry_transient(fmt::format("collection '{}'", c.name), retry.attempts, runner.cancelled(),
                            [&] { step(c, worker); }, [] {}, retry.text);
        else
            step(c, worker);
        ++done;
    };
    try {
        runner.run(work, steps);
    } catch (const Interrupted &e) {
        throw interrupted_run(e, text.command,
                              std::to_string(done.load()) + " of " + std::to_string(cols.size()) + " collection(s) " +
                                  text.finished + "; " + text.kept,
                              text.how);
    }
}

void print_json(const nlohmann::ordered_json &j) {
    std::string s = j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

} // namespace c2p
