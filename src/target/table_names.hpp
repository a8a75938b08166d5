// Safe, deterministic PostgreSQL identifiers derived from any Chroma collection name.
#pragma once

#include <string>
#include <vector>

#include "core/record.hpp"

namespace c2p {

constexpr size_t kMaxIdentBytes = 63; // NAMEDATALEN - 1

// "c2p_<name>" when the name is already a plain lowercase identifier; otherwise a sanitised,
// truncated form plus a hash of the original name, so two names that sanitise alike stay distinct.
std::string derive_table_name(const std::string &collection_name, const std::string &prefix = "c2p_");
// 8 hex digits of a hash of s: keeps apart two names that sanitise alike.
std::string short_hash(const std::string &s);
// `s` as PostgreSQL keeps a longer identifier: its first 63 bytes (a client's names end up the same).
std::string pg_identifier(std::string s);
// `base` + `suffix`, truncating `base` (on a UTF-8 boundary, with a hash) to stay within 63 bytes.
std::string fit_identifier(const std::string &base, const std::string &suffix);
// The table migrate loads a collection into, in checkpointed chunks, whatever the layout: "<table>__load".
std::string staging_table_name(const std::string &collection_name);
// PostgreSQL text holds neither NUL nor invalid UTF-8, so a collection name with either (possible in a
// persistent directory's SQLite) could not be kept exactly in the registry: refuses it (DataError, naming
// it escaped) before anything is written.
void require_storable_names(const std::vector<CollectionInfo> &collections);

} // namespace c2p
