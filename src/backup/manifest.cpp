#include "backup/manifest.hpp"

#include <cctype>
#include <ctime>
#include <fstream>
#include <sstream>

#include "util/error.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

const json &field(const json &j, const char *key, const std::string &where) {
    if (!j.is_object() || !j.contains(key)) throw DataError(where + ": missing field '" + key + "'");
    return j[key];
}

std::string str_field(const json &j, const char *key, const std::string &where) {
    const json &v = field(j, key, where);
    if (!v.is_string()) throw DataError(where + ": field '" + key + "' is not a string");
    return v.get<std::string>();
}

uint64_t uint_field(const json &j, const char *key, const std::string &where) {
    const json &v = field(j, key, where);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
        throw DataError(where + ": field '" + key + "' is not a non-negative integer");
    return v.get<uint64_t>();
}

} // namespace

json manifest_to_json(const Manifest &m) {
    json cols = json::array();
    for (const auto &mc : m.collections) {
        const auto &c = mc.info;
        json files = json::array();
        for (const auto &f : mc.files)
            files.push_back({{"path", f.path}, {"format", f.format}, {"compression", f.compression},
                             {"bytes", f.bytes}, {"sha256", f.sha256}, {"records", f.records}});
        cols.push_back({{"id", c.id},
                        {"name", c.name},
                        {"metadata", c.metadata},
                        {"configuration", c.configuration},
                        {"space", space_name(c.space)},
                        {"dimension", c.dimension ? json(*c.dimension) : json(nullptr)},
                        {"record_count", c.record_count},
                        {"tenant", c.tenant},
                        {"database", c.database},
                        {"details", c.details},
                        {"files", files}});
    }
    return {{"format", "chroma2pg-backup"},
            {"format_version", m.format_version},
            {"tool", {{"name", m.tool}, {"version", m.tool_version}, {"git_rev", m.git_rev}}},
            {"created_at", m.created_at},
            {"source", {{"description", m.source}, {"details", m.source_details}}},
            {"collections", cols}};
}

Manifest manifest_from_json(const json &j, const std::string &where) {
    Manifest m;
    if (!j.is_object()) throw DataError(where + ": not a JSON object");
    if (j.value("format", "") != "chroma2pg-backup") throw DataError(where + ": not a chroma2pg backup manifest");
    m.format_version = static_cast<int>(uint_field(j, "format_version", where));
    if (m.format_version != 1)
        throw DataError(where + ": backup format version " + std::to_string(m.format_version) +
                        " is newer than this chroma2pg understands (1)");
    const json &tool = field(j, "tool", where);
    m.tool = str_field(tool, "name", where + " tool");
    m.tool_version = str_field(tool, "version", where + " tool");
    m.git_rev = tool.value("git_rev", "");
    m.created_at = str_field(j, "created_at", where);
    const json &src = field(j, "source", where);
    m.source = str_field(src, "description", where + " source");
    if (src.contains("details")) m.source_details = src["details"];
    const json &cols = field(j, "collections", where);
    if (!cols.is_array()) throw DataError(where + ": 'collections' is not an array");
    for (size_t i = 0; i < cols.size(); ++i) {
        const json &cj = cols[i];
        std::string w = where + " collections[" + std::to_string(i) + "]";
        ManifestCollection mc;
        auto &c = mc.info;
        c.id = str_field(cj, "id", w);
        c.name = str_field(cj, "name", w);
        c.metadata = cj.value("metadata", json(nullptr));
        c.configuration = cj.value("configuration", json(nullptr));
        c.space = parse_space(str_field(cj, "space", w));
        if (cj.contains("dimension") && !cj["dimension"].is_null())
            c.dimension = static_cast<uint32_t>(uint_field(cj, "dimension", w));
        c.record_count = uint_field(cj, "record_count", w);
        c.tenant = cj.value("tenant", "default_tenant");
        c.database = cj.value("database", "default_database");
        if (cj.contains("details") && cj["details"].is_object()) c.details = cj["details"];
        const json &files = field(cj, "files", w);
        if (!files.is_array()) throw DataError(w + ": 'files' is not an array");
        for (size_t k = 0; k < files.size(); ++k) {
            std::string fw = w + " files[" + std::to_string(k) + "]";
            ManifestFile f;
            f.path = str_field(files[k], "path", fw);
            if (f.path.empty() || f.path.find('/') != std::string::npos || f.path[0] == '.')
                throw DataError(fw + ": unsafe file path '" + f.path + "'");
            f.format = str_field(files[k], "format", fw);
            f.compression = str_field(files[k], "compression", fw);
            if (f.compression != "none" && f.compression != "zstd")
                throw DataError(fw + ": unknown compression '" + f.compression + "'");
            f.bytes = uint_field(files[k], "bytes", fw);
            f.sha256 = str_field(files[k], "sha256", fw);
            f.records = uint_field(files[k], "records", fw);
            mc.files.push_back(std::move(f));
        }
        m.collections.push_back(std::move(mc));
    }
    return m;
}

Manifest read_manifest(const std::string &dir) {
    std::string path = dir + "/" + kManifestName;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(path + ": cannot be read (not a complete chroma2pg backup?)");
    std::stringstream ss;
    ss << in.rdbuf();
    json j;
    try {
        j = json::parse(ss.str());
    } catch (const std::exception &e) {
        throw DataError(path + ": not valid JSON: " + e.what());
    }
    return manifest_from_json(j, path);
}

std::string safe_file_stem(const std::string &name, const std::string &id) {
    std::string stem;
    for (char ch : name) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                  ch == '_';
        stem.push_back(ok ? ch : '_');
        if (stem.size() >= 80) break;
    }
    if (stem.empty()) stem = "collection";
    std::string short_id;
    for (char ch : id) {
        if (std::isxdigit(static_cast<unsigned char>(ch))) short_id.push_back(static_cast<char>(std::tolower(ch)));
        if (short_id.size() == 32) break;
    }
    if (short_id.empty()) short_id = "noid";
    return stem + "." + short_id;
}

} // namespace c2p
