// The runner's retry policy: work that goes on from what is committed is tried again after a transient
// failure, with a backoff, instead of failing the run.
#pragma once

#include <atomic>
#include <functional>
#include <string>

namespace c2p {

// How a command's retries read: where a retry goes on from, and what is kept when the run stops.
struct RetryText {
    const char *from; // "the last checkpoint"
    const char *kept; // "everything committed so far is kept: rerun the same command with --resume"
};
constexpr RetryText kMigrateRetry{"the last checkpoint",
                                  "everything committed so far is kept: rerun the same command with --resume"};
constexpr RetryText kSyncRetry{"the collection's last committed state",
                               "the collections synced so far are kept: run the same command again"};
constexpr RetryText kRestoreRetry{"the records already restored",
                                  "the records sent so far are kept and are not sent again: rerun the same command"};

// Runs `attempt`. A transient failure (an EnvError that is retryable(): a lost session, a server restarting)
// calls `reset` (drop what failed), waits 1 s, 2 s, 4 s… (at most 30 s; Ctrl-C or `cancel` end the wait) and runs
// `attempt` again, which must go on from what is committed. After `attempts` tries, or a failure retrying cannot
// fix, throws EnvError: "<what>: <cause> (gave up after N attempts); <kept> to continue" (or "once the cause is
// fixed"). Throws Cancelled when `cancel` is raised (another task failed).
void retry_transient(const std::string &what, int attempts, const std::atomic<bool> &cancel,
                     const std::function<void()> &attempt, const std::function<void()> &reset, const RetryText &text);

} // namespace c2p
