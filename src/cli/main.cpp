// chroma2pg: move a RAG application's vectors from ChromaDB to PostgreSQL + pgvector.
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands/command_line.hpp"
#include "cli/suggest.hpp"
#include "commands/commands.hpp"
#include "commands/common.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/log_scope.hpp"
#include "util/malloc_huge_pages.hpp"
#include "util/progress.hpp"
#include "util/version_info.hpp"

namespace {

// CLI11's usage errors come before log::configure runs: --log-format is read from argv/env here.
bool json_logs_requested(int argc, char **argv) {
    std::string format;
    if (const char *e = std::getenv("CHROMA2PG_LOG_FORMAT")) format = e;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--log-format" && i + 1 < argc) format = argv[i + 1];
        else if (a.starts_with("--log-format=")) format = a.substr(13);
    }
    return format == "json";
}

// An error's log fields: the scope it left (collection…), its SQLSTATE, the exit code.
nlohmann::ordered_json error_fields(const c2p::Error &e) {
    auto f = c2p::log::failure_context();
    if (!f.contains("sqlstate")) {
        // PgConnection ends PostgreSQL errors with "(SQLSTATE xxxxx)".
        std::string_view msg = e.what();
        auto at = msg.rfind("(SQLSTATE ");
        if (at != std::string_view::npos && msg.size() >= at + 16 && msg[at + 15] == ')')
            f["sqlstate"] = std::string(msg.substr(at + 10, 5));
    }
    f["exit_code"] = static_cast<int>(e.code());
    return f;
}

} // namespace

int main(int argc, char **argv) {
    using namespace c2p;
    malloc_huge_pages::reexec_if_useful(argv); // before argv is read or blanked
    // Parsed from a copy: the passwords and tokens in argv itself are blanked for `ps` right away.
    std::vector<std::string> args = command_line::take(argc, argv);
    std::vector<char *> arg_ptrs;
    for (auto &a : args) arg_ptrs.push_back(a.data());
    arg_ptrs.push_back(nullptr);
    argv = arg_ptrs.data();
    CLI::App app{"chroma2pg: move ChromaDB collections to PostgreSQL + pgvector, losslessly", "chroma2pg"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("chroma2pg ") + C2P_VERSION + " (git " + C2P_GIT_REV + ")");
    auto &g = global_options();
    app.add_flag("--json", g.json, "Print the result as JSON on stdout")->envname("CHROMA2PG_JSON");
    app.add_option("--log-format", g.log_format, "Log format on stderr: text or json")
        ->check(CLI::IsMember({"text", "json"}))
        ->envname("CHROMA2PG_LOG_FORMAT");
    auto *quiet = app.add_flag("--quiet,-q", g.quiet, "Only errors on stderr")->envname("CHROMA2PG_QUIET");
    app.add_flag("--verbose,-v", g.verbose, "Debug logs on stderr")->envname("CHROMA2PG_VERBOSE")->excludes(quiet);
    app.add_option("--progress-interval", g.progress_interval,
                   "Seconds between progress lines (load and index builds) when stderr is not a terminal; default 5")
        ->check(CLI::Range(0.1, 86400.0))
        ->envname("CHROMA2PG_PROGRESS_INTERVAL");
    app.fallthrough();
    app.footer("Exit codes: 0 ok, 1 verification mismatch or data problem, 2 usage, 3 connection or environment.\n"
               "Run 'chroma2pg COMMAND --help' for a command's options and examples.");
    register_inspect(app);
    register_migrate(app);
    register_verify(app);
    register_bench(app);
    register_backup(app);
    register_restore(app);
    register_sync(app);

    app.parse_complete_callback([&] {
        log::configure(g.log_format == "json" ? log::Format::json : log::Format::text,
                       g.quiet ? log::Level::error : g.verbose ? log::Level::debug : log::Level::info);
        set_progress_interval(g.progress_interval);
        if (malloc_huge_pages::active())
            log::debug("malloc_huge_pages", "malloc backs its large blocks with transparent huge pages (glibc.malloc.hugetlb=1)");
    });
    try {
        if (auto hint = unknown_command_hint(app, args)) {
            if (json_logs_requested(argc, argv)) log::configure(log::Format::json, log::Level::error);
            log::error("usage_error", *hint, {{"exit_code", static_cast<int>(ExitCode::usage)}});
            return static_cast<int>(ExitCode::usage);
        }
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        if (e.get_exit_code() != 0 && json_logs_requested(argc, argv)) {
            log::configure(log::Format::json, log::Level::error);
            log::error("usage_error", e.what(), {{"exit_code", static_cast<int>(ExitCode::usage)}});
            return static_cast<int>(ExitCode::usage);
        }
        int rc = app.exit(e);
        return rc == 0 ? 0 : static_cast<int>(ExitCode::usage);
    } catch (const Error &e) {
        log::error("failed", e.what(), error_fields(e));
        return static_cast<int>(e.code());
    } catch (const std::exception &e) {
        auto f = log::failure_context();
        f["exit_code"] = 1;
        log::error("failed", std::string("internal error: ") + e.what(), f);
        return 1;
    }
    return 0;
}
