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
// bench's report (kind "bench", run_bench()'s figures with the environment).
std::string render_bench_markdown(const nlohmann::ordered_json &report);
std::string render_bench_html(const nlohmann::ordered_json &report);

// Write the three files into `dir` (created if needed; each written to a temporary name then
// renamed). Return their paths. Throw EnvError when the directory is not writable.
std::vector<std::string> write_report(const std::string &dir, const VerifyReport &report);
std::vector<std::string> write_bench_report(const std::string &dir, const nlohmann::ordered_json &report);

// Peak RSS (bytes) and CPU time (user + system seconds) of this process, from getrusage.
nlohmann::ordered_json process_resources();

} // namespace c2p
