// The per-collection data files of a backup: JSON Lines, one JSON document, or a pickle; same content.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "backup/output_file.hpp"
#include "core/record.hpp"

namespace c2p {

enum class BackupFormat { jsonl, json, pickle };

constexpr int kBackupFormatVersion = 1;

const char *format_name(BackupFormat f);        // "jsonl", "json", "pickle"
const char *format_extension(BackupFormat f);   // "jsonl", "json", "pkl"
BackupFormat parse_backup_format(const std::string &s); // throws UsageError

// One record as a JSON object: {"id","embedding","document","uri","metadata"}; floats in
// shortest round-trip float32 form; metadata with exact types (null when none).
void append_record_json(std::string &out, const RecordBatch &b, size_t i);

// What the JSON and pickle files carry about their collection (the manifest has the rest).
nlohmann::ordered_json collection_header(const CollectionInfo &c);

// Streams one collection into one file. Memory: one write buffer (~1 MB) whatever the size.
class FormatWriter {
public:
    virtual ~FormatWriter() = default;
    virtual void begin(const CollectionInfo &c) = 0;
    virtual void write(const RecordBatch &b) = 0;
    // Writes the trailer, then flushes, fsyncs and closes the file.
    virtual WrittenFile finish() = 0;
    uint64_t records() const { return records_; }

protected:
    uint64_t records_ = 0;
};

// `zstd_level` 0 = plain file.
std::unique_ptr<FormatWriter> make_format_writer(BackupFormat f, const std::string &path, int zstd_level);

} // namespace c2p
