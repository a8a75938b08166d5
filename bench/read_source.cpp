// Benchmark tool: reads every record of every collection of a source (a Chroma persistent directory,
// a Chroma server URL or a backup directory) through chroma2pg's own readers and discards it, so
// bench/run.py can time the bare cost of reading: ids, embeddings, documents, uris and metadata of
// every record, with nothing written. tests/tools/dump_source only reads directories and formats
// every float as JSON, which costs more than the read it would measure.
// Usage: read_source SRC [--batch N] [--digest]   (--digest: also compute every record's digest,
// the per-record work verify adds). Prints one JSON line: records, bytes, seconds.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/record_digest.hpp"
#include "sources/source.hpp"
#include "util/error.hpp"

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr << "usage: read_source SRC [--batch N] [--digest]\n";
        return 2;
    }
    size_t batch = 1000;
    bool digest = false;
    for (int i = 2; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::stoul(argv[++i]);
        else if (!std::strcmp(argv[i], "--digest")) digest = true;
        else {
            std::cerr << "read_source: unknown argument " << argv[i] << "\n";
            return 2;
        }
    }
    try {
        auto t0 = std::chrono::steady_clock::now();
        auto since = [&t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
        auto src = c2p::open_source(argv[1], c2p::SourceOptions{});
        double t_open = since();
        uint64_t records = 0, bytes = 0, meta_entries = 0, check = 0;
        size_t collections = 0;
        auto list = src->list_collections();
        double t_list = since(), t_readers = 0;
        for (auto &c : list) {
            ++collections;
            double t = since();
            auto r = src->read(c, batch);
            t_readers += since() - t;
            c2p::RecordBatch b;
            while (r->next(b)) {
                records += b.size();
                bytes += b.payload_bytes();
                for (size_t i = 0; i < b.size(); ++i) {
                    meta_entries += b.metadatas[i].size();
                    if (digest) check ^= c2p::record_digest(b, i)[0];
                }
            }
        }
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        nlohmann::ordered_json out = {{"source", src->describe()}, {"collections", collections},
                                      {"records", records},       {"payload_bytes", bytes},
                                      {"metadata_entries", meta_entries}, {"digest", digest},
                                      {"check", check},           {"seconds", s},
                                      // Where the time goes: opening (snapshot, catalog), listing
                                      // (plans), creating readers, and streaming the records.
                                      {"phases", {{"open", t_open}, {"list", t_list - t_open}, {"readers", t_readers},
                                                  {"stream", s - t_list - t_readers}}}};
        std::cout << out.dump() << "\n";
    } catch (const c2p::Error &e) {
        std::cerr << "error: " << e.what() << "\n";
        return int(e.code());
    } catch (const std::exception &e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
