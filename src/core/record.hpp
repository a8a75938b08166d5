// The unit every command streams: a columnar batch of Chroma records, plus collection facts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace c2p {

// A Chroma metadata value. Chroma stores str, int, float, bool; 1.5+ adds arrays of those.
// The variant index is the type: an int never becomes a float, 1.0 never becomes 1.
using MetaScalar = std::variant<bool, int64_t, double, std::string>;
using MetaValue = std::variant<bool, int64_t, double, std::string, std::vector<MetaScalar>>;
// Insertion-ordered; keys are unique. An empty Metadata is Chroma's `None`.
using Metadata = std::vector<std::pair<std::string, MetaValue>>;

enum class Space { l2, ip, cosine };
const char *space_name(Space s);
Space parse_space(const std::string &s); // throws DataError on an unknown name

// One problem a source found in a collection (a persistent directory's missing or truncated file…).
struct SourceDamage {
    std::string kind;    // hnsw_missing, hnsw_file_missing, hnsw_truncated, header_invalid, pickle_invalid,
                         // pickle_missing, label_not_found, no_vector, vector_without_record, wal_vector_invalid,
                         // dimension_mismatch…
    std::string file;    // relative to the directory, or empty
    std::string message; // one line, complete
    uint64_t count = 0;
    std::vector<std::string> ids; // first few
};

// What a source found wrong with a collection, and what --salvage loses or rebuilds.
struct SourceDiagnostics {
    std::vector<SourceDamage> damage;
    std::vector<std::string> unrecoverable_ids; // every id that cannot be exported (salvage drops exactly these)
    std::vector<std::string> salvaged_ids;      // ids whose vector comes from a WAL row the index had lost
    bool damaged() const { return !damage.empty(); }
    const char *status() const { return damaged() ? "damaged" : "ok"; }
    // As inspect --json and the salvage report show them: [{kind, file?, message, count?, ids?}].
    nlohmann::ordered_json damage_json() const;
};

// Facts about one collection, as the source reports them.
struct CollectionInfo {
    std::string id;   // Chroma's UUID
    std::string name;
    std::optional<uint32_t> dimension; // unknown for an empty collection
    Space space = Space::l2;
    nlohmann::ordered_json metadata = nullptr;      // collection metadata, types kept
    nlohmann::ordered_json configuration = nullptr; // configuration_json / config_json_str
    uint64_t record_count = 0;
    std::string tenant = "default_tenant";
    std::string database = "default_database";
    nlohmann::ordered_json details = nlohmann::ordered_json::object(); // source-specific (era, vector origin…)
    SourceDiagnostics diagnostics; // also in details ("status", "damage"…) for inspect --json and backups
    std::vector<std::string> warnings;
};

// Columnar so a batch's vectors are one contiguous block and buffers are reused between batches.
struct RecordBatch {
    uint32_t dim = 0;
    std::vector<std::string> ids;
    std::vector<float> embeddings; // ids.size() * dim, row-major
    std::vector<std::optional<std::string>> documents;
    std::vector<std::optional<std::string>> uris;
    std::vector<Metadata> metadatas;

    size_t size() const { return ids.size(); }
    bool empty() const { return ids.empty(); }
    const float *embedding(size_t i) const { return embeddings.data() + i * dim; }
    void clear() {
        ids.clear();
        embeddings.clear();
        documents.clear();
        uris.clear();
        metadatas.clear();
    }
    void reserve(size_t n) {
        ids.reserve(n);
        embeddings.reserve(n * dim);
        documents.reserve(n);
        uris.reserve(n);
        metadatas.reserve(n);
    }
    // Appends one record; `vec` must hold `dim` floats.
    void push(std::string id, const float *vec, std::optional<std::string> doc,
              std::optional<std::string> uri, Metadata meta) {
        ids.push_back(std::move(id));
        embeddings.insert(embeddings.end(), vec, vec + dim);
        documents.push_back(std::move(doc));
        uris.push_back(std::move(uri));
        metadatas.push_back(std::move(meta));
    }
    // Bytes of payload, for MB/s figures.
    size_t payload_bytes() const;
};

} // namespace c2p
