// "did you mean": an unknown subcommand is answered with the nearest known one (edit distance).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace c2p {

// Levenshtein distance (insert, delete, substitute: 1 each).
size_t edit_distance(std::string_view a, std::string_view b);
// The known name nearest to `word` if it is close enough to be a typo.
std::optional<std::string> nearest_name(std::string_view word, const std::vector<std::string> &names);
// When the command word in `args` (argv, program name first) is not one of app's subcommands:
// the usage message naming it, the nearest command and the list of commands.
std::optional<std::string> unknown_command_hint(const CLI::App &app, const std::vector<std::string> &args);

} // namespace c2p
