// Values for the parameters of libpq's parameterised statements.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace c2p {

// JSON text for a json/jsonb parameter, or no value (SQL NULL) for JSON null: collection metadata and configuration.
inline std::optional<std::string> json_or_null(const nlohmann::ordered_json &j) {
    return j.is_null() ? std::nullopt : std::optional<std::string>(j.dump());
}

} // namespace c2p
