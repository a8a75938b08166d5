// Schema of a framework layout (every --layout but native) as the framework itself creates it: tables,
// columns and their types, keys, the framework's own indexes, and the collection's vector index with
// the operator class the framework queries with (through halfvec above 2,000 dimensions).
#pragma once

#include "core/record.hpp"
#include "target/target_layout.hpp"
#include "target/pg_connection.hpp"
#include "verify/schema_check.hpp"

namespace c2p {

// Failures: what breaks the framework's reads or searches, or cannot hold the source's data (a
// missing or retyped column, a key, a dimension, an index with the wrong operator class or not on the
// halfvec expression), and LangChain's collection row whose name or cmetadata differs from the source's
// (type-strict). Warnings: what works but differs (extra columns, no vector index at all, a LlamaIndex
// collection whose space is not cosine).
SchemaCheck check_layout_schema(PgConnection &pg, const TargetCollection &t, const CollectionInfo &src);

} // namespace c2p
