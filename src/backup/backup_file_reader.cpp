#include "backup/backup_file_reader.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <simdjson.h>

#include "backup/input_file.hpp"
#include "backup/pickle_writer.hpp"
#include "core/metadata_json.hpp"
#include "util/error.hpp"

namespace c2p {

namespace {

using json = nlohmann::ordered_json;
namespace od = simdjson::ondemand;

std::string_view trim_token(std::string_view raw) {
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
        raw.remove_suffix(1);
    return raw;
}

// Our own number text decides the type: a fraction or exponent is a float, else an int.
MetaScalar scalar_from_value(od::value v, std::string_view key) {
    switch (v.type()) {
    case od::json_type::boolean: return bool(v.get_bool());
    case od::json_type::string: return std::string(std::string_view(v.get_string()));
    case od::json_type::number: {
        std::string_view raw = trim_token(v.raw_json_token());
        if (raw.find_first_of(".eE") != std::string_view::npos) {
            double d;
            auto r = std::from_chars(raw.data(), raw.data() + raw.size(), d);
            if (r.ec == std::errc() && r.ptr == raw.data() + raw.size()) return d;
        } else {
            int64_t i;
            auto r = std::from_chars(raw.data(), raw.data() + raw.size(), i);
            if (r.ec == std::errc() && r.ptr == raw.data() + raw.size()) return i;
        }
        throw DataError("metadata key '" + std::string(key) + "': number " + std::string(raw) +
                        " does not fit a 64-bit int or double");
    }
    default: throw DataError("metadata key '" + std::string(key) + "': unsupported value type");
    }
}

Metadata metadata_from_value(od::object obj) {
    Metadata m;
    for (auto field : obj) {
        std::string key(std::string_view(field.unescaped_key()));
        od::value v = field.value();
        od::json_type t = v.type();
        if (t == od::json_type::null) continue;
        if (t == od::json_type::array) {
            std::vector<MetaScalar> arr;
            for (auto e : v.get_array()) arr.push_back(scalar_from_value(e.value(), key));
            m.emplace_back(std::move(key), std::move(arr));
        } else {
            std::visit([&](auto &&x) { m.emplace_back(key, MetaValue(std::move(x))); }, scalar_from_value(v, key));
        }
    }
    return m;
}

} // namespace

class BackupFileReader::Impl {
public:
    Impl(const std::string &dir, const ManifestFile &f, const CollectionInfo &c)
        : mf_(f), path_(dir + "/" + f.path), in_(path_, f.compression == "zstd") {
        dim_ = c.dimension.value_or(0);
        if (f.format == "jsonl") fmt_ = Fmt::jsonl;
        else if (f.format == "json") fmt_ = Fmt::json;
        else if (f.format == "pickle") fmt_ = Fmt::pickle;
        else throw DataError(path_ + ": unknown format '" + f.format + "' in the manifest");
    }

    bool next(RecordBatch &out, size_t max) {
        out.clear();
        out.dim = dim_;
        if (done_) return false;
        if (!started_) {
            started_ = true;
            if (fmt_ == Fmt::json) json_header();
            if (fmt_ == Fmt::pickle) pickle_header();
        }
        while (out.size() < max && !done_) {
            if (fmt_ == Fmt::pickle) pickle_step(out);
            else line_step(out);
        }
        return !out.empty();
    }

    void finish() {
        if (!done_) throw DataError(path_ + ": finish() before the end of the data");
        if (fmt_ != Fmt::pickle) {
            // Nothing but the end may follow the last line.
            std::string rest;
            while (in_.read_line(rest)) {
                ++line_;
                if (!rest.empty()) throw DataError(fmt::format("{} line {}: unexpected data after the end", path_, line_));
            }
        } else if (!in_.at_end()) {
            throw DataError(fmt::format("{}: unexpected data after the pickle STOP (decoded offset {})", path_,
                                        in_.decoded_offset()));
        }
        in_.drain();
        std::string sha = in_.sha256_hex();
        // Every difference at once: a truncated file shows as fewer records, fewer bytes and another hash.
        std::vector<std::string> diffs;
        if (records_ != mf_.records) diffs.push_back(fmt::format("holds {} records, the manifest says {}", records_, mf_.records));
        if (in_.disk_bytes() != mf_.bytes)
            diffs.push_back(fmt::format("size is {} bytes, the manifest says {}", in_.disk_bytes(), mf_.bytes));
        if (sha != mf_.sha256)
            diffs.push_back(fmt::format("SHA-256 is {}, the manifest says {} (the file was changed or damaged)", sha,
                                        mf_.sha256));
        if (!diffs.empty()) {
            std::string msg = path_ + ": ";
            for (size_t i = 0; i < diffs.size(); ++i) msg += (i ? "; " : "") + diffs[i];
            throw DataError(msg);
        }
    }

    uint64_t records_ = 0;
    uint32_t dim_ = 0;

private:
    enum class Fmt { jsonl, json, pickle };

    // ---------------------------------------------------------------- jsonl / json, line by line
    void json_header() {
        if (!in_.read_line(line_buf_)) throw DataError(path_ + ": empty file (expected the JSON header line)");
        line_ = 1;
        const std::string tail = "\"records\":[";
        if (line_buf_.size() < tail.size() || line_buf_.compare(line_buf_.size() - tail.size(), tail.size(), tail) != 0)
            throw DataError(path_ + " line 1: not a chroma2pg JSON backup header (expected it to end with \"records\":[)");
        try {
            auto h = json::parse(line_buf_ + "]}");
            if (h.value("format", "") != "chroma2pg-backup-json")
                throw DataError(path_ + " line 1: not a chroma2pg JSON backup (format field)");
        } catch (const nlohmann::json::exception &e) {
            throw DataError(path_ + " line 1: the header is not valid JSON: " + e.what());
        }
    }

    void line_step(RecordBatch &out) {
        if (!in_.read_line(line_buf_)) {
            if (fmt_ == Fmt::json)
                throw DataError(fmt::format("{} line {}: the file ends before the closing ],\"record_count\" line "
                                            "(truncated?)", path_, line_ + 1));
            done_ = true;
            return;
        }
        ++line_;
        if (in_.last_line_unterminated() && fmt_ == Fmt::jsonl)
            throw DataError(fmt::format("{} line {}: the last line has no newline (file truncated?)", path_, line_));
        std::string_view text = line_buf_;
        if (fmt_ == Fmt::json) {
            const std::string_view trailer = "],\"record_count\":";
            if (text.rfind(trailer, 0) == 0) {
                if (pending_comma_)
                    throw DataError(fmt::format("{} line {}: a record line ends with ',' but no record follows", path_,
                                                line_ - 1));
                std::string_view num = text.substr(trailer.size());
                if (num.empty() || num.back() != '}')
                    throw DataError(fmt::format("{} line {}: malformed closing line", path_, line_));
                num.remove_suffix(1);
                uint64_t n = 0;
                auto r = std::from_chars(num.data(), num.data() + num.size(), n);
                if (r.ec != std::errc() || r.ptr != num.data() + num.size())
                    throw DataError(fmt::format("{} line {}: malformed record_count", path_, line_));
                if (n != records_)
                    throw DataError(fmt::format("{} line {}: record_count says {} but {} records precede it", path_,
                                                line_, n, records_));
                done_ = true;
                return;
            }
            if (records_ > 0 && !pending_comma_)
                throw DataError(fmt::format("{} line {}: the previous record line lacks its ','", path_, line_));
            pending_comma_ = !text.empty() && text.back() == ',';
            if (pending_comma_) text.remove_suffix(1);
        }
        parse_record(text, out);
    }

    void parse_record(std::string_view text, RecordBatch &out) {
        std::string where = fmt::format("{} line {}", path_, line_);
        if (text.empty()) throw DataError(where + ": empty line");
        padded_.assign(text.data(), text.size());
        padded_.resize(text.size() + simdjson::SIMDJSON_PADDING);
        floats_.clear();
        std::optional<std::string> id, doc, uri;
        bool have_emb = false;
        Metadata meta;
        try {
            od::document d = parser_.iterate(padded_.data(), text.size(), padded_.size());
            od::object obj = d.get_object();
            for (auto field : obj) {
                std::string_view key = field.unescaped_key();
                od::value v = field.value();
                if (key == "id") {
                    id = std::string(std::string_view(v.get_string()));
                } else if (key == "embedding") {
                    have_emb = true;
                    for (auto x : v.get_array()) {
                        std::string_view raw = trim_token(x.value().raw_json_token());
                        float f;
                        auto r = std::from_chars(raw.data(), raw.data() + raw.size(), f);
                        if (r.ec != std::errc() || r.ptr != raw.data() + raw.size() || !std::isfinite(f))
                            throw DataError(where + ": embedding value '" + std::string(raw) + "' is not a finite float32");
                        floats_.push_back(f);
                    }
                } else if (key == "document" || key == "uri") {
                    auto &dst = key == "document" ? doc : uri;
                    if (!v.is_null()) dst = std::string(std::string_view(v.get_string()));
                } else if (key == "metadata") {
                    if (!v.is_null()) meta = metadata_from_value(v.get_object());
                } else {
                    throw DataError(where + ": unexpected field '" + std::string(key) + "'");
                }
            }
            // Past the object, only the end of the line may remain.
            const char *loc = nullptr;
            if (d.current_location().get(loc) == simdjson::SUCCESS) {
                std::string_view rest(loc, text.size() - static_cast<size_t>(loc - padded_.data()));
                if (rest.find_first_not_of(" \t\r") != std::string_view::npos)
                    throw DataError(where + ": trailing data after the record object");
            }
        } catch (const simdjson::simdjson_error &e) {
            throw DataError(where + ": not a valid record: " + e.what());
        } catch (const DataError &e) {
            std::string msg = e.what();
            if (msg.rfind(path_, 0) == 0) throw;
            throw DataError(where + ": " + msg);
        }
        if (!id) throw DataError(where + ": the record has no id");
        if (!have_emb) throw DataError(where + ": record '" + *id + "' has no embedding");
        add(out, std::move(*id), std::move(doc), std::move(uri), std::move(meta), where);
    }

    void add(RecordBatch &out, std::string id, std::optional<std::string> doc, std::optional<std::string> uri,
             Metadata meta, const std::string &where) {
        if (dim_ == 0) dim_ = static_cast<uint32_t>(floats_.size());
        if (floats_.size() != dim_)
            throw DataError(fmt::format("{}: record '{}' has {} dimensions, expected {}", where, id, floats_.size(), dim_));
        out.dim = dim_;
        out.push(std::move(id), floats_.data(), std::move(doc), std::move(uri), std::move(meta));
        ++records_;
    }

    // ---------------------------------------------------------------- pickle
    unsigned char op() {
        char c;
        in_.read_exact(&c, 1);
        return static_cast<unsigned char>(c);
    }
    unsigned char peek() {
        if (!peeked_) {
            peek_ = op();
            peeked_ = true;
        }
        return peek_;
    }
    unsigned char take() {
        if (peeked_) {
            peeked_ = false;
            return peek_;
        }
        return op();
    }
    std::string pwhere() const {
        return fmt::format("{} (pickle, record #{}, decoded offset {})", path_, records_, in_.decoded_offset());
    }
    void expect(unsigned char want, const char *what) {
        unsigned char got = take();
        if (got != want) throw DataError(fmt::format("{}: expected {}, found opcode 0x{:02x}", pwhere(), what, got));
    }
    uint32_t u32() {
        unsigned char b[4];
        in_.read_exact(reinterpret_cast<char *>(b), 4);
        return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
    }

    // One value of the subset our writer emits (plus SHORT_BINUNICODE and memo puts, harmlessly).
    json value(int depth = 0) {
        if (depth > 64) throw DataError(pwhere() + ": nesting too deep");
        unsigned char o = take();
        switch (o) {
        case pickle::NONE: return nullptr;
        case pickle::NEWTRUE: return true;
        case pickle::NEWFALSE: return false;
        case pickle::BININT1: return int64_t(op());
        case pickle::BININT: return int64_t(int32_t(u32()));
        case pickle::LONG1: {
            unsigned n = op();
            if (n == 0) return int64_t(0);
            if (n > 8) throw DataError(pwhere() + ": integer wider than 64 bits");
            unsigned char b[8];
            in_.read_exact(reinterpret_cast<char *>(b), n);
            uint64_t u = 0;
            for (unsigned i = 0; i < n; ++i) u |= uint64_t(b[i]) << (8 * i);
            if (n < 8 && (b[n - 1] & 0x80)) u |= ~uint64_t(0) << (8 * n);
            return static_cast<int64_t>(u);
        }
        case pickle::BINFLOAT: {
            unsigned char b[8];
            in_.read_exact(reinterpret_cast<char *>(b), 8);
            uint64_t u = 0;
            for (int i = 0; i < 8; ++i) u = (u << 8) | b[i];
            return std::bit_cast<double>(u);
        }
        case pickle::BINUNICODE:
        case 0x8c: { // SHORT_BINUNICODE
            uint32_t n = o == 0x8c ? op() : u32();
            if (n > (1u << 30)) throw DataError(pwhere() + ": implausible string length " + std::to_string(n));
            std::string s(n, '\0');
            in_.read_exact(s.data(), n);
            return s;
        }
        case pickle::EMPTY_LIST: {
            json arr = json::array();
            if (peek() == pickle::MARK) {
                take();
                while (peek() != pickle::APPENDS) arr.push_back(value(depth + 1));
                take();
            }
            return arr;
        }
        case pickle::EMPTY_DICT: {
            json obj = json::object();
            if (peek() == pickle::MARK) {
                take();
                while (peek() != pickle::SETITEMS) {
                    json k = value(depth + 1);
                    if (!k.is_string()) throw DataError(pwhere() + ": a dict key is not a string");
                    obj[k.get<std::string>()] = value(depth + 1);
                }
                take();
            }
            return obj;
        }
        default: throw DataError(fmt::format("{}: unexpected opcode 0x{:02x}", pwhere(), o));
        }
    }

    void pickle_header() {
        expect(pickle::PROTO, "PROTO");
        unsigned char proto = op();
        if (proto < 2 || proto > 5) throw DataError(pwhere() + ": unsupported pickle protocol " + std::to_string(proto));
        expect(pickle::EMPTY_DICT, "the top-level dict");
        expect(pickle::MARK, "MARK");
        for (;;) {
            json k = value();
            if (!k.is_string()) throw DataError(pwhere() + ": a top-level key is not a string");
            if (k == "records") break;
            json v = value();
            if (k == "format" && v != "chroma2pg-backup-pickle")
                throw DataError(pwhere() + ": not a chroma2pg pickle backup");
        }
        expect(pickle::EMPTY_LIST, "the records list");
    }

    void pickle_step(RecordBatch &out) {
        if (!in_chunk_) {
            if (peek() == pickle::MARK) {
                take();
                in_chunk_ = true;
                return;
            }
            // The records list is complete: the trailer keys, SETITEMS, STOP.
            bool count_seen = false;
            while (peek() != pickle::SETITEMS) {
                json k = value();
                json v = value();
                if (k == "record_count") {
                    count_seen = true;
                    if (!v.is_number_integer() || v.get<uint64_t>() != records_)
                        throw DataError(fmt::format("{}: record_count says {} but the list holds {} records", pwhere(),
                                                    v.dump(), records_));
                }
            }
            take();
            expect(pickle::STOP, "STOP");
            if (!count_seen) throw DataError(pwhere() + ": no record_count after the records");
            done_ = true;
            return;
        }
        if (peek() == pickle::APPENDS) {
            take();
            in_chunk_ = false;
            return;
        }
        std::string where = pwhere();
        json r = value();
        if (!r.is_object()) throw DataError(where + ": a record is not a dict");
        auto str_or_null = [&](const char *key) -> std::optional<std::string> {
            if (!r.contains(key) || r[key].is_null()) return std::nullopt;
            if (!r[key].is_string()) throw DataError(where + ": record field '" + key + "' is not a string");
            return r[key].get<std::string>();
        };
        if (!r.contains("id") || !r["id"].is_string()) throw DataError(where + ": record without a string id");
        if (!r.contains("embedding") || !r["embedding"].is_array())
            throw DataError(where + ": record without an embedding list");
        floats_.clear();
        for (const auto &x : r["embedding"]) {
            if (!x.is_number_float()) throw DataError(where + ": an embedding value is not a float");
            double d = x.get<double>();
            float f = static_cast<float>(d);
            if (static_cast<double>(f) != d || !std::isfinite(f))
                throw DataError(fmt::format("{}: embedding value {} is not a finite float32", where, d));
            floats_.push_back(f);
        }
        Metadata meta;
        try {
            if (r.contains("metadata")) meta = metadata_from_nlohmann(r["metadata"]);
        } catch (const DataError &e) {
            throw DataError(where + ": " + e.what());
        }
        add(out, r["id"].get<std::string>(), str_or_null("document"), str_or_null("uri"), std::move(meta), where);
    }

    ManifestFile mf_;
    std::string path_;
    InputFile in_;
    Fmt fmt_ = Fmt::jsonl;
    bool started_ = false, done_ = false, pending_comma_ = false, in_chunk_ = false;
    uint64_t line_ = 0;
    std::string line_buf_, padded_;
    std::vector<float> floats_;
    od::parser parser_;
    bool peeked_ = false;
    unsigned char peek_ = 0;
};

BackupFileReader::BackupFileReader(const std::string &dir, const ManifestFile &f, const CollectionInfo &c)
    : impl_(std::make_unique<Impl>(dir, f, c)) {}
BackupFileReader::~BackupFileReader() = default;
bool BackupFileReader::next(RecordBatch &out, size_t max) { return impl_->next(out, max); }
void BackupFileReader::finish() { impl_->finish(); }
uint64_t BackupFileReader::records() const { return impl_->records_; }
uint32_t BackupFileReader::dimension() const { return impl_->dim_; }

} // namespace c2p
