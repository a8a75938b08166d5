// What an app pastes to read a migrated collection with its framework's own store, per layout: the
// configuration object (`migrate --json`'s client_config) and the same as a line of code.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/record.hpp"
#include "target/layout_sink.hpp"

namespace c2p {

struct ClientConfig {
    std::string client;            // "Mastra PgVector", "LangChain PGVector (Python)"
    nlohmann::ordered_json config; // the store's own option names
    std::string snippet;           // the store opened with it, in the client's language
};

// Python keyword arguments from a JSON object (strings, numbers, booleans): `a="x", b=3, c=True`.
std::string python_kwargs(const nlohmann::ordered_json &config);

// nullopt for the native layout (any SQL client; sql/ has the queries).
std::optional<ClientConfig> client_config(Layout layout, const std::string &schema, const std::string &table,
                                          const CollectionInfo &c);

} // namespace c2p
