// UTC timestamps as the tool writes them: backup directory names, manifests, reports and log lines.
#pragma once

#include <chrono>
#include <ctime>
#include <string>

namespace c2p {

// 20261125T154736Z: backup directory names.
std::string utc_compact(std::time_t t);
// 2026-11-25T15:47:36Z: manifests and reports.
std::string utc_iso8601(std::time_t t);
// 2026-11-25T15:47:36.123Z: log lines, where events a few milliseconds apart must keep their order.
std::string utc_iso8601_ms(std::chrono::system_clock::time_point t);

} // namespace c2p
