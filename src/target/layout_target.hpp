// Where a migrated collection's records are in the target, per layout, and how to read them back as
// Chroma records: what verify compares and what sync brings up to date.
#pragma once

#include <optional>
#include <string>

#include "core/record.hpp"
#include "target/layout_sink.hpp"
#include "target/pg_connection.hpp"
#include "target/pg_table_reader.hpp"

namespace c2p {

struct TargetCollection {
    Layout layout = Layout::native;
    std::string schema = "public", table;
    std::string where;            // the collection's rows in a shared table (langchain), else empty
    std::string id_column = "id"; // llamaindex: node_id
    std::string id_prefix;        // langchain --langchain-id-prefix: "<collection>:"
    std::string collection_uuid;  // langchain: langchain_pg_collection.uuid of the collection
    VectorColumn column;          // the embedding column; halfvec: compared at float16 precision
    std::string metadata_type = "jsonb"; // llamaindex tables created with use_jsonb=False: json
    bool has_digest = false;      // native: the stored digest column
    std::string qualified_table() const;
    std::string describe() const; // "public.langchain_pg_embedding (collection_id = '…'::uuid)"
};

// The native table named in the registry, with its embedding column's type.
TargetCollection native_target(PgConnection &pg, const std::string &schema, const std::string &table);
// A framework layout's rows of collection c, nullopt when it was not migrated there: langchain finds
// the langchain_pg_collection row by uuid, else by name; llamaindex the table data_<lowercased name>.
std::optional<TargetCollection> locate_layout_target(PgConnection &pg, Layout layout, const std::string &schema,
                                                     const CollectionInfo &c, bool langchain_id_prefix);

// How PgTableReader reads the target's rows back as the Chroma records they came from.
PgTableReadOptions read_options(const TargetCollection &t, uint32_t dim);

// The id a Chroma record has in the target table (langchain with the prefix: "<collection>:<id>").
std::string target_row_id(const TargetCollection &t, const std::string &chroma_id);

} // namespace c2p
