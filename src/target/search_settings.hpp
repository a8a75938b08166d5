// What the app's sessions must get for search to answer like Chroma did: Chroma's per-collection HNSW
// parameters carried over as database (or app-role) defaults, iterative scans for filtered queries, and
// the pgvector version policy for index builds.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/record.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"

namespace c2p {

// Chroma's HNSW parameters of one collection, from its configuration ({"hnsw": {...}} in 1.x,
// {"hnsw_configuration": {...}} in 0.5/0.6) or its legacy "hnsw:*" metadata; Chroma's defaults when absent.
struct ChromaHnswParams {
    int m = 16, ef_construction = 100, ef_search = 100;
    bool ef_search_given = false; // false: Chroma's default
};
ChromaHnswParams chroma_hnsw_params(const CollectionInfo &c);

// The session defaults migrate sets: one value per database, so the largest ef_search of the collections.
struct SearchSettings {
    int hnsw_ef_search = 100;
    std::string ef_search_from;      // which collection gave it, or "Chroma's default"
    std::string iterative_scan = "relaxed_order";
    int ivfflat_probes = 0;          // 0: no IVFFlat index, nothing to set
    std::vector<std::pair<std::string, std::string>> parameters() const; // (name, value) in order
};
SearchSettings choose_search_settings(const std::vector<CollectionInfo> &cols, bool ivfflat, int ivfflat_lists_max);

// ALTER DATABASE <current> SET …, or ALTER ROLE <role> IN DATABASE <current> SET … when role is given.
std::vector<std::string> search_settings_sql(const std::string &database, const std::string &role, const SearchSettings &s);

// Applies them; where the role may not (not the database owner, no CREATEROLE) returns the SQL to run
// as one that may. {applied, scope, parameters, sql, error?, reason}.
nlohmann::ordered_json apply_search_settings(PgConnection &pg, const std::string &role, const SearchSettings &s);

// migrate's step: chooses the settings for the collections, applies them (unless !enabled) and logs what
// it did, or the SQL to run when this role may not. Returns the summary's "search_settings" object.
nlohmann::ordered_json carry_search_settings(PgConnection &pg, const std::vector<CollectionInfo> &cols,
                                             const IndexOptions &index, const std::string &role, bool enabled);

// The search settings a new session of the current user gets (loads pgvector so its parameters are known):
// name -> value, an absent name is not set anywhere (pgvector's built-in default applies).
nlohmann::ordered_json session_search_settings(PgConnection &pg);

// What a new session of `role` gets in the current database from ALTER ROLE/DATABASE … SET (the role in
// this database first, then the role, then the database), for the search parameters: name -> value.
std::vector<std::pair<std::string, std::string>> role_search_defaults(PgConnection &pg, const std::string &role);

// pgvector's version against the releases that fixed index-build and vacuum bugs.
struct PgvectorPolicy {
    std::string version;
    bool known = false;               // the version string parsed
    bool parallel_build_safe = true;  // >= 0.8.2: parallel HNSW builds no longer overflow a buffer (pgvector #959)
    bool vacuum_safe = true;          // >= 0.8.3: vacuuming an HNSW index no longer risks corrupting it
    bool iterative_scan = true;       // >= 0.8.0: hnsw.iterative_scan exists
    std::vector<std::string> problems; // one sentence each, naming the fixed version (what migrate warns)
    std::string verdict;              // "ok" or the problems
    nlohmann::ordered_json to_json() const;
};
PgvectorPolicy pgvector_policy(const std::string &extversion);

} // namespace c2p
