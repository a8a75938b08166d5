#include "core/record.hpp"

#include "util/error.hpp"

namespace c2p {

nlohmann::ordered_json SourceDiagnostics::damage_json() const {
    auto out = nlohmann::ordered_json::array();
    for (const auto &d : damage) {
        nlohmann::ordered_json j = {{"kind", d.kind}, {"message", d.message}};
        if (!d.file.empty()) j["file"] = d.file;
        if (d.count) j["count"] = d.count;
        if (!d.ids.empty()) j["ids"] = d.ids;
        out.push_back(std::move(j));
    }
    return out;
}

const char *space_name(Space s) {
    switch (s) {
    case Space::l2: return "l2";
    case Space::ip: return "ip";
    case Space::cosine: return "cosine";
    }
    return "l2";
}

Space parse_space(const std::string &s) {
    if (s == "l2") return Space::l2;
    if (s == "ip") return Space::ip;
    if (s == "cosine") return Space::cosine;
    throw DataError("unknown distance space '" + s + "' (expected l2, ip or cosine)");
}

size_t RecordBatch::payload_bytes() const {
    size_t n = embeddings.size() * sizeof(float);
    for (size_t i = 0; i < ids.size(); ++i) {
        n += ids[i].size();
        if (documents[i]) n += documents[i]->size();
        if (uris[i]) n += uris[i]->size();
    }
    return n;
}

} // namespace c2p
