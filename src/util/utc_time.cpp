#include "util/utc_time.hpp"

#include <cstdio>

namespace c2p {
namespace {
std::string format_utc(std::time_t t, const char *format) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, format, &tm);
    return buf;
}
} // namespace

std::string utc_compact(std::time_t t) { return format_utc(t, "%Y%m%dT%H%M%SZ"); }

std::string utc_iso8601(std::time_t t) { return format_utc(t, "%Y-%m-%dT%H:%M:%SZ"); }

std::string utc_iso8601_ms(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::string s = format_utc(std::chrono::system_clock::to_time_t(t), "%Y-%m-%dT%H:%M:%S");
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
    return s + frac;
}

} // namespace c2p
