#include <fmt/format.h>

#include "commands/commands.hpp"
#include "commands/common.hpp"
#include "core/record.hpp"
#include "sources/persistent/persistent_source.hpp"
#include "util/error.hpp"

namespace c2p {
namespace {

struct InspectArgs {
    SourceFlags src;
};

void run_inspect(const InspectArgs &a) {
    SourceOptions so = a.src.opts;
    resolve_token(so);
    auto source = open_source(a.src.from, so);
    // A damaged directory is still inspected in full: each collection says what is wrong.
    auto *persistent = dynamic_cast<PersistentSource *>(source.get());
    auto cols = filter_collections(persistent && !so.salvage ? persistent->inspect_collections()
                                                             : source->list_collections(),
                                   a.src.collections, source->describe(), a.src.exclude_collections);
    std::vector<std::string> damaged;
    for (const auto &c : cols)
        if (c.diagnostics.damaged()) damaged.push_back(c.name);
    nlohmann::ordered_json out;
    out["source"] = source->describe();
    out["source_details"] = source->details();
    out["collections"] = nlohmann::ordered_json::array();
    for (const auto &c : cols) {
        nlohmann::ordered_json j;
        j["name"] = c.name;
        j["id"] = c.id;
        j["records"] = c.record_count;
        j["dimension"] = c.dimension ? nlohmann::ordered_json(*c.dimension) : nlohmann::ordered_json(nullptr);
        j["space"] = space_name(c.space);
        j["metadata"] = c.metadata;
        j["configuration"] = c.configuration;
        j["tenant"] = c.tenant;
        j["database"] = c.database;
        j["details"] = c.details;
        j["warnings"] = c.warnings;
        out["collections"].push_back(j);
    }
    auto fail_if_damaged = [&] {
        if (damaged.empty()) return;
        std::string names;
        for (const auto &n : damaged) names += (names.empty() ? "" : ", ") + n;
        throw DataError("damaged: " + names + " (see the damage listed above); `migrate --salvage` migrates what "
                        "can be recovered and reports the rest");
    };
    if (global_options().json) {
        print_json(out);
        fail_if_damaged();
        return;
    }
    fmt::print("source: {}\n", source->describe());
    auto d = source->details();
    for (auto it = d.begin(); it != d.end(); ++it)
        if (it.key() != "url") fmt::print("  {}: {}\n", it.key(), it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
    fmt::print("\n{:<32} {:>10} {:>6} {:<7} {}\n", "collection", "records", "dim", "space", "id");
    for (const auto &c : cols)
        fmt::print("{:<32} {:>10} {:>6} {:<7} {}\n", c.name, c.record_count,
                   c.dimension ? std::to_string(*c.dimension) : "-", space_name(c.space), c.id);
    for (const auto &c : cols) {
        const auto &d = c.details;
        if (d.contains("era"))
            fmt::print("\n{}: era {}, {} vectors from HNSW, {} from the WAL, status {}\n", c.name,
                       d.value("era", std::string("?")), d.value("vectors_from_hnsw", 0), d.value("vectors_from_wal", 0),
                       c.diagnostics.status());
        for (const auto &w : c.warnings) fmt::print("warning: {}: {}\n", c.name, w);
    }
    fail_if_damaged();
}

} // namespace

void register_inspect(CLI::App &app) {
    auto args = std::make_shared<InspectArgs>();
    auto *cmd = app.add_subcommand("inspect", "List a source's collections: records, dimension, space, metadata");
    cmd->footer("Examples:\n"
                "  chroma2pg inspect --from http://localhost:8000\n"
                "  chroma2pg inspect --from ./chroma_db --json\n"
                "  chroma2pg inspect --from https://chroma.example.com --token $TOKEN --tenant acme");
    add_source_flags(*cmd, args->src);
    cmd->callback([args] { run_inspect(*args); });
}

} // namespace c2p
