// The collection facts a target keeps about each collection (chroma2pg's registry row, LangChain's
// collection row) against the source's: name, collection metadata and configuration, type-strict.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace c2p {

// The first difference between two JSON values, type-strict: an int is not a float (1 is not 1.0),
// true is not 1, null is a value, a key with a null value is not an absent key. Object key order does
// not matter (jsonb reorders keys). One allowance for jsonb: a source float written with an exponent
// (1e+17) comes back from jsonb as its integral digits, which is the same float, not an int.
// nullopt when equal; else e.g. `at "a"[2]: source int 1, target float 1.0`.
std::optional<std::string> json_difference(const nlohmann::ordered_json &source, const nlohmann::ordered_json &target);

// "int 1", "float 1.0", "bool true", "string \"x\"", "null", "object {…}", "array […]" for messages.
std::string describe_json(const nlohmann::ordered_json &v);

// Compares one stored field with the source's; appends "collection 'c': <where> <field> differs from the
// source's: …" to `failures` when they differ.
void compare_registry_field(const std::string &collection, const std::string &where, const std::string &field,
                            const nlohmann::ordered_json &source, const nlohmann::ordered_json &target,
                            std::vector<std::string> &failures);

} // namespace c2p
