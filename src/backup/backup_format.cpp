#include "backup/backup_format.hpp"

#include "backup/pickle_writer.hpp"
#include "core/json_text.hpp"
#include "core/metadata_json.hpp"
#include "util/error.hpp"

namespace c2p {
namespace {

constexpr size_t kFlushBytes = 1 << 20;

// JSON and pickle need valid UTF-8; say which record and field is not, rather than write a broken file.
void check_utf8(const RecordBatch &b, size_t i, std::string_view field, std::string_view s) {
    if (!json_text::utf8_valid(s))
        throw DataError("record '" + std::string(json_text::utf8_valid(b.ids[i]) ? b.ids[i] : "<invalid utf-8 id>") +
                        "': its " + std::string(field) + " is not valid UTF-8 and cannot be written to a backup");
}

void append_optional_string(std::string &out, const RecordBatch &b, size_t i, std::string_view field,
                            const std::optional<std::string> &s) {
    if (!s) {
        out.append("null");
        return;
    }
    check_utf8(b, i, field, *s);
    json_text::append_string(out, *s);
}

// Base for the three formats: a text buffer flushed to the file in ~1 MB pieces.
class BufferedWriter : public FormatWriter {
public:
    BufferedWriter(const std::string &path, int zstd_level) : file_(path, zstd_level) { buf_.reserve(kFlushBytes * 2); }

protected:
    void maybe_flush() {
        if (buf_.size() >= kFlushBytes) flush();
    }
    void flush() {
        file_.write(buf_);
        buf_.clear();
    }
    WrittenFile close() {
        flush();
        return file_.finish();
    }
    OutputFile file_;
    std::string buf_;
};

class JsonlWriter : public BufferedWriter {
public:
    using BufferedWriter::BufferedWriter;
    void begin(const CollectionInfo &) override {}
    void write(const RecordBatch &b) override {
        for (size_t i = 0; i < b.size(); ++i) {
            append_record_json(buf_, b, i);
            buf_.push_back('\n');
            ++records_;
            maybe_flush();
        }
    }
    WrittenFile finish() override { return close(); }
};

// Layout (one record per line, so `verify` and the reader stream it line by line):
//   {"format":…,"format_version":1,"collection":{…},"records":[
//   {record},
//   {record}
//   ],"record_count":N}
class JsonWriter : public BufferedWriter {
public:
    using BufferedWriter::BufferedWriter;
    void begin(const CollectionInfo &c) override {
        nlohmann::ordered_json head = {{"format", "chroma2pg-backup-json"}, {"format_version", kBackupFormatVersion},
                                       {"collection", collection_header(c)}};
        std::string h = head.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
        h.pop_back(); // reopen the object
        buf_.append(h);
        buf_.append(",\"records\":[");
    }
    void write(const RecordBatch &b) override {
        for (size_t i = 0; i < b.size(); ++i) {
            buf_.append(records_ == 0 ? "\n" : ",\n");
            append_record_json(buf_, b, i);
            ++records_;
            maybe_flush();
        }
    }
    WrittenFile finish() override {
        buf_.append("\n],\"record_count\":");
        buf_.append(std::to_string(records_));
        buf_.append("}\n");
        return close();
    }
};

// A top-level dict {"format", "format_version", "collection", "records": [...], "record_count"};
// records are appended in MARK…APPENDS chunks of kAppendsChunk.
class PickleWriter : public BufferedWriter {
public:
    using BufferedWriter::BufferedWriter;
    void begin(const CollectionInfo &c) override {
        pickle::put_proto(buf_);
        buf_.push_back(pickle::EMPTY_DICT);
        buf_.push_back(pickle::MARK);
        pickle::put_str(buf_, "format");
        pickle::put_str(buf_, "chroma2pg-backup-pickle");
        pickle::put_str(buf_, "format_version");
        pickle::put_int(buf_, kBackupFormatVersion);
        pickle::put_str(buf_, "collection");
        pickle::put_json(buf_, collection_header(c));
        pickle::put_str(buf_, "records");
        buf_.push_back(pickle::EMPTY_LIST);
    }
    void write(const RecordBatch &b) override {
        for (size_t i = 0; i < b.size(); ++i) {
            if (in_chunk_ == 0) buf_.push_back(pickle::MARK);
            pickle::put_record(buf_, b, i);
            ++records_;
            if (++in_chunk_ == pickle::kAppendsChunk) close_chunk();
            maybe_flush();
        }
    }
    WrittenFile finish() override {
        close_chunk();
        pickle::put_str(buf_, "record_count");
        pickle::put_int(buf_, static_cast<int64_t>(records_));
        buf_.push_back(pickle::SETITEMS);
        buf_.push_back(pickle::STOP);
        return close();
    }

private:
    void close_chunk() {
        if (in_chunk_ == 0) return;
        buf_.push_back(pickle::APPENDS);
        in_chunk_ = 0;
    }
    size_t in_chunk_ = 0;
};

} // namespace

const char *format_name(BackupFormat f) {
    switch (f) {
    case BackupFormat::jsonl: return "jsonl";
    case BackupFormat::json: return "json";
    case BackupFormat::pickle: return "pickle";
    }
    return "?";
}

const char *format_extension(BackupFormat f) {
    switch (f) {
    case BackupFormat::jsonl: return "jsonl";
    case BackupFormat::json: return "json";
    case BackupFormat::pickle: return "pkl";
    }
    return "?";
}

BackupFormat parse_backup_format(const std::string &s) {
    if (s == "jsonl") return BackupFormat::jsonl;
    if (s == "json") return BackupFormat::json;
    if (s == "pickle" || s == "pkl") return BackupFormat::pickle;
    throw UsageError("unknown backup format '" + s + "' (use jsonl, json or pickle)");
}

void append_record_json(std::string &out, const RecordBatch &b, size_t i) {
    out.append("{\"id\":");
    check_utf8(b, i, "id", b.ids[i]);
    json_text::append_string(out, b.ids[i]);
    out.append(",\"embedding\":[");
    const float *v = b.embedding(i);
    for (uint32_t d = 0; d < b.dim; ++d) {
        if (d) out.push_back(',');
        json_text::append_float32(out, v[d]);
    }
    out.append("],\"document\":");
    append_optional_string(out, b, i, "document", b.documents[i]);
    out.append(",\"uri\":");
    append_optional_string(out, b, i, "uri", b.uris[i]);
    out.append(",\"metadata\":");
    append_metadata_json(out, b.metadatas[i]);
    out.push_back('}');
}

nlohmann::ordered_json collection_header(const CollectionInfo &c) {
    return {{"id", c.id},
            {"name", c.name},
            {"metadata", c.metadata},
            {"configuration", c.configuration},
            {"space", space_name(c.space)},
            {"dimension", c.dimension ? nlohmann::ordered_json(*c.dimension) : nlohmann::ordered_json(nullptr)},
            {"tenant", c.tenant},
            {"database", c.database}};
}

std::unique_ptr<FormatWriter> make_format_writer(BackupFormat f, const std::string &path, int zstd_level) {
    switch (f) {
    case BackupFormat::jsonl: return std::make_unique<JsonlWriter>(path, zstd_level);
    case BackupFormat::json: return std::make_unique<JsonWriter>(path, zstd_level);
    case BackupFormat::pickle: return std::make_unique<PickleWriter>(path, zstd_level);
    }
    throw UsageError("unknown backup format");
}

} // namespace c2p
