// Debug tool: opens a Chroma persistent directory with open_persistent_source() and prints every
// collection's records as JSON Lines, unambiguously typed, for tests to compare with Chroma's get:
//   {"collection": name, "collection_id": id, "id": ..., "embedding": ["3f800000", ...] (float32 bit
//    patterns, hex), "document": str|null, "uri": str|null,
//    "metadata": null | {"k": {"int": 3} | {"float": "0x1.8p+0"} | {"bool": true} | {"str": "x"} | {"array": [...]}}}
// First line per collection: {"collection_info": {...CollectionInfo...}}.
// Usage: dump_source DIR [--salvage] [--inspect] [--batch N]
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "sources/persistent/persistent_source.hpp"
#include "util/error.hpp"

using json = nlohmann::ordered_json;

static json scalar(const c2p::MetaScalar &v) {
    json o = json::object();
    if (auto *b = std::get_if<bool>(&v)) o["bool"] = *b;
    else if (auto *i = std::get_if<int64_t>(&v)) o["int"] = *i;
    else if (auto *d = std::get_if<double>(&v)) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%a", *d);
        o["float"] = buf;
    } else o["str"] = std::get<std::string>(v);
    return o;
}

static json info_json(const c2p::CollectionInfo &c) {
    return {{"id", c.id},
            {"name", c.name},
            {"dimension", c.dimension ? json(*c.dimension) : json(nullptr)},
            {"space", c2p::space_name(c.space)},
            {"metadata", c.metadata},
            {"configuration", c.configuration},
            {"record_count", c.record_count},
            {"tenant", c.tenant},
            {"database", c.database},
            {"details", c.details},
            {"warnings", c.warnings}};
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr << "usage: dump_source DIR [--salvage] [--inspect] [--batch N]\n";
        return 2;
    }
    c2p::SourceOptions opts;
    bool inspect = false;
    size_t batch = 1000;
    for (int i = 2; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--salvage")) opts.salvage = true;
        else if (!std::strcmp(argv[i], "--inspect")) inspect = true;
        else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::stoul(argv[++i]);
    }
    try {
        auto src = c2p::open_persistent_source(argv[1], opts);
        if (inspect) {
            auto *ps = dynamic_cast<c2p::PersistentSource *>(src.get());
            json out = {{"source", src->details()}, {"collections", json::array()}};
            for (auto &c : ps->inspect_collections()) out["collections"].push_back(info_json(c));
            std::cout << out.dump(2) << "\n";
            return 0;
        }
        for (auto &c : src->list_collections()) {
            std::cout << json{{"collection_info", info_json(c)}}.dump() << "\n";
            auto r = src->read(c, batch);
            c2p::RecordBatch b;
            while (r->next(b)) {
                for (size_t i = 0; i < b.size(); ++i) {
                    json rec = {{"collection", c.name}, {"collection_id", c.id}, {"id", b.ids[i]}};
                    json emb = json::array();
                    const float *v = b.embedding(i);
                    for (uint32_t k = 0; k < b.dim; ++k) {
                        uint32_t bits;
                        std::memcpy(&bits, v + k, 4);
                        char buf[16];
                        std::snprintf(buf, sizeof buf, "%08" PRIx32, bits);
                        emb.push_back(buf);
                    }
                    rec["embedding"] = std::move(emb);
                    rec["document"] = b.documents[i] ? json(*b.documents[i]) : json(nullptr);
                    rec["uri"] = b.uris[i] ? json(*b.uris[i]) : json(nullptr);
                    if (b.metadatas[i].empty()) {
                        rec["metadata"] = nullptr;
                    } else {
                        json m = json::object();
                        for (auto &[k, val] : b.metadatas[i]) {
                            if (auto *arr = std::get_if<std::vector<c2p::MetaScalar>>(&val)) {
                                json a = json::array();
                                for (auto &s : *arr) a.push_back(scalar(s));
                                m[k] = {{"array", a}};
                            } else {
                                m[k] = std::visit([](auto &&x) -> json { return scalar(c2p::MetaScalar(x)); },
                                                  std::visit([](auto &&x) -> std::variant<bool, int64_t, double, std::string> {
                                                      using T = std::decay_t<decltype(x)>;
                                                      if constexpr (std::is_same_v<T, std::vector<c2p::MetaScalar>>) return false;
                                                      else return x;
                                                  }, val));
                            }
                        }
                        rec["metadata"] = std::move(m);
                    }
                    std::cout << rec.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
                }
            }
        }
    } catch (const c2p::Error &e) {
        std::cerr << "error: " << e.what() << "\n";
        return int(e.code());
    } catch (const std::exception &e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
