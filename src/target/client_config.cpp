#include "target/client_config.hpp"

#include <fmt/format.h>

#include "target/table_layout.hpp"

namespace c2p {

std::string python_kwargs(const nlohmann::ordered_json &config) {
    std::string out;
    for (const auto &[k, v] : config.items()) {
        if (!out.empty()) out += ", ";
        out += k + "=" + (v.is_boolean() ? (v.get<bool>() ? "True" : "False") : v.dump());
    }
    return out;
}

std::optional<ClientConfig> client_config(Layout layout, const std::string &schema, const std::string &table,
                                          const CollectionInfo &c) {
    if (const TableLayout *tl = find_table_layout(layout)) {
        auto cfg = tl->client_config(schema, table, c);
        return ClientConfig{tl->client, cfg, tl->snippet(cfg)};
    }
    if (layout == Layout::langchain) {
        // langchain-postgres PGVector: the collection by name, the index's distance (DistanceStrategy values).
        nlohmann::ordered_json cfg = {{"collection_name", c.name}};
        if (c.dimension) cfg["embedding_length"] = *c.dimension;
        cfg["distance_strategy"] = c.space == Space::l2 ? "l2" : c.space == Space::ip ? "inner" : "cosine";
        cfg["use_jsonb"] = true;
        std::string kw = python_kwargs(cfg);
        return ClientConfig{"LangChain PGVector (Python)", cfg,
                            fmt::format("PGVector(embeddings=embeddings, connection=engine, {}){}", kw,
                                        schema == "public" ? "" : "  # with search_path = " + schema)};
    }
    return std::nullopt;
}

} // namespace c2p
