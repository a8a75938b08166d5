#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "util/sha256.hpp"
#include "commands/commands.hpp"
#include "commands/common.hpp"
#include "commands/run_summary.hpp"
#include "pipeline/pipeline.hpp"
#include "sources/backup/backup_source.hpp"
#include "sources/http/chroma_http_source.hpp"
#include "sources/http/chroma_http_writer.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/progress.hpp"

namespace c2p {
namespace {

struct RestoreArgs {
    std::string from, to;
    std::vector<std::string> collections, exclude_collections, renames;
    SourceOptions target; // tenant, database, token… of the Chroma server written to
    bool overwrite = false;
    size_t batch_size = 1000;
    size_t max_body_mb = 8;
    std::string summary; // --summary FILE
    std::string reject_dir = "chroma2pg-rejects";
    int retries = 8;
};

// What the staging collections are tagged with: a backup is known by its manifest (creation time and
// hash), any other source by its description.
struct OriginBase {
    std::string stamp;  // yyyymmddThhmmssZ, or "src"
    std::string secret; // hashed with the collection id into the tag
    std::string label;
};

OriginBase origin_base(const std::string &from, Source &source) {
    auto *backup = dynamic_cast<BackupSource *>(&source);
    if (!backup) return {"src", "source:" + source.describe(), "source " + source.describe()};
    std::ifstream f(std::filesystem::path(from) / kManifestName, std::ios::binary);
    std::stringstream bytes;
    bytes << f.rdbuf();
    if (!f) throw EnvError("cannot read " + (std::filesystem::path(from) / kManifestName).string());
    const std::string &made = backup->manifest().created_at;
    std::string stamp;
    for (char ch : made)
        if (ch != '-' && ch != ':') stamp.push_back(ch);
    // A hand-made manifest's odd time: the tag then rests on the hash alone.
    bool ok = stamp.size() == 16 && stamp[8] == 'T' && stamp[15] == 'Z';
    for (size_t i = 0; ok && i < 15; ++i) ok = i == 8 || (stamp[i] >= '0' && stamp[i] <= '9');
    return {ok ? stamp : "src", "manifest:" + sha256_hex(bytes.str()),
            fmt::format("backup {} (made {})", backup->describe(), made)};
}

RestoreOrigin origin_of(const OriginBase &base, const CollectionInfo &c) {
    std::string h = sha256_hex(base.secret + "\n" + c.id).substr(0, 8);
    return {(base.stamp == "src" ? "src-" : base.stamp + "-") + h, base.label};
}

std::map<std::string, std::string> parse_renames(const std::vector<std::string> &list) {
    std::map<std::string, std::string> out;
    for (const auto &r : list) {
        auto eq = r.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == r.size())
            throw UsageError("--rename '" + r + "': expected OLD=NEW");
        if (!out.emplace(r.substr(0, eq), r.substr(eq + 1)).second)
            throw UsageError("--rename: '" + r.substr(0, eq) + "' is renamed twice");
    }
    return out;
}

void run_restore(RestoreArgs &a) {
    interrupt::install(); // Ctrl-C stops at a batch boundary and says what was kept
    auto &g = global_options();
    if (a.batch_size == 0) throw UsageError("--batch-size must be at least 1");
    if (a.retries < 1) throw UsageError("--retries must be at least 1");
    if (a.to.rfind("http://", 0) != 0 && a.to.rfind("https://", 0) != 0)
        throw UsageError("--to-chroma " + a.to + ": expected the Chroma server URL (http[s]://host:port)");
    auto renames = parse_renames(a.renames);
    auto source = open_source(a.from, SourceOptions{});
    auto cols = select_collections(*source, a.collections, a.exclude_collections);
    for (const auto &[old_name, _] : renames) {
        bool found = false;
        for (const auto &c : cols) found = found || c.name == old_name;
        if (!found) throw UsageError("--rename: no collection '" + old_name + "' among those restored");
    }
    SourceOptions to = a.target;
    resolve_token(to);
    ChromaHttpSource server(a.to, to);
    ChromaWriterOptions wo{to.tenant, to.database, to.token, to.token_header, to.insecure_tls, a.overwrite,
                           a.max_body_mb << 20, a.reject_dir};
    const OriginBase origin = origin_base(a.from, *source);

    // Refuse before writing anything: duplicate targets, or existing non-empty collections or interrupted
    // restores from another backup without --overwrite.
    std::vector<std::string> targets, refused, foreign;
    std::set<std::string> seen;
    for (const auto &c : cols) {
        auto it = renames.find(c.name);
        std::string t = it == renames.end() ? c.name : it->second;
        if (!seen.insert(t).second) throw UsageError("two collections would be restored as '" + t + "'; use --rename");
        targets.push_back(t);
        ChromaHttpWriter probe(server, a.to, wo, t, origin_of(origin, c));
        auto st = probe.lookup(t);
        if (st.exists && st.count > 0 && !a.overwrite) refused.push_back(fmt::format("'{}' ({} records)", t, st.count));
        if (a.overwrite) continue;
        auto others = probe.foreign_stagings();
        if (!others.empty()) foreign.push_back(probe.foreign_message(others));
    }
    if (!foreign.empty()) {
        std::string all;
        for (const auto &f : foreign) all += (all.empty() ? "" : "; ") + f;
        throw UsageError(all);
    }
    if (!refused.empty()) {
        std::string list;
        for (const auto &r : refused) list += (list.empty() ? "" : ", ") + r;
        throw UsageError("already in " + server.describe() + ": " + list +
                         "; pass --overwrite to replace them, or --rename OLD=NEW to restore under another name");
    }
    log::info("start", fmt::format("restoring {} collection(s) from {} into {}", cols.size(), source->describe(),
                                   server.describe()),
              {{"source", source->describe()}, {"target", server.describe()}, {"collections", cols.size()}});

    const auto run_start = std::chrono::steady_clock::now();
    RunSummary summary;
    uint64_t total = 0, total_rejected = 0;
    double seconds = 0;
    const LoopInterruptText stopped{"restore", "restored", "the records sent so far are kept and are not sent again",
                                    "continue with the same command"};
    size_t i = 0;
    // Chroma gone for longer than its requests' own retries (a restart): the collection starts over with a
    // new writer, which goes on from the records its staging collection already holds.
    each_collection(cols, stopped, 1, {a.retries, kRestoreRetry}, [&](const CollectionInfo &c, int) {
        ChromaHttpWriter writer(server, a.to, wo, targets[i], origin_of(origin, c));
        auto st = load_collection(*source, c, a.batch_size, writer, targets[i], !g.quiet);
        log::info("collection_done",
                  fmt::format("{}: {} records restored as '{}' in {:.2f}s ({} sent, {} already there{}{})", c.name,
                              st.records, targets[i], st.seconds, writer.records_sent(), writer.records_skipped(),
                              writer.resumed() ? ", resumed" : "",
                              writer.records_rejected()
                                  ? fmt::format("; {} refused by Chroma, see {}", writer.records_rejected(),
                                                writer.reject_path())
                                  : ""),
                  {{"collection", c.name}, {"target", targets[i]}, {"records", st.records},
                   {"rejected", writer.records_rejected()}});
        // Written: the records the target collection now holds from the backup (sent now, or already there
        // from the interrupted run this one continued).
        SummaryRow row{c.name, "", {{"restored_as", targets[i]}, {"id", writer.target_id()}, {"records", st.records}},
                   RunFigures{st.records, writer.records_sent() + writer.records_skipped(), writer.records_rejected(),
                              st.bytes, st.seconds}};
        auto &tail = row.tail;
        tail["sent"] = writer.records_sent();
        tail["skipped_present"] = writer.records_skipped();
        tail["resumed"] = writer.resumed();
        tail["configuration"] = writer.configuration_note();
        tail["space"] = space_name(c.space);
        if (writer.records_rejected()) tail["reject_file"] = writer.reject_path();
        summary.rows.push_back(std::move(row));
        total_rejected += writer.records_rejected();
        total += st.records;
        seconds += st.seconds;
        ++i;
    });
    summary.close(run_start);
    summary.totals_extra = {{"records", total}, {"load_seconds", seconds}};
    report_run({{"command", "restore"}, {"source", source->describe()}, {"target", server.describe()}}, summary,
               a.summary, {{"restored as", "restored_as"}});
    if (total_rejected > 0)
        throw DataError(fmt::format("restored everything else; {} record(s) Chroma refused were skipped and are listed "
                                    "in the reject file(s) under {}",
                                    total_rejected, a.reject_dir));
}

} // namespace

void register_restore(CLI::App &app) {
    auto a = std::make_shared<RestoreArgs>();
    auto *cmd = app.add_subcommand("restore", "Put a backup back into a Chroma server (the rollback path)");
    cmd->footer("Examples:\n"
                "  chroma2pg restore --from /backups/chroma_backup_20250101T120000Z --to-chroma http://localhost:8000\n"
                "  chroma2pg restore --from BACKUP --to-chroma http://chroma:8000 --collections docs --rename docs=docs_old\n"
                "  chroma2pg restore --from BACKUP --to-chroma https://chroma.example.com --token $TOKEN --overwrite\n"
                "  chroma2pg restore --from BACKUP --to-chroma http://localhost:8000 --summary restore-summary.json\n"
                "Each collection is filled under the name '<name>-c2p-restoring-<backup tag>' and renamed when\n"
                "complete; an interrupted restore is continued by running the same command again (a restore\n"
                "from another backup refuses it unless --overwrite, which deletes it). Existing non-empty\n"
                "collections are refused unless --overwrite (then replaced once the new copy is complete).\n"
                "Chroma unreachable for longer than a request's own retries (a restart) starts the collection\n"
                "again, from the records already restored (--retries).\n"
                "A record Chroma refuses (a value it cannot take) goes to --reject-dir; the rest is restored\n"
                "and the run exits 1.\n"
                "The summary (per collection: records read, written, duration, rates) is printed on stdout, and\n"
                "written as JSON to --summary FILE when given.");
    cmd->add_option("--from", a->from, "The backup directory (holding manifest.json); any other source also works")
        ->required()
        ->envname("CHROMA2PG_FROM");
    cmd->add_option("--to-chroma", a->to, "The Chroma server to restore into (http[s]://host:port; API v2, Chroma >= 1.0)")
        ->required()
        ->envname("CHROMA2PG_TO_CHROMA");
    add_collection_flags(*cmd, a->collections, a->exclude_collections);
    cmd->add_option("--rename", a->renames, "Restore collection OLD as NEW (repeatable, or comma-separated)")
        ->delimiter(',')
        ->envname("CHROMA2PG_RENAME");
    cmd->add_flag("--overwrite", a->overwrite,
                  "Replace existing non-empty collections, and discard interrupted restores from other backups")
        ->envname("CHROMA2PG_OVERWRITE");
    cmd->add_option("--tenant", a->target.tenant, "Chroma tenant to restore into")
        ->envname("CHROMA2PG_TENANT")
        ->capture_default_str();
    cmd->add_option("--database", a->target.database, "Chroma database to restore into")
        ->envname("CHROMA2PG_DATABASE")
        ->capture_default_str();
    cmd->add_option("--token", a->target.token, "Chroma auth token (default: $CHROMA_API_KEY or $CHROMA_TOKEN); never printed")
        ->envname("CHROMA2PG_TOKEN");
    cmd->add_option("--token-header", a->target.token_header, "How to send the token: x-chroma-token or authorization")
        ->check(CLI::IsMember({"x-chroma-token", "authorization"}))
        ->envname("CHROMA2PG_TOKEN_HEADER")
        ->capture_default_str();
    cmd->add_flag("--insecure", a->target.insecure_tls, "Do not verify the server's TLS certificate")
        ->envname("CHROMA2PG_INSECURE");
    cmd->add_option("--batch-size", a->batch_size,
                    "Records per batch read from the backup (each is sent in requests of at most the server's "
                    "max_batch_size records and --max-request-mb)")
        ->envname("CHROMA2PG_BATCH_SIZE")
        ->capture_default_str();
    cmd->add_option("--max-request-mb", a->max_body_mb, "Largest request body sent to Chroma, in MB")
        ->check(CLI::Range(1, 512))
        ->envname("CHROMA2PG_MAX_REQUEST_MB")
        ->capture_default_str();
    cmd->add_option("--reject-dir", a->reject_dir,
                    "Where the per-collection reject files (<name>.rejects.jsonl) of records Chroma refused go")
        ->envname("CHROMA2PG_REJECT_DIR")
        ->capture_default_str();
    cmd->add_option("--retries", a->retries,
                    "Attempts per collection when Chroma cannot be reached (a restart), with backoff up to 30 s; each "
                    "goes on from the records already restored")
        ->envname("CHROMA2PG_RETRIES")
        ->capture_default_str();
    add_summary_option(*cmd, a->summary);
    cmd->callback([a] { run_restore(*a); });
}

} // namespace c2p
