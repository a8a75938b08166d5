// The report of verify and bench: report.json (everything), report.md and a self-contained
// report.html (inline CSS and SVG, no external assets) that reads in one screen.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace c2p {

std::string html_escape(std::string_view s);
std::string render_markdown(const nlohmann::ordered_json &report);
std::string render_html(const nlohmann::ordered_json &report);

// Writes the three files into `dir` (created if needed; each written to a temporary name then
// renamed). Returns their paths. Throws EnvError when the directory is not writable.
std::vector<std::string> write_report(const std::string &dir, const nlohmann::ordered_json &report);

// Peak RSS (bytes) and CPU time (user + system seconds) of this process, from getrusage.
nlohmann::ordered_json process_resources();

} // namespace c2p
