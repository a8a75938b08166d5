#include "target/table_names.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include "core/json_text.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {

std::string short_hash(const std::string &s) { return fmt::format("{:08x}", static_cast<uint32_t>(XXH64(s.data(), s.size(), 0))); }

namespace {

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

std::string staging_table_name(const std::string &collection_name) {
    return fit_identifier(derive_table_name(collection_name), "__load");
}

std::string pg_identifier(std::string s) {
    if (s.size() > kMaxIdentBytes) s.resize(kMaxIdentBytes);
    return s;
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

void require_storable_names(const std::vector<CollectionInfo> &collections) {
    std::string bad;
    for (const auto &c : collections) {
        const bool utf8 = json_text::utf8_valid(c.name);
        const char *why = !utf8 ? "is not valid UTF-8" : c.name.find('\0') != std::string::npos ? "holds a NUL byte" : nullptr;
        if (!why) continue;
        std::string shown;
        for (unsigned char ch : c.name) {
            if (ch >= 0x80 && !utf8) shown += fmt::format("\\x{:02x}", ch); // shown byte by byte
            else shown.push_back(static_cast<char>(ch));
        }
        bad += fmt::format("{}'{}' (id {}) {}", bad.empty() ? "" : ", ", log::printable(shown), c.id, why);
    }
    if (!bad.empty())
        throw DataError("collection name(s) PostgreSQL cannot store exactly: " + bad +
                        "; nothing was written. Rename them in Chroma (collection.modify(name=...)) first, or leave "
                        "them out with --collections");
}

} // namespace c2p
