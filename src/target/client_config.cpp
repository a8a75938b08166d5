#include "target/client_config.hpp"

#include <fmt/format.h>

#include "target/target_layout.hpp"

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
    return target_layout(layout).client_config(schema, table, c);
}

} // namespace c2p
