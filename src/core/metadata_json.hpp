// Metadata <-> JSON text with Chroma's types kept (int stays int, 1.0 stays float).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/record.hpp"

namespace c2p {

// How floats are written: positional for PostgreSQL's jsonb (which would print 1e300 back as an integer),
// shortest (exponent allowed) for Chroma's server.
enum class FloatText { positional, shortest };
// JSON object text; "null" for an empty Metadata (Chroma's None).
void append_metadata_json(std::string &out, const Metadata &m, FloatText floats = FloatText::positional);
std::string metadata_to_json(const Metadata &m);

// Parses a JSON object (or null) into Metadata. Integers become int64, numbers with a
// fraction or exponent become double. Throws DataError on anything Chroma cannot hold. A key whose
// value is null is dropped (Chroma stores none), its name appended to `null_keys` when given.
Metadata metadata_from_json(std::string_view json, std::vector<std::string> *null_keys = nullptr);
Metadata metadata_from_nlohmann(const nlohmann::ordered_json &j);
nlohmann::ordered_json metadata_to_nlohmann(const Metadata &m);

// Keys sorted, for order-insensitive comparison and digests.
Metadata sorted_metadata(const Metadata &m);

} // namespace c2p
