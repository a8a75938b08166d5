#include "target/table_names.hpp"

#include <fmt/format.h>
#include <xxhash.h>

namespace c2p {
namespace {

std::string short_hash(const std::string &s) { return fmt::format("{:08x}", static_cast<uint32_t>(XXH64(s.data(), s.size(), 0))); }

bool plain(const std::string &s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

} // namespace

std::string derive_table_name(const std::string &name, const std::string &prefix) {
    std::string full = prefix + name;
    if (plain(name) && full.size() <= kMaxIdentBytes) return full;
    std::string clean;
    for (unsigned char c : name) {
        char o = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
        bool ok = (o >= 'a' && o <= 'z') || (o >= '0' && o <= '9');
        if (!ok) o = '_';
        if (o == '_' && !clean.empty() && clean.back() == '_') continue;
        clean.push_back(o);
    }
    // Appended, not "_" + hash: GCC 12 at -O3 reports a false -Wrestrict on that (bug 105329).
    std::string suffix = "_";
    suffix += short_hash(name);
    size_t room = kMaxIdentBytes - prefix.size() - suffix.size();
    if (clean.size() > room) clean.resize(room);
    while (!clean.empty() && clean.back() == '_') clean.pop_back();
    return prefix + clean + suffix;
}

std::string fit_identifier(const std::string &base, const std::string &suffix) {
    if (base.size() + suffix.size() <= kMaxIdentBytes) return base + suffix;
    std::string h = "_";
    h += short_hash(base);
    size_t room = kMaxIdentBytes - suffix.size() - h.size();
    std::string cut = base.substr(0, room);
    // Never split a multi-byte UTF-8 sequence.
    while (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0x80) cut.pop_back();
    if (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0xC0) cut.pop_back();
    return cut + h + suffix;
}

} // namespace c2p
