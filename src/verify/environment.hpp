// The PostgreSQL side of a report: server and pgvector versions, the settings that matter for
// vectors, and advice where they are poor.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "target/pg_connection.hpp"

namespace c2p {

struct EnvironmentFacts {
    uint64_t vector_index_bytes = 0; // total size of the vector indexes checked (0: unknown)
    uint64_t table_bytes = 0;
    int k = 10;
};

// {server, server_version, pgvector_version (null when absent), settings: {name: {value, bytes}}, advice: [..]}.
// Read-only: never creates the extension.
nlohmann::ordered_json collect_environment(PgConnection &pg, const EnvironmentFacts &facts);
// Advice for a settings object as collect_environment builds it (pure; exposed for tests).
nlohmann::ordered_json settings_advice(const nlohmann::ordered_json &settings, const std::string &pgvector_version,
                                       const EnvironmentFacts &facts);

} // namespace c2p
