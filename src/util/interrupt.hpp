// Ctrl-C and SIGTERM stop a run at the next batch boundary instead of killing it mid-write: the
// handler only records the signal; the pipeline polls it and unwinds with Interrupted, and the
// command says what was committed and how to continue. A second signal kills at once.
#pragma once

#include <string>

#include "util/error.hpp"

namespace c2p {

// Exit status 128 + the signal number, as a shell reports a process killed by it (130 for SIGINT).
struct Interrupted : Error {
    Interrupted(int signo, const std::string &msg);
    int signo;
};

namespace interrupt {

void install();
// The signal received (SIGINT, SIGTERM), or 0.
int requested();
// "SIGINT", "SIGTERM".
std::string signal_name(int signo);
// Throws Interrupted("interrupted by SIGINT: <what>") when a signal arrived.
void throw_if_requested(const std::string &what);

} // namespace interrupt
} // namespace c2p
