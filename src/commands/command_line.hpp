// The command line as typed, kept without its secrets: passwords and tokens are overwritten in the
// process's own argv (so `ps` and /proc/PID/cmdline no longer show them once chroma2pg started),
// and an interrupted run prints the command to continue with the secrets left out.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace c2p::command_line {

// Where a secret sits in an option's value, and what to cut so the value still works without it
// (":pw" of user:pw@host, "password=pw" of a keyword string, the whole value of --token).
struct SecretSpan {
    size_t pos = 0, len = 0;         // the secret's bytes
    size_t cut_pos = 0, cut_len = 0; // removed from the value in the command to run again
};
// Secrets in the value of `option` (--to, --from, --to-chroma, --token...); empty when none.
std::vector<SecretSpan> secret_spans(std::string_view option, std::string_view value);
// The value with its secrets cut out, and a phrase naming what was left out ("" when nothing).
std::string without_secrets(std::string_view option, std::string_view value, std::string *left_out = nullptr);

// Copies the arguments (for parsing) and overwrites every secret in argv's memory with '*'.
std::vector<std::string> take(int argc, char **argv);

// The command to run again, shell-quoted, without secrets: `drop` flags removed, `add` flags added
// when absent. `note` names the secrets left out and how to give them ("" when none).
std::string rerun(const std::vector<std::string> &add, const std::vector<std::string> &drop, std::string *note = nullptr);
// The same for arguments given directly (tests).
std::string rerun_of(const std::vector<std::string> &args, const std::vector<std::string> &add,
                     const std::vector<std::string> &drop, std::string *note = nullptr);

} // namespace c2p::command_line
