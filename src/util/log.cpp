#include "util/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace c2p::log {
namespace {
Format g_format = Format::text;
Level g_level = Level::info;
bool g_progress_active = false;
std::mutex g_mu;

const char *level_name(Level l) {
    switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    }
    return "info";
}

std::string utc_now() {
    auto now = std::chrono::system_clock::now();
    auto t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}
} // namespace

void configure(Format f, Level min_level) {
    g_format = f;
    g_level = min_level;
}
Format format() { return g_format; }
bool enabled(Level l) { return static_cast<int>(l) >= static_cast<int>(g_level); }

void set_progress_line_active(bool active) {
    std::lock_guard lk(g_mu);
    g_progress_active = active;
}

void write(Level l, std::string_view event, std::string_view message, const nlohmann::ordered_json &fields) {
    if (!enabled(l)) return;
    std::string line;
    if (g_format == Format::json) {
        nlohmann::ordered_json j;
        j["time"] = utc_now();
        j["level"] = level_name(l);
        j["event"] = std::string(event);
        j["message"] = std::string(message);
        for (auto it = fields.begin(); it != fields.end(); ++it) j[it.key()] = it.value();
        line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    } else {
        line = l == Level::info ? "" : std::string(level_name(l)) + ": ";
        line += message;
    }
    line += '\n';
    std::lock_guard lk(g_mu);
    if (g_progress_active) std::fputs("\r\033[K", stderr);
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
}

} // namespace c2p::log
