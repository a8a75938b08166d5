// Options and helpers every command shares: source flags, target flags, collection selection, output.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "sources/source.hpp"

namespace c2p {

struct GlobalOptions {
    bool json = false;
    bool quiet = false;
    bool verbose = false;
    std::string log_format = "text";
};

struct SourceFlags {
    std::string from;
    std::vector<std::string> collections;
    SourceOptions opts;
};

// Registers --from, --tenant, --database, --token, --token-header, --insecure, --collections.
void add_source_flags(CLI::App &cmd, SourceFlags &f, bool with_collections = true);
// Registers --to (libpq conninfo or URL; DATABASE_URL / PG* when absent) and --schema.
void add_target_flags(CLI::App &cmd, std::string &to, std::string &schema);
// Registers --pg-timeout and --pg-connect-wait (pg_settings()); add_target_flags includes them.
void add_pg_wait_flags(CLI::App &cmd);

// The collections to work on, in source order; unknown names are a usage error listing what exists.
std::vector<CollectionInfo> select_collections(Source &src, const std::vector<std::string> &wanted);
std::vector<CollectionInfo> filter_collections(const std::vector<CollectionInfo> &all, const std::vector<std::string> &wanted,
                                               const std::string &source_description);

// A name PostgreSQL cannot store (invalid UTF-8) is a data error (exit 1) naming the collection, its bad
// bytes escaped, before anything is written.
void require_utf8_names(const std::vector<CollectionInfo> &cols);

// Prints the machine-readable result on stdout (one JSON document).
void print_json(const nlohmann::ordered_json &j);
// Source token: the flag, else CHROMA_API_KEY, else CHROMA_TOKEN.
void resolve_token(SourceOptions &o);

GlobalOptions &global_options();

} // namespace c2p
