#include "util/log.hpp"
#include "util/log_scope.hpp"
#include "util/utc_time.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <mutex>
#include <vector>

#include <fmt/format.h>

namespace c2p::log {
namespace {
Format g_format = Format::text;
Level g_level = Level::info;
bool g_progress_active = false;
std::mutex g_mu;
// Each thread has its own scopes (workers move collections in parallel); the failure context is
// shared: the error main() reports may have been thrown on any thread.
thread_local std::vector<nlohmann::ordered_json> t_scopes;
thread_local size_t t_recorded_depth = 0; // an unwinding in progress recorded its context at this depth
nlohmann::ordered_json g_failure = nlohmann::ordered_json::object(); // guarded by g_mu

const char *level_name(Level l) {
    switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    }
    return "info";
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

Scope::Scope(nlohmann::ordered_json fields) : uncaught_(std::uncaught_exceptions()) {
    t_scopes.push_back(std::move(fields));
    t_recorded_depth = 0;
}

Scope::~Scope() {
    size_t depth = t_scopes.size();
    if (std::uncaught_exceptions() > uncaught_) {
        // The innermost scope an exception leaves records the whole context; the outer ones it
        // then leaves add nothing.
        if (t_recorded_depth == 0 || depth >= t_recorded_depth) {
            auto merged = nlohmann::ordered_json::object();
            for (const auto &f : t_scopes)
                for (auto it = f.begin(); it != f.end(); ++it) merged[it.key()] = it.value();
            std::lock_guard lk(g_mu);
            g_failure = std::move(merged);
        }
        t_recorded_depth = depth;
    } else {
        t_recorded_depth = 0;
    }
    t_scopes.pop_back();
}

nlohmann::ordered_json failure_context() {
    std::lock_guard lk(g_mu);
    return g_failure;
}

std::string printable(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        auto u = static_cast<unsigned char>(s[i]);
        if (u >= 0x80) {
            // A byte that does not start a whole UTF-8 sequence is shown escaped: a log line stays valid text.
            size_t n = u >= 0xc2 && u <= 0xdf ? 2 : u >= 0xe0 && u <= 0xef ? 3 : u >= 0xf0 && u <= 0xf4 ? 4 : 0;
            bool whole = n > 0 && i + n <= s.size();
            for (size_t k = 1; whole && k < n; ++k) whole = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
            if (!whole) {
                out += fmt::format("\\x{:02x}", u);
                continue;
            }
            out.append(s.substr(i, n));
            i += n - 1;
        } else if ((u < 0x20 && u != '\n' && u != '\t') || u == 0x7f) {
            out += fmt::format("\\x{:02x}", u);
        } else {
            out.push_back(char(u));
        }
    }
    return out;
}

void write(Level l, std::string_view event, std::string_view message, const nlohmann::ordered_json &fields) {
    if (!enabled(l)) return;
    std::string line;
    if (g_format == Format::json) {
        nlohmann::ordered_json j;
        j["time"] = utc_iso8601_ms(std::chrono::system_clock::now());
        j["level"] = level_name(l);
        j["event"] = std::string(event);
        j["message"] = std::string(message);
        for (const auto &scope : t_scopes)
            for (auto it = scope.begin(); it != scope.end(); ++it) j[it.key()] = it.value();
        for (auto it = fields.begin(); it != fields.end(); ++it) j[it.key()] = it.value();
        line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    } else {
        line = l == Level::info ? "" : std::string(level_name(l)) + ": ";
        line += printable(message);
    }
    line += '\n';
    std::lock_guard lk(g_mu);
    if (g_progress_active) std::fputs("\r\033[K", stderr);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

} // namespace c2p::log
