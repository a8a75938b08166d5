#include "commands/command_line.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace c2p::command_line {
namespace {

constexpr std::array<std::string_view, 3> kLocatorOptions = {"--to", "--from", "--to-chroma"};
constexpr std::array<std::string_view, 3> kSecretOptions = {"--token", "--chroma-token", "--password"};

bool is_one_of(std::string_view s, const auto &list) { return std::find(list.begin(), list.end(), s) != list.end(); }
bool takes_secret(std::string_view option) { return is_one_of(option, kLocatorOptions) || is_one_of(option, kSecretOptions); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// scheme://user:password@host/...?password=...
void url_spans(std::string_view v, size_t scheme_end, std::vector<SecretSpan> &out) {
    size_t auth = scheme_end + 3;
    size_t auth_end = v.find_first_of("/?#", auth);
    if (auth_end == std::string_view::npos) auth_end = v.size();
    std::string_view authority = v.substr(auth, auth_end - auth);
    if (auto at = authority.rfind('@'); at != std::string_view::npos)
        if (auto colon = authority.substr(0, at).find(':'); colon != std::string_view::npos)
            out.push_back({auth + colon + 1, at - colon - 1, auth + colon, at - colon});
    size_t q = v.find('?', auth_end);
    if (q == std::string_view::npos) return;
    size_t end = std::min(v.find('#', q), v.size());
    for (size_t p = q + 1; p < end;) {
        size_t amp = std::min(v.find('&', p), end);
        std::string_view param = v.substr(p, amp - p);
        if (param.starts_with("password=")) {
            size_t cut_end = amp < end ? amp + 1 : amp; // with its '&', or the separator before it
            size_t cut_pos = amp < end ? p : p - 1;
            out.push_back({p + 9, amp - p - 9, cut_pos, cut_end - cut_pos});
        }
        p = amp + 1;
    }
}

// host=db password='a b' user=x  (libpq keyword/value; values quoted with '...' and \ escapes)
void keyword_spans(std::string_view v, std::vector<SecretSpan> &out) {
    size_t p = 0;
    while (p < v.size()) {
        while (p < v.size() && is_space(v[p])) ++p;
        size_t pair_start = p;
        while (p < v.size() && v[p] != '=' && !is_space(v[p])) ++p;
        std::string_view key = v.substr(pair_start, p - pair_start);
        while (p < v.size() && is_space(v[p])) ++p;
        if (p >= v.size() || v[p] != '=') return; // not a keyword string
        ++p;
        while (p < v.size() && is_space(v[p])) ++p;
        size_t val = p;
        if (p < v.size() && v[p] == '\'') {
            for (++p; p < v.size() && v[p] != '\''; ++p)
                if (v[p] == '\\' && p + 1 < v.size()) ++p;
            if (p < v.size()) ++p;
        } else {
            while (p < v.size() && !is_space(v[p])) ++p;
        }
        if (key == "password") {
            size_t cut_end = p;
            while (cut_end < v.size() && is_space(v[cut_end])) ++cut_end;
            out.push_back({val, p - val, pair_start, cut_end - pair_start});
        }
    }
}

std::string shell_quote(const std::string &s) {
    bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("@%+=:,./_-", c);
    });
    if (plain) return s;
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

std::vector<std::string> &invocation() {
    static std::vector<std::string> args;
    return args;
}

} // namespace

std::vector<SecretSpan> secret_spans(std::string_view option, std::string_view value) {
    std::vector<SecretSpan> out;
    if (value.empty()) return out;
    if (is_one_of(option, kSecretOptions)) {
        out.push_back({0, value.size(), 0, value.size()});
    } else if (is_one_of(option, kLocatorOptions)) {
        auto scheme_end = value.find("://");
        bool url = scheme_end != std::string_view::npos && scheme_end > 0 &&
                   std::all_of(value.begin(), value.begin() + long(scheme_end),
                               [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'; });
        if (url) url_spans(value, scheme_end, out);
        else if (value.find('=') != std::string_view::npos) keyword_spans(value, out);
    }
    out.erase(std::remove_if(out.begin(), out.end(), [](const SecretSpan &s) { return s.len == 0; }), out.end());
    return out;
}

std::string without_secrets(std::string_view option, std::string_view value, std::string *left_out) {
    auto spans = secret_spans(option, value);
    if (left_out) {
        left_out->clear();
        if (!spans.empty())
            *left_out = is_one_of(option, kSecretOptions) ? std::string(option) + " (give it with CHROMA_API_KEY)"
                        : option == "--to" ? "the password in --to (give it with PGPASSWORD or ~/.pgpass)"
                                           : "the password in " + std::string(option);
    }
    std::string v(value);
    std::sort(spans.begin(), spans.end(), [](const auto &a, const auto &b) { return a.cut_pos > b.cut_pos; });
    for (const auto &s : spans) v.erase(s.cut_pos, s.cut_len);
    while (!v.empty() && is_space(v.back())) v.pop_back();
    return v;
}

std::vector<std::string> take(int argc, char **argv) {
    std::vector<std::string> args(argv, argv + argc);
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        char *value = nullptr;
        std::string option;
        if (auto eq = a.find('='); a.starts_with("--") && eq != std::string_view::npos) {
            option = std::string(a.substr(0, eq));
            value = argv[i] + eq + 1;
        } else if (takes_secret(a) && i + 1 < argc) {
            option = std::string(a);
            value = argv[++i];
        }
        if (!value) continue;
        for (const auto &s : secret_spans(option, value)) std::memset(value + s.pos, '*', s.len);
    }
    invocation() = args;
    return args;
}

std::string rerun_of(const std::vector<std::string> &args, const std::vector<std::string> &add,
                     const std::vector<std::string> &drop, std::string *note) {
    std::string cmd, notes;
    auto append = [&](const std::string &s) { cmd += (cmd.empty() ? "" : " ") + shell_quote(s); };
    auto flag_name = [](const std::string &a) { return a.substr(0, a.find('=')); };
    std::vector<std::string> present;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string &a = args[i];
        if (i > 0 && a.starts_with("--")) present.push_back(flag_name(a));
        if (i > 0 && is_one_of(flag_name(a), drop)) continue;
        std::string option, value;
        bool separate = false;
        if (auto eq = a.find('='); i > 0 && a.starts_with("--") && eq != std::string::npos) {
            option = a.substr(0, eq);
            value = a.substr(eq + 1);
        } else if (i > 0 && takes_secret(a) && i + 1 < args.size()) {
            option = a;
            value = args[++i];
            separate = true;
        } else {
            append(a);
            continue;
        }
        std::string left_out;
        std::string clean = without_secrets(option, value, &left_out);
        if (!left_out.empty()) notes += (notes.empty() ? "" : "; ") + left_out;
        if (is_one_of(option, kSecretOptions) && !left_out.empty()) continue; // the whole option goes
        if (separate) {
            append(option);
            append(clean);
        } else {
            append(option + "=" + clean);
        }
    }
    for (const auto &f : add)
        if (!is_one_of(f, present)) append(f);
    if (note) *note = notes.empty() ? "" : "left out: " + notes;
    return cmd;
}

std::string rerun(const std::vector<std::string> &add, const std::vector<std::string> &drop, std::string *note) {
    return rerun_of(invocation(), add, drop, note);
}

} // namespace c2p::command_line
