// Human or JSON-Lines logging on stderr, shared by every command; never given secrets.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace c2p::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };
enum class Format { text, json };

void configure(Format f, Level min_level);
Format format();
bool enabled(Level l);

// `fields` are extra structured context (collection, counts, durations, sqlstate…).
void write(Level l, std::string_view event, std::string_view message,
           const nlohmann::ordered_json &fields = nlohmann::ordered_json::object());

inline void info(std::string_view event, std::string_view msg, const nlohmann::ordered_json &f = nlohmann::ordered_json::object()) { write(Level::info, event, msg, f); }
inline void warn(std::string_view event, std::string_view msg, const nlohmann::ordered_json &f = nlohmann::ordered_json::object()) { write(Level::warn, event, msg, f); }
inline void error(std::string_view event, std::string_view msg, const nlohmann::ordered_json &f = nlohmann::ordered_json::object()) { write(Level::error, event, msg, f); }
inline void debug(std::string_view event, std::string_view msg, const nlohmann::ordered_json &f = nlohmann::ordered_json::object()) { write(Level::debug, event, msg, f); }

// `s` with control characters and DEL as \xNN (newlines and tabs kept), so a name holding NUL or an
// escape sequence cannot cut or garble a log line.
std::string printable(std::string_view s);

// Clears a progress line drawn on the terminal before a log line is printed over it.
void set_progress_line_active(bool active);

} // namespace c2p::log
