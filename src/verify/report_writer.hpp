// The report of verify and bench: report.json (everything), report.md and a self-contained
// report.html (inline CSS and SVG, no external assets) that reads in one screen.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "verify/verify_result.hpp"

namespace c2p {

std::string html_escape(std::string_view s);
std::string render_markdown(const VerifyReport &report);
std::string render_html(const VerifyReport &report);
// bench's report: run_bench()'s figures with the environment.
struct BenchReport {
    std::string tool_version, generated_at, target_server, schema;
    std::vector<std::string> warnings;
    BenchResult bench;
    nlohmann::ordered_json environment; // collect_environment()
    ProcessResources resources;
    std::vector<std::string> report_files; // once written
    nlohmann::ordered_json to_json() const; // kind "bench", verdict DONE, the bench's figures at the top level
};
std::string render_bench_markdown(const BenchReport &report);
std::string render_bench_html(const BenchReport &report);

// Write the three files into `dir` (created if needed; each written to a temporary name then
// renamed). Return their paths. Throw EnvError when the directory is not writable.
std::vector<std::string> write_report(const std::string &dir, const VerifyReport &report);
std::vector<std::string> write_bench_report(const std::string &dir, const BenchReport &report);


} // namespace c2p
