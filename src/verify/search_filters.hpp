// Metadata filters for the filtered-search check, chosen from the collection's own metadata: a string
// equality, a numeric range (or equality on a low-cardinality number) and a boolean, each matching about
// 1-20 % of the rows, written as LangChain and Mastra write them (metadata->>'key' …) and as Chroma's `where`.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "target/pg_connection.hpp"

namespace c2p {

struct MetadataFilter {
    std::string kind;             // "string equality", "numeric range", "numeric equality", "bool equality"
    std::string key;
    std::string sql;              // a WHERE condition on metadata_expr
    nlohmann::ordered_json where; // Chroma's `where` for the same condition
    uint64_t matching = 0;        // rows that match, counted exactly
    double selectivity = 0;       // matching / rows
};

// One value of a key as the stats query sees it: JSON type, JSON text, how many rows have it.
struct MetadataValueCount {
    std::string key, type, json_value;
    uint64_t count = 0;
};

// Picks the filters from value counts over `rows` rows (pure: unit-tested). Numeric ranges need their
// bounds from the table, so they are chosen in find_metadata_filters.
std::vector<MetadataFilter> pick_equality_filters(const std::vector<MetadataValueCount> &counts, uint64_t rows,
                                                  const std::string &metadata_expr);

// Reads value counts (a sample above 50,000 rows), adds a numeric range, and counts each filter's rows.
// `table_where`: the collection's rows in a shared table, empty: all.
std::vector<MetadataFilter> find_metadata_filters(PgConnection &pg, const std::string &qualified_table,
                                                  const std::string &table_where, const std::string &metadata_expr);

} // namespace c2p
