// Typed errors: each carries the exit-code class that cli/ maps to a process exit status.
#pragma once

#include <stdexcept>
#include <string>

namespace c2p {

// Exit codes documented in README.md and --help.
enum class ExitCode : int {
    ok = 0,
    data = 1,        // verification mismatch, bad/damaged data
    usage = 2,       // wrong flags or arguments
    environment = 3, // connection refused, auth, missing extension, I/O environment
};

class Error : public std::runtime_error {
public:
    Error(ExitCode code, const std::string &msg) : std::runtime_error(msg), code_(code) {}
    ExitCode code() const { return code_; }

private:
    ExitCode code_;
};

// Bad or damaged input data (a file, a record, a collection).
struct DataError : Error {
    explicit DataError(const std::string &msg) : Error(ExitCode::data, msg) {}
};
struct UsageError : Error {
    explicit UsageError(const std::string &msg) : Error(ExitCode::usage, msg) {}
};
// Something outside the data: a server unreachable, auth refused, a missing extension.
struct EnvError : Error {
    explicit EnvError(const std::string &msg, bool retryable = true)
        : Error(ExitCode::environment, msg), retryable_(retryable) {}
    // Whether the same work may succeed later on a fresh connection (a lost session, a server restarting),
    // rather than a refusal that needs the user (a full disk, a privilege, a server hung past --pg-timeout).
    bool retryable() const { return retryable_; }

private:
    bool retryable_;
};

// Thrown inside a task when another one failed and the run is stopping (TaskPool's cancel flag).
struct Cancelled : std::runtime_error {
    Cancelled() : std::runtime_error("cancelled") {}
};

} // namespace c2p
