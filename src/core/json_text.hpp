// Exact JSON text: floats in shortest round-trip form, strings escaped, types never blurred.
#pragma once

#include <string>
#include <string_view>

namespace c2p::json_text {

// Shortest text that parses back to the same float32. NaN/Inf throw DataError.
void append_float32(std::string &out, float v);
// Shortest round-trip double, always with a '.' so it reads back as a float (1.0, not 1),
// positional rather than exponent form so PostgreSQL's jsonb keeps it a fraction.
void append_double(std::string &out, double v);
// Shortest round-trip double, exponent form where shorter (1.7976931348623157e308): for JSON readers that
// take an exponent as a float (Chroma's server, Python). Positional DBL_MAX has 309 digits, which
// Chroma's parser refuses as "number out of range".
void append_double_shortest(std::string &out, double v);
// A JSON string literal. The input must be valid UTF-8 (see utf8_valid).
void append_string(std::string &out, std::string_view s);

bool utf8_valid(std::string_view s);

} // namespace c2p::json_text
