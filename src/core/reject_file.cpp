#include "core/reject_file.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include <unistd.h>

#include "core/json_text.hpp"
#include "util/error.hpp"

namespace c2p {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::string base64(std::string_view in) {
    static const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += tab[(v >> s) & 63];
    }
    if (size_t rest = in.size() - i; rest > 0) {
        uint32_t v = uint8_t(in[i]) << 16;
        if (rest == 2) v |= uint8_t(in[i + 1]) << 8;
        out += tab[(v >> 18) & 63];
        out += tab[(v >> 12) & 63];
        out += rest == 2 ? tab[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

namespace {

// Valid text as is (nlohmann escapes NUL as \u0000); invalid UTF-8 is replaced at dump time and kept raw here.
json text(std::string_view s, const std::string &field, json &raw) {
    if (!json_text::utf8_valid(s)) raw[field] = base64(s);
    return std::string(s);
}

json number(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return d;
}

json scalar(const MetaScalar &v, const std::string &field, json &raw) {
    return std::visit(
        [&](const auto &x) -> json {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) return text(x, field, raw);
            else if constexpr (std::is_same_v<T, double>) return number(x);
            else return x;
        },
        v);
}

} // namespace

json record_as_json(const RecordBatch &b, size_t i, json &raw) {
    json r = json::object();
    r["id"] = text(b.ids[i], "id", raw);
    json emb = json::array();
    const float *v = b.embedding(i);
    for (uint32_t k = 0; k < b.dim; ++k) emb.push_back(number(v[k]));
    r["embedding"] = std::move(emb);
    r["document"] = b.documents[i] ? text(*b.documents[i], "document", raw) : json(nullptr);
    r["uri"] = b.uris[i] ? text(*b.uris[i], "uri", raw) : json(nullptr);
    if (b.metadatas[i].empty()) {
        r["metadata"] = nullptr;
    } else {
        json m = json::object();
        size_t n = 0;
        for (const auto &[k, val] : b.metadatas[i]) {
            text(k, "metadata-key/" + std::to_string(n++), raw);
            std::string field = "metadata/" + k;
            if (auto *arr = std::get_if<std::vector<MetaScalar>>(&val)) {
                json a = json::array();
                for (size_t j = 0; j < arr->size(); ++j) a.push_back(scalar((*arr)[j], field + "/" + std::to_string(j), raw));
                m[k] = std::move(a);
            } else {
                m[k] = std::visit(
                    [&](const auto &x) -> json {
                        using T = std::decay_t<decltype(x)>;
                        if constexpr (std::is_same_v<T, std::vector<MetaScalar>>) return nullptr;
                        else return scalar(MetaScalar(x), field, raw);
                    },
                    val);
            }
        }
        r["metadata"] = std::move(m);
    }
    return r;
}

std::string reject_line(const RecordBatch &b, size_t i, uint64_t offset, const std::string &collection,
                        const std::string &reason, const std::string &action) {
    json raw = json::object();
    json line = json::object();
    line["collection"] = collection;
    line["offset"] = offset;
    line["id"] = b.ids[i];
    line["action"] = action;
    line["reason"] = reason;
    line["record"] = record_as_json(b, i, raw);
    if (!raw.empty()) line["raw_base64"] = std::move(raw);
    // replace: invalid UTF-8 bytes become U+FFFD (the raw bytes are in raw_base64).
    return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

RejectFile::RejectFile(std::string path, std::string collection) : path_(std::move(path)), collection_(std::move(collection)) {}

RejectFile::~RejectFile() {
    if (f_) std::fclose(f_);
}

void RejectFile::reset() {
    std::lock_guard lk(mu_);
    if (f_) std::fclose(f_);
    f_ = nullptr;
    std::error_code ec;
    fs::remove(path_, ec);
    rejected_ = escaped_ = 0;
}

void RejectFile::prune(const std::function<bool(uint64_t)> &keep) {
    std::lock_guard lk(mu_);
    if (f_) std::fclose(f_);
    f_ = nullptr;
    rejected_ = escaped_ = 0;
    std::ifstream in(path_);
    if (!in) return;
    std::vector<std::string> kept;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        json j;
        try {
            j = json::parse(line);
        } catch (...) {
            continue; // a line torn by the crash: its chunk never committed
        }
        if (!keep(j.value("offset", uint64_t(0)))) continue;
        (j.value("action", "") == "escaped" ? escaped_ : rejected_)++;
        kept.push_back(std::move(line));
    }
    in.close();
    std::string tmp = path_ + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        for (const auto &l : kept) out << l << '\n';
        if (!out) throw EnvError("cannot write the reject file " + tmp);
    }
    fs::rename(tmp, path_);
}

void RejectFile::open_locked() {
    if (f_) return;
    std::error_code ec;
    auto dir = fs::path(path_).parent_path();
    if (!dir.empty()) fs::create_directories(dir, ec);
    f_ = std::fopen(path_.c_str(), "a");
    if (!f_) throw EnvError("cannot open the reject file " + path_ + " (see --reject-dir)");
}

void RejectFile::add(const RecordBatch &b, size_t i, uint64_t offset, const std::string &reason, const std::string &action) {
    std::string line = reject_line(b, i, offset, collection_, reason, action);
    line += '\n';
    std::lock_guard lk(mu_);
    open_locked();
    if (std::fwrite(line.data(), 1, line.size(), f_) != line.size()) throw EnvError("cannot write the reject file " + path_);
    (action == "escaped" ? escaped_ : rejected_)++;
}

void RejectFile::sync() {
    std::lock_guard lk(mu_);
    if (!f_) return;
    if (std::fflush(f_) != 0 || ::fsync(fileno(f_)) != 0) throw EnvError("cannot flush the reject file " + path_);
}

uint64_t RejectFile::rejected() const {
    std::lock_guard lk(mu_);
    return rejected_;
}
uint64_t RejectFile::escaped() const {
    std::lock_guard lk(mu_);
    return escaped_;
}

} // namespace c2p
