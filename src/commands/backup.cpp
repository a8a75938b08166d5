#include <algorithm>
#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "backup/backup_format.hpp"
#include "backup/backup_verify.hpp"
#include "backup/backup_writer.hpp"
#include "backup/manifest.hpp"
#include "commands/commands.hpp"
#include "commands/common.hpp"
#include "commands/dry_run.hpp"
#include "commands/run_summary.hpp"
#include "pipeline/pipeline.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/utc_time.hpp"
#include "util/progress.hpp"
#include "util/version_info.hpp"

namespace c2p {
namespace {

struct BackupArgs {
    SourceFlags src;
    std::string out;
    std::vector<std::string> formats{"jsonl"};
    std::string compress = "none";
    int zstd_level = 3;
    size_t batch_size = 1000;
    std::string verify_dir;
    bool dry_run = false, skip_space_check = false;
    std::string summary; // --summary FILE
};

void run_backup(BackupArgs &a) {
    auto &g = global_options();
    if (a.src.from.empty()) throw UsageError("backup needs --from (the Chroma source) and --out (where to write)");
    if (a.out.empty()) throw UsageError("backup needs --out DIR (the backup is written to DIR/chroma_backup_<UTC time>/)");
    if (a.batch_size == 0) throw UsageError("--batch-size must be at least 1");
    std::vector<BackupFormat> formats;
    for (const auto &f : a.formats) {
        auto bf = parse_backup_format(f);
        if (std::find(formats.begin(), formats.end(), bf) == formats.end()) formats.push_back(bf);
    }
    if (formats.empty()) throw UsageError("--format needs at least one of jsonl, json, pickle");
    int level = a.compress == "zstd" ? std::clamp(a.zstd_level, 1, 19) : 0;
    BackupPlanOptions plan{a.out, formats, level, a.batch_size};
    if (a.dry_run) {
        run_backup_dry_run(a.src, plan, a.skip_space_check);
        return;
    }
    interrupt::install(); // from here on Ctrl-C stops at a batch boundary and says what was kept

    SourceOptions so = a.src.opts;
    resolve_token(so);
    auto source = open_source(a.src.from, so);
    auto cols = select_collections(*source, a.src);
    // Before anything is written: room for twice the estimated backup.
    if (!a.skip_space_check) check_backup_space(*source, cols, plan);

    const auto run_start = std::chrono::steady_clock::now();
    BackupDirectory dir(a.out);
    Manifest m;
    m.tool_version = C2P_VERSION;
    m.git_rev = C2P_GIT_REV;
    m.created_at = utc_iso8601(dir.started_at());
    m.source = source->describe();
    m.source_details = source->details();
    std::string format_list;
    for (auto f : formats) format_list += (format_list.empty() ? "" : ",") + std::string(format_name(f));
    log::info("start",
              fmt::format("backing up {} collection(s) from {} as {}{} into {}", cols.size(), source->describe(),
                          format_list, level ? " (zstd)" : "", dir.partial_path()),
              {{"source", source->describe()}, {"collections", cols.size()}, {"formats", format_list}});

    RunSummary summary;
    uint64_t total_records = 0, total_bytes = 0, total_payload = 0;
    double total_seconds = 0;
    const LoopInterruptText stopped{"backup", "written",
                                    "a backup is kept whole or not at all, so the partial directory is removed",
                                    "run it again"};
    each_collection(cols, stopped, 1, {}, [&](const CollectionInfo &c, int) {
        BackupSink sink(dir.partial_path(), formats, level);
        auto st = load_collection(*source, c, a.batch_size, sink, c.name, !g.quiet);
        const auto &res = sink.result();
        m.collections.push_back(res);
        double rate = st.seconds > 0 ? st.records / st.seconds : 0;
        log::info("collection_done",
                  fmt::format("{}: {} records, {} in {:.2f}s ({:.0f} rec/s)", c.name, st.records,
                              human_bytes(static_cast<double>(sink.bytes_written())), st.seconds, rate),
                  {{"collection", c.name}, {"records", st.records}, {"bytes", sink.bytes_written()},
                   {"seconds", st.seconds}});
        if (st.records != c.record_count)
            log::warn("count_changed",
                      fmt::format("{}: the source reported {} records before the read and {} were read: it changed "
                                  "during the backup; the manifest records {}",
                                  c.name, c.record_count, st.records, st.records),
                      {{"collection", c.name}});
        nlohmann::ordered_json files = nlohmann::ordered_json::array();
        for (const auto &f : res.files)
            files.push_back({{"path", f.path}, {"format", f.format}, {"bytes", f.bytes}, {"sha256", f.sha256}});
        // Written: the records in the files (as the manifest counts them); MB/s of bytes written to disk.
        summary.rows.push_back({c.name, "", {{"id", c.id}, {"records", st.records}},
                                RunFigures{st.records, res.files.empty() ? st.records : res.files.front().records, 0,
                                           sink.bytes_written(), st.seconds},
                                {{"payload_bytes", st.bytes}, {"files", files}}});
        total_records += st.records;
        total_bytes += sink.bytes_written();
        total_payload += st.bytes;
        total_seconds += st.seconds;
    });
    std::string final_path = dir.commit(m);
    log::info("done", fmt::format("backup complete: {} ({} records, {} collection(s), {})", final_path, total_records,
                                  cols.size(), human_bytes(static_cast<double>(total_bytes))),
              {{"backup", final_path}, {"records", total_records}, {"bytes", total_bytes}});
    summary.close(run_start);
    summary.totals_extra = {{"records", total_records}, {"payload_bytes", total_payload}, {"load_seconds", total_seconds}};
    nlohmann::ordered_json result = {{"command", "backup"}, {"backup", final_path}, {"source", source->describe()},
                                     {"created_at", m.created_at}, {"formats", a.formats},
                                     {"compression", level ? "zstd" : "none"}};
    report_run(std::move(result), summary, a.summary);
    // The backup's path, last on stdout (alone with --quiet, for scripts).
    if (!g.json) fmt::print("{}\n", g.quiet ? final_path : "backup: " + final_path);
}

void run_verify(const std::string &dir) {
    auto &g = global_options();
    auto r = verify_backup(dir, !g.quiet && !g.json);
    if (g.json) print_json(r.to_json());
    if (!r.ok()) {
        for (const auto &p : r.problems) log::error("damaged", p, {{"backup", dir}});
        throw DataError(fmt::format("backup {} is damaged: {} problem(s); first: {}", dir, r.problems.size(),
                                    r.problems.front()));
    }
    if (!g.json)
        fmt::print("backup {} is sound: {} file(s), {} records, created {}\n", dir, r.files.size(), r.records,
                   r.created_at);
}

} // namespace

void register_backup(CLI::App &app) {
    auto a = std::make_shared<BackupArgs>();
    auto *cmd = app.add_subcommand("backup", "Write a timestamped, checksummed backup of Chroma collections");
    cmd->footer("Examples:\n"
                "  chroma2pg backup --from http://localhost:8000 --out /backups\n"
                "  chroma2pg backup --from ./chroma_db --out /backups --format jsonl,json,pickle --compress zstd\n"
                "  chroma2pg backup verify /backups/chroma_backup_20250101T120000Z\n"
                "  chroma2pg backup --from ./chroma_db --out /backups --dry-run    # the plan: files, sizes, free space\n"
                "  chroma2pg backup --from ./chroma_db --out /backups --summary backup-summary.json\n"
                "The backup is written under DIR/.chroma_backup_<time>.partial-<pid>/ and renamed to\n"
                "DIR/chroma_backup_<UTC time>/ once complete (manifest.json is written last). Leftovers of an\n"
                "interrupted run keep the .partial name and are removed by the next run. See docs/backup-format.md.\n"
                "Before writing, the file system of DIR must have twice the estimated backup size free (estimated\n"
                "from a sample of records encoded in each format, zstd at the ratio it reaches on that sample),\n"
                "else exit 3; --skip-space-check overrides. stdout: a summary table, then the backup's path (only\n"
                "the path with --quiet).");
    add_source_flags(*cmd, a->src);
    // `backup verify DIR` needs no --from.
    cmd->get_option("--from")->required(false);
    cmd->add_option("--out", a->out, "Directory that receives chroma_backup_<UTC time>/")->envname("CHROMA2PG_OUT");
    cmd->add_option("--format", a->formats, "Formats, comma-separated: jsonl (streaming, default), json, pickle")
        ->delimiter(',')
        ->check(CLI::IsMember({"jsonl", "json", "pickle"}))
        ->envname("CHROMA2PG_FORMAT")
        ->capture_default_str();
    cmd->add_option("--compress", a->compress, "Compress each data file: none or zstd")
        ->check(CLI::IsMember({"none", "zstd"}))
        ->envname("CHROMA2PG_COMPRESS")
        ->capture_default_str();
    cmd->add_option("--zstd-level", a->zstd_level, "zstd level (1-19)")
        ->check(CLI::Range(1, 19))
        ->envname("CHROMA2PG_ZSTD_LEVEL")
        ->capture_default_str();
    cmd->add_option("--batch-size", a->batch_size, "Records per batch read from the source")
        ->envname("CHROMA2PG_BATCH_SIZE")
        ->capture_default_str();
    auto *dry = cmd->add_flag("--dry-run", a->dry_run,
                              "Print the plan (collections, files, estimated size per format, free space) and write "
                              "nothing")
                    ->envname("CHROMA2PG_DRY_RUN");
    cmd->add_flag("--skip-space-check", a->skip_space_check,
                  "Go ahead even when DIR has less free space than twice the estimated backup size")
        ->envname("CHROMA2PG_SKIP_SPACE_CHECK");
    add_summary_option(*cmd, a->summary)->excludes(dry);

    auto *verify = cmd->add_subcommand("verify", "Check a backup: re-hash every file, re-read and count every record");
    verify->footer("Examples:\n"
                   "  chroma2pg backup verify /backups/chroma_backup_20250101T120000Z\n"
                   "  chroma2pg --json backup verify /backups/chroma_backup_20250101T120000Z\n"
                   "Exit 1 naming the file and line (or pickle record) of any damage: a changed byte, a truncated\n"
                   "or missing file, an unexpected file, counts or dimensions that disagree with the manifest.");
    verify->add_option("dir", a->verify_dir, "The backup directory (the one holding manifest.json)")->required();
    verify->callback([a] { run_verify(a->verify_dir); });
    cmd->require_subcommand(0, 1);
    cmd->callback([a, cmd, verify] {
        if (cmd->got_subcommand(verify)) return;
        run_backup(*a);
    });
}

} // namespace c2p
