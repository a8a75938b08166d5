// `--layout llamaindex`: LlamaIndex PGVectorStore's (Python) `data_<name>` table, created as the library
// creates it, plus the HNSW index it creates itself (`data_<name>_embedding_idx`, cosine: the only
// distance PGVectorStore queries with).
#include <fmt/format.h>

#include "target/client_config.hpp"
#include "target/size_estimate.hpp"
#include "target/table_layout.hpp"
#include "target/table_names.hpp"

namespace c2p {
namespace {

std::string lower(std::string s) {
    for (char &ch : s)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    return s;
}

// "<name>_idx_1": the index PGVectorStore creates on (metadata_ ->> 'ref_doc_id') when it opens the table.
std::string ref_doc_index_name(const std::string &collection) { return pg_identifier(lower(collection) + "_idx_1"); }

class LlamaindexLayout final : public TableLayout {
public:
    LlamaindexLayout() {
        name = "llamaindex";
        client = "LlamaIndex PGVectorStore";
        id_column = "node_id"; // the table's key is its BIGSERIAL id; node_id has no unique index
        document_column = "text";
        metadata_column = "metadata_";
        cosine_only = true;
        const std::string vc = "character varying";
        columns = {{"id", {"bigint"}, true},
                   {"text", {vc, "text"}, true},
                   {"metadata_", {"jsonb", "json"}, false},
                   {"node_id", {vc, "text"}, false},
                   {"embedding", {}, false}};
    }
    // PGVectorStore lowercases table_name and prefixes "data_".
    std::string table_name(const std::string &collection) const override {
        return pg_identifier("data_" + lower(collection));
    }
    // As its SQLAlchemy model emits it (create_all), made idempotent.
    std::string create_table_sql(const std::string &schema, const std::string &table,
                                 const std::string &vector_type) const override {
        return "CREATE TABLE IF NOT EXISTS " + qualified(schema, table) +
               " (id BIGSERIAL NOT NULL, text VARCHAR NOT NULL, metadata_ JSONB, node_id VARCHAR, embedding " +
               vector_type + ", PRIMARY KEY (id))";
    }
    std::vector<std::string> secondary_index_sql(const std::string &schema, const std::string &table,
                                                 const std::string &collection) const override {
        return {"CREATE INDEX IF NOT EXISTS " + quote_ident(ref_doc_index_name(collection)) + " ON " +
                qualified(schema, table) + " ((metadata_ ->> 'ref_doc_id'))"};
    }
    std::string vector_index_name(const std::string &table) const override {
        return pg_identifier(table + "_embedding_idx");
    }
    std::vector<std::pair<std::string, uint64_t>> key_index_sizes(const std::vector<uint32_t> &,
                                                                  uint64_t rows) const override {
        // The key is the BIGSERIAL id; ref_doc_id is absent from chroma2pg's rows, so its index holds NULLs.
        return {{"primary key", estimate_btree({8}, rows)}, {"ref_doc_id", estimate_null_btree(rows)}};
    }
    // table_name without its "data_" prefix, which the store adds.
    nlohmann::ordered_json client_config(const std::string &schema, const std::string &, const CollectionInfo &c) const override {
        nlohmann::ordered_json cfg = {{"table_name", c.name}, {"schema_name", schema}};
        if (c.dimension) cfg["embed_dim"] = *c.dimension;
        cfg["use_jsonb"] = true;
        return cfg;
    }
    std::string snippet(const nlohmann::ordered_json &config) const override {
        return fmt::format("PGVectorStore.from_params(connection_string=url, {})", python_kwargs(config));
    }
    std::string halfvec_advice() const override {
        return "Rerun with --halfvec and set use_halfvec=True in PGVectorStore";
    }
    void check_table(const TableFacts &f, const std::string &collection, const std::string &table,
                     std::vector<std::string> &failures, std::vector<std::string> &warnings) const override {
        if (!any_contains(f.constraints, "PRIMARY KEY (id)"))
            failures.push_back(fmt::format("collection '{}': table {} has no primary key on id", collection, table));
        auto d = f.column_defaults.find("id");
        if (d != f.column_defaults.end() && d->second.find("nextval(") == std::string::npos)
            failures.push_back(fmt::format("collection '{}': {}.id has no sequence default (BIGSERIAL): LlamaIndex's "
                                           "inserts, which omit it, would fail",
                                           collection, table));
        if (!any_contains(f.indexes, "((metadata_ ->> 'ref_doc_id'::text))"))
            warnings.push_back(fmt::format("collection '{}': the index {} on (metadata_ ->> 'ref_doc_id') is missing "
                                           "(LlamaIndex creates it when it opens the table)",
                                           collection, ref_doc_index_name(collection)));
    }
};

} // namespace

const TableLayout &llamaindex_layout() {
    static const LlamaindexLayout l;
    return l;
}

} // namespace c2p
