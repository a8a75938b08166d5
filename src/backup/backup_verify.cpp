#include "backup/backup_verify.hpp"

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "backup/backup_file_reader.hpp"
#include "backup/backup_writer.hpp"
#include "backup/manifest.hpp"
#include "util/sha256.hpp"
#include "core/record_digest.hpp"
#include "util/error.hpp"
#include "util/progress.hpp"

namespace c2p {
namespace fs = std::filesystem;

nlohmann::ordered_json BackupVerifyResult::to_json() const {
    nlohmann::ordered_json files_j = nlohmann::ordered_json::array();
    for (const auto &f : files)
        files_j.push_back({{"collection", f.collection}, {"path", f.path}, {"format", f.format},
                           {"compression", f.compression}, {"records", f.records}, {"bytes", f.bytes},
                           {"ok", f.problem.empty()}, {"problem", f.problem.empty() ? nlohmann::ordered_json(nullptr)
                                                                                     : nlohmann::ordered_json(f.problem)}});
    return {{"command", "backup verify"}, {"backup", dir}, {"created_at", created_at}, {"ok", ok()},
            {"records", records}, {"files", files_j}, {"problems", problems}};
}

namespace {

// Size and SHA-256 of a file's bytes, or nothing if it cannot be read.
std::optional<std::pair<uint64_t, std::string>> hash_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    Sha256 h;
    std::vector<char> buf(1 << 20);
    uint64_t n = 0;
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        auto got = static_cast<size_t>(in.gcount());
        h.update(buf.data(), got);
        n += got;
    }
    return std::make_pair(n, h.hex_final());
}

} // namespace

BackupVerifyResult verify_backup(const std::string &dir_in, bool show_progress) {
    BackupVerifyResult r;
    std::string dir = dir_in;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    r.dir = dir;
    if (!fs::is_directory(dir)) throw UsageError(dir + ": no such backup directory");
    std::string base = fs::path(dir).filename().string();
    if (is_partial_backup_name(base))
        r.problems.push_back(dir + ": an unfinished backup (a run that was interrupted before it completed)");

    Manifest m;
    try {
        m = read_manifest(dir);
    } catch (const DataError &e) {
        r.problems.push_back(e.what());
        return r;
    }
    r.created_at = m.created_at;
    std::set<std::string> listed{kManifestName};

    for (const auto &mc : m.collections) {
        const auto &c = mc.info;
        std::string content_of_first; // SHA-256 over the record digests, to compare formats
        std::string first_path;
        for (const auto &f : mc.files) {
            listed.insert(f.path);
            VerifiedFile vf{c.name, f.path, f.format, f.compression, 0, f.bytes, ""};
            std::string full = dir + "/" + f.path;
            if (!fs::exists(full)) {
                vf.problem = full + ": missing (listed in the manifest for collection '" + c.name + "')";
                r.problems.push_back(vf.problem);
                r.files.push_back(vf);
                continue;
            }
            Progress progress(c.name + " (" + f.path + ")", f.records, show_progress);
            try {
                BackupFileReader reader(dir, f, c);
                RecordBatch b;
                Sha256 content;
                while (reader.next(b, 1000)) {
                    for (size_t i = 0; i < b.size(); ++i) {
                        Digest d = record_digest(b, i);
                        content.update(d.data(), d.size());
                    }
                    progress.add(b.size(), b.payload_bytes());
                }
                reader.finish();
                vf.records = reader.records();
                if (c.dimension && reader.records() > 0 && reader.dimension() != *c.dimension)
                    throw DataError(fmt::format("{}: records have {} dimensions, the manifest says {}", full,
                                                reader.dimension(), *c.dimension));
                if (reader.records() != c.record_count)
                    throw DataError(fmt::format("{}: holds {} records, collection '{}' has {} in the manifest", full,
                                                reader.records(), c.name, c.record_count));
                std::string h = content.hex_final();
                if (first_path.empty()) {
                    first_path = f.path;
                    content_of_first = h;
                } else if (h != content_of_first) {
                    throw DataError(fmt::format("{}: its records differ from those in {}", full, first_path));
                }
            } catch (const Error &e) {
                vf.problem = e.what();
                r.problems.push_back(vf.problem);
                // A parse error stops the read: still say whether the bytes differ from what was written.
                std::string msg = e.what();
                if (msg.find("SHA-256") == std::string::npos) {
                    if (auto h = hash_file(full); h && (h->first != f.bytes || h->second != f.sha256))
                        r.problems.push_back(fmt::format("{}: size {} bytes and SHA-256 {} differ from the manifest's "
                                                         "{} bytes and {}", full, h->first, h->second, f.bytes,
                                                         f.sha256));
                }
            }
            progress.finish();
            r.records += vf.records;
            r.files.push_back(vf);
        }
    }
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(dir, ec)) {
        std::string name = e.path().filename().string();
        if (!listed.count(name)) r.problems.push_back(dir + "/" + name + ": not listed in the manifest (unexpected file)");
    }
    return r;
}

} // namespace c2p
