#include "core/json_text.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

#include "util/error.hpp"

namespace c2p::json_text {

void append_float32(std::string &out, float v) {
    if (!std::isfinite(v)) throw DataError("embedding holds a non-finite value (NaN or infinity)");
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_double(std::string &out, double v) {
    if (!std::isfinite(v)) throw DataError("metadata holds a non-finite float (NaN or infinity)");
    char buf[400];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    std::string_view s(buf, r.ptr - buf);
    if (s.find('e') != std::string_view::npos) {
        r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
        s = std::string_view(buf, r.ptr - buf);
    }
    out.append(s);
    if (s.find('.') == std::string_view::npos) out.append(".0");
}

void append_double_shortest(std::string &out, double v) {
    if (!std::isfinite(v)) throw DataError("metadata holds a non-finite float (NaN or infinity)");
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    std::string_view s(buf, r.ptr - buf);
    out.append(s);
    if (s.find_first_of(".e") == std::string_view::npos) out.append(".0");
}

void append_string(std::string &out, std::string_view s) {
    static const char *hex = "0123456789abcdef";
    out.push_back('"');
    for (unsigned char c : s) {
        switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        case '\b': out.append("\\b"); break;
        case '\f': out.append("\\f"); break;
        default:
            if (c < 0x20) {
                out.append("\\u00");
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 15]);
            } else {
                out.push_back(static_cast<char>(c));
            }
        }
    }
    out.push_back('"');
}

bool utf8_valid(std::string_view s) {
    const auto *p = reinterpret_cast<const unsigned char *>(s.data());
    const auto *end = p + s.size();
    while (p < end) {
        // Most text is ASCII: eight bytes at a time while no high bit is set.
        while (end - p >= 8) {
            uint64_t w;
            std::memcpy(&w, p, 8);
            if (w & 0x8080808080808080ULL) break;
            p += 8;
        }
        if (p == end) break;
        unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int n;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
        else return false;
        if (end - p < n + 1) return false;
        for (int i = 1; i <= n; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        // Overlong forms, surrogates and out-of-range code points are not valid UTF-8.
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += n + 1;
    }
    return true;
}

} // namespace c2p::json_text
