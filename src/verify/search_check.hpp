// Vector search check of one collection: pgvector's indexed top-k against exact top-k (recall@k),
// and against the source's own nearest neighbours when the source is a Chroma server.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/record.hpp"
#include "target/pg_connection.hpp"
#include "verify/search_metrics.hpp"
#include "verify/search_result.hpp"

namespace c2p {

// Runs a k-nearest query whose one parameter is the query vector; rows are (id, distance).
std::vector<Neighbour> pg_knn(PgConnection &pg, const std::string &sql, const std::string &vector_param);

class ChromaHttpSource;

struct SearchOptions {
    int k = 10;
    int ef_search = 0;         // 0: the app's sessions' own (the database's defaults); else SET for the indexed queries
    double min_recall = 0;     // 0: not given; the verdict is relative to the source's own recall
    double max_recall_gap = 0.02; // pgvector's recall this far below Chroma's on the same queries fails
    size_t filtered_queries = 20; // queries per metadata filter
    bool fresh_session = false;   // run the app's queries in a new session (the --to connection), not in pg
    std::string session_target;
    std::string app_role; // the app connects as this role: its ALTER ROLE … SET defaults apply in the app's session
};

struct SearchTarget {
    std::string schema, table;
    uint32_t dim = 0;
    Space space = Space::l2; // the collection's: Chroma's distances, and the index's unless index_space says otherwise
    std::string index_name, index_method, index_options; // empty name: no usable vector index
    std::string id_expr = "id"; // SQL giving a row's Chroma id (llamaindex node_id, langchain without its prefix)
    std::string filter;         // the collection's rows in a shared table (langchain), empty: every row
    bool halfvec_column = false; // the column is halfvec: the query is cast to halfvec(dim)
    std::optional<Space> index_space; // the operator the index serves when not the space's (llamaindex: cosine)
    std::string metadata_expr = "metadata"; // the jsonb/json metadata column (langchain cmetadata, llamaindex metadata_)
    std::string embedding_column = "embedding"; // llamaindex-ts: embeddings
};

struct QuerySample {
    std::vector<std::string> ids;
    std::vector<float> vectors; // ids.size() * dim
};

// The indexed queries run in a fresh session with the database's defaults, as the app's do.
SearchCheckResult run_search_check(PgConnection &pg, const SearchTarget &t, const CollectionInfo &c,
                                        const QuerySample &q, const SearchOptions &o, ChromaHttpSource *chroma);

// "[1.5,2,…]": pgvector's text form with shortest round-trip floats (exact).
std::string vector_text(const float *v, uint32_t dim);

} // namespace c2p
