// chroma2pg: move a RAG application's vectors from ChromaDB to PostgreSQL + pgvector.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands/commands.hpp"
#include "commands/common.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/version_info.hpp"

int main(int argc, char **argv) {
    using namespace c2p;
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
    app.fallthrough();
    app.footer("Exit codes: 0 ok, 1 verification mismatch or data problem, 2 usage, 3 connection or environment.\n"
               "Run 'chroma2pg COMMAND --help' for a command's options and examples.");
    register_inspect(app);
    register_migrate(app);

    app.parse_complete_callback([&] {
        log::configure(g.log_format == "json" ? log::Format::json : log::Format::text,
                       g.quiet ? log::Level::error : g.verbose ? log::Level::debug : log::Level::info);
    });
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : static_cast<int>(ExitCode::usage);
    } catch (const Error &e) {
        log::error("failed", e.what(), {{"exit_code", static_cast<int>(e.code())}});
        return static_cast<int>(e.code());
    } catch (const std::exception &e) {
        log::error("failed", std::string("internal error: ") + e.what(), {{"exit_code", 1}});
        return 1;
    }
    return 0;
}
