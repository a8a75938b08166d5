#include "cli/suggest.hpp"

#include <algorithm>
#include <numeric>

namespace c2p {

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), size_t{0});
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::optional<std::string> nearest_name(std::string_view word, const std::vector<std::string> &names) {
    std::optional<std::string> best;
    size_t best_d = 0;
    for (const auto &n : names) {
        size_t d = edit_distance(word, n);
        if (!best || d < best_d) best = n, best_d = d;
    }
    // A typo changes a few letters; anything further is another word, not worth guessing at.
    if (best && best_d <= std::max<size_t>(2, word.size() / 3)) return best;
    return std::nullopt;
}

std::optional<std::string> unknown_command_hint(const CLI::App &app, const std::vector<std::string> &args) {
    std::string word;
    for (size_t i = 1; i < args.size(); ++i) {
        const std::string &a = args[i];
        if (a == "--") break;
        if (a.starts_with("-")) {
            // A global option's value is not the command word.
            if (const CLI::Option *o = app.get_option_no_throw(a); o && o->get_expected_min() > 0)
                ++i;
            continue;
        }
        word = a;
        break;
    }
    if (word.empty()) return std::nullopt;
    std::vector<std::string> names;
    for (const CLI::App *sub : app.get_subcommands([](const CLI::App *) { return true; })) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), word) != names.end()) return std::nullopt;
    std::string list;
    for (const auto &n : names) list += (list.empty() ? "" : ", ") + n;
    auto near = nearest_name(word, names);
    return "unknown command '" + word + "'" + (near ? "; did you mean '" + *near + "'?" : "") + " (commands: " + list +
           "; run 'chroma2pg --help')";
}

} // namespace c2p
