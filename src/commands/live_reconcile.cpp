#include "commands/live_reconcile.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "target/native_layout.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {

// Staging ids are read through a cursor, this many at a time.
constexpr int kIdChunk = 50000;

// Ids the reject file lists as rejected: in the source, kept out of the table on purpose.
std::vector<std::string> rejected_ids(const std::string &path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        try {
            auto j = nlohmann::json::parse(line);
            if (j.value("action", "") == "rejected" && j.contains("id") && j["id"].is_string())
                out.push_back(j["id"].get<std::string>());
        } catch (...) { // a line torn by a crash: its chunk never committed
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Yields a batch already read, then the rest of the reader.
class PeekedReader : public BatchReader {
public:
    PeekedReader(BatchReader &inner, RecordBatch first) : inner_(inner), first_(std::move(first)) {}
    bool next(RecordBatch &out) override {
        if (!given_) {
            given_ = true;
            std::swap(out, first_);
            return true;
        }
        return inner_.next(out);
    }

private:
    BatchReader &inner_;
    RecordBatch first_;
    bool given_ = false;
};

} // namespace

IdDiff diff_against_listing(PgConnection &pg, std::vector<std::string> listed, const std::string &id_query) {
    IdDiff out;
    std::sort(listed.begin(), listed.end());
    listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
    out.listed = listed.size();
    std::vector<uint8_t> seen(listed.size(), 0);
    pg.exec("DECLARE c2p_listing_diff NO SCROLL CURSOR FOR " + id_query);
    for (;;) {
        auto r = pg.exec(fmt::format("FETCH {} FROM c2p_listing_diff", kIdChunk));
        for (int k = 0; k < r.rows(); ++k) {
            std::string id = r.text(k, 0);
            auto it = std::lower_bound(listed.begin(), listed.end(), id);
            if (it == listed.end() || *it != id) ++out.extra;
            else if (seen[size_t(it - listed.begin())]++) ++out.duplicates;
        }
        if (r.rows() < kIdChunk) break;
    }
    pg.exec("CLOSE c2p_listing_diff");
    for (size_t i = 0; i < listed.size(); ++i)
        if (!seen[i]) out.missing.push_back(std::move(listed[i]));
    return out;
}

LiveCheck reconcile_with_live_source(Source &source, const CollectionInfo &c, size_t batch_size, PgConnection &pg,
                                     const std::string &schema, const std::string &staging,
                                     const std::string &reject_path, const std::function<uint64_t(BatchReader &)> &load) {
    LiveCheck out;
    const auto t0 = std::chrono::steady_clock::now();
    auto live = source.live_ids(c);
    if (!live) return out;
    out.checked = true;
    out.consistent = live->consistent;
    const std::string table = qualified(schema, staging);
    pg.exec("BEGIN");
    IdDiff diff;
    try {
        diff = diff_against_listing(pg, std::move(live->ids), "SELECT id FROM " + table);
        pg.exec("COMMIT");
    } catch (...) {
        pg.rollback_quietly();
        throw;
    }
    out.listed = diff.listed;
    out.deleted = diff.extra;
    out.duplicates = diff.duplicates;
    if (out.duplicates > 0) {
        // Ranges read in parallel: a deletion moved records from one range's part into the part an
        // earlier range had still to read. Both copies are the same record; one goes.
        pg.exec("DELETE FROM " + table + " a USING " + table + " b WHERE a.id = b.id AND a.ctid > b.ctid");
        log::warn("live_source", fmt::format("collection '{}': {} record(s) were read twice (records deleted while the "
                                             "ranges were read in parallel); the extra copies were removed",
                                             c.name, out.duplicates),
                  {{"collection", c.name}, {"duplicates", out.duplicates}});
    }
    auto rejected = rejected_ids(reject_path);
    std::vector<std::string> missing;
    for (auto &id : diff.missing)
        if (!std::binary_search(rejected.begin(), rejected.end(), id)) missing.push_back(std::move(id));
    diff.missing.clear();
    diff.missing.shrink_to_fit();
    if (!missing.empty()) {
        auto reader = source.read_ids(c, std::move(missing), batch_size);
        RecordBatch first;
        if (reader->next(first)) {
            PeekedReader rest(*reader, std::move(first));
            out.fetched = load(rest);
        }
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

std::string sync_command(const std::string &source, const SourceOptions &so, const std::string &to,
                         const std::string &schema, const std::vector<std::string> &collections) {
    std::string cmd = "chroma2pg sync --from " + source;
    if (so.tenant != SourceOptions{}.tenant) cmd += " --tenant " + so.tenant;
    if (so.database != SourceOptions{}.database) cmd += " --database " + so.database;
    // The target as given, without its password (the command is printed): libpq then takes it from
    // PGPASSWORD or ~/.pgpass. No --to: DATABASE_URL / the PG* variables, as for this run.
    std::string t = to;
    bool no_password = false;
    if (auto scheme = t.find("://"); scheme != std::string::npos) {
        auto at = t.find('@', scheme + 3);
        auto colon = t.find(':', scheme + 3);
        if (at != std::string::npos && colon != std::string::npos && colon < at) {
            t.erase(colon, at - colon);
            no_password = true;
        }
    } else if (auto pw = t.find("password="); pw != std::string::npos) {
        auto end = t.find(' ', pw);
        t.erase(pw, end == std::string::npos ? std::string::npos : end - pw + 1);
        no_password = true;
    }
    if (!t.empty()) cmd += " --to '" + t + "'";
    if (schema != "public") cmd += " --schema " + schema;
    std::string list;
    for (const auto &n : collections) list += (list.empty() ? "" : ",") + n;
    if (!list.empty()) cmd += " --collections '" + list + "'";
    if (no_password) cmd += "   (with the password in PGPASSWORD or ~/.pgpass)";
    return cmd;
}

} // namespace c2p
