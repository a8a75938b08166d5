#include "commands/run_summary.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "commands/common.hpp"
#include "util/error.hpp"

namespace c2p {

using json = nlohmann::ordered_json;

namespace {

void put_figures(json &row, const RunFigures &f) {
    row["records_read"] = f.read;
    row["records_written"] = f.written;
    row["rejected"] = f.rejected;
    row["seconds"] = f.seconds;
    row["records_per_second"] = f.seconds > 0 ? double(f.read) / f.seconds : 0.0;
    row["mb_per_second"] = f.seconds > 0 ? double(f.bytes) / f.seconds / 1e6 : 0.0;
    row["bytes"] = f.bytes;
}

void put_fields(json &row, const json &fields) {
    for (const auto &[k, v] : fields.items()) row[k] = v;
}

} // namespace

json SummaryRow::to_json() const {
    json row = {{"name", name}};
    if (!status.empty()) row["status"] = status;
    put_fields(row, head);
    if (figures) put_figures(row, *figures);
    put_fields(row, tail);
    return row;
}

const json *SummaryRow::field(const std::string &key) const {
    if (head.contains(key)) return &head[key];
    if (tail.contains(key)) return &tail[key];
    return nullptr;
}

void RunSummary::close(std::chrono::steady_clock::time_point run_start) {
    totals = RunFigures{};
    for (const auto &r : rows) {
        if (!r.figures) continue;
        totals.read += r.figures->read;
        totals.written += r.figures->written;
        totals.rejected += r.figures->rejected;
        totals.bytes += r.figures->bytes;
    }
    totals.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
}

json RunSummary::rows_json() const {
    json out = json::array();
    for (const auto &r : rows) out.push_back(r.to_json());
    return out;
}

json RunSummary::totals_json() const {
    json t = {{"collections", rows.size()}};
    put_figures(t, totals);
    put_fields(t, totals_extra);
    return t;
}

CLI::Option *add_summary_option(CLI::App &cmd, std::string &path) {
    return cmd
        .add_option("--summary", path,
                    "Also write the run summary (per collection: records read, written, rejected, duration, "
                    "records/s, MB/s; totals) as JSON to this file")
        ->envname("CHROMA2PG_SUMMARY");
}

void write_json_file_atomically(const std::string &path, const json &doc) {
    namespace fs = std::filesystem;
    std::string text = doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
    fs::path target(path);
    std::string tmp = (target.parent_path() / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()))).string();
    auto fail = [&](const std::string &what) {
        int e = errno;
        ::unlink(tmp.c_str());
        throw EnvError(fmt::format("cannot write the summary {}: {}: {}", path, what, std::strerror(e)));
    };
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        throw EnvError(fmt::format("cannot write the summary {}: cannot create {}: {}", path, tmp, std::strerror(e)));
    }
    for (size_t off = 0; off < text.size();) {
        ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            fail("write");
        }
        off += size_t(n);
    }
    if (::fsync(fd) != 0) {
        ::close(fd);
        fail("fsync");
    }
    if (::close(fd) != 0) fail("close");
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename");
}

namespace {

std::string cell(const json &v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_unsigned() || v.is_number_integer()) return v.dump();
    if (v.is_number_float()) return fmt::format("{:.2f}", v.get<double>());
    if (v.is_null()) return "-";
    return v.dump();
}

} // namespace

void print_run_table(const RunSummary &run, const std::vector<SummaryColumn> &extra) {
    const auto &rows = run.rows;
    const std::string total_label = fmt::format("total ({} collection{})", rows.size(), rows.size() == 1 ? "" : "s");
    size_t name_w = total_label.size();
    for (const auto &r : rows) name_w = std::max(name_w, r.name.size());
    name_w = std::min<size_t>(name_w, 40);
    std::vector<size_t> extra_w;
    std::vector<bool> numeric; // numbers right-aligned, text left-aligned
    for (const auto &c : extra) {
        size_t w = c.header.size();
        bool num = true;
        for (const auto &r : rows)
            if (const json *v = r.field(c.key)) {
                w = std::max(w, cell(*v).size());
                num = num && v->is_number();
            }
        extra_w.push_back(std::min<size_t>(w, 40));
        numeric.push_back(num);
    }
    std::string out;
    auto line = [&](const std::string &name, const std::vector<std::string> &extras, const std::string &read,
                    const std::string &written, const std::string &rejected, const std::string &secs,
                    const std::string &rate, const std::string &mbps) {
        out += fmt::format("{:<{}}", name, name_w);
        for (size_t i = 0; i < extras.size(); ++i)
            out += numeric[i] ? fmt::format("  {:>{}}", extras[i], extra_w[i]) : fmt::format("  {:<{}}", extras[i], extra_w[i]);
        out += fmt::format("  {:>10}  {:>10}  {:>8}  {:>9}  {:>10}  {:>8}\n", read, written, rejected, secs, rate, mbps);
    };
    auto figures = [&](const std::string &name, const std::vector<std::string> &ex, const RunFigures &f) {
        line(name, ex, std::to_string(f.read), std::to_string(f.written), std::to_string(f.rejected),
             fmt::format("{:.2f}", f.seconds), fmt::format("{:.0f}", f.seconds > 0 ? double(f.read) / f.seconds : 0.0),
             fmt::format("{:.1f}", f.seconds > 0 ? double(f.bytes) / f.seconds / 1e6 : 0.0));
    };
    std::vector<std::string> headers;
    for (const auto &c : extra) headers.push_back(c.header);
    line("collection", headers, "read", "written", "rejected", "seconds", "records/s", "MB/s");
    for (const auto &r : rows) {
        std::vector<std::string> ex;
        for (const auto &c : extra) ex.push_back(r.field(c.key) ? cell(*r.field(c.key)) : "");
        if (r.figures) figures(r.name, ex, *r.figures);
        else line(r.name, ex, "-", "-", "-", "-", "-", r.status); // e.g. sync: a collection that was not migrated
    }
    figures(total_label, std::vector<std::string>(extra.size()), run.totals);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
}

void report_run(json result, const RunSummary &run, const std::string &summary_path, const std::vector<SummaryColumn> &extra) {
    result["collections"] = run.rows_json();
    result["totals"] = run.totals_json();
    if (!summary_path.empty()) write_json_file_atomically(summary_path, result);
    const auto &g = global_options();
    if (g.json) print_json(result);
    else if (!g.quiet) print_run_table(run, extra);
}

} // namespace c2p
