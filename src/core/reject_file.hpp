// The per-collection reject file: one JSON line per record PostgreSQL cannot store (or that was
// stored escaped), with the record as read, the reason, and the source position it came from.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/record.hpp"

namespace c2p {

// One reject line (no trailing newline). The record as read: NaN/±Inf embedding values as the strings
// "NaN"/"Infinity"/"-Infinity"; text with invalid UTF-8 with each bad byte as U+FFFD plus the raw bytes
// in "raw_base64" keyed by field ("id", "document", "uri", "metadata/<key>", "metadata/<key>/<i>",
// "metadata-key/<n>"). NUL stays exact as \u0000. `action` is "rejected" or "escaped".
std::string reject_line(const RecordBatch &b, size_t i, uint64_t offset, const std::string &collection,
                        const std::string &reason, const std::string &action);
nlohmann::ordered_json record_as_json(const RecordBatch &b, size_t i, nlohmann::ordered_json &raw_base64);
std::string base64(std::string_view bytes);

// Thread-safe: the ranges of a collection loaded in parallel share it. The file is created on the first
// line only, so a clean run leaves nothing behind.
class RejectFile {
public:
    RejectFile(std::string path, std::string collection);
    ~RejectFile();
    RejectFile(const RejectFile &) = delete;
    RejectFile &operator=(const RejectFile &) = delete;

    // A fresh load: removes any file left by an earlier load of the collection.
    void reset();
    // A resumed load: keeps only the lines whose source offset `keep` accepts (those in committed
    // chunks; the rest will be read again) and counts them.
    void prune(const std::function<bool(uint64_t offset)> &keep);
    void add(const RecordBatch &b, size_t i, uint64_t offset, const std::string &reason, const std::string &action);
    // Flushes to disk; called before the chunk that the lines belong to commits.
    void sync();

    const std::string &path() const { return path_; }
    uint64_t rejected() const;
    uint64_t escaped() const;

private:
    void open_locked();
    std::string path_, collection_;
    mutable std::mutex mu_;
    std::FILE *f_ = nullptr;
    uint64_t rejected_ = 0, escaped_ = 0;
};

} // namespace c2p
