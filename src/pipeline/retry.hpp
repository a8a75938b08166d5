// The runner's retry policy: work that goes on from what is committed is tried again after a transient
// failure, with a backoff, instead of failing the run.
#pragma once

#include <atomic>
#include <functional>
#include <string>

namespace c2p {

// Runs `attempt`. A transient failure (an EnvError that is retryable(): a lost session, a server restarting)
// calls `reset` (drop what failed), waits 1 s, 2 s, 4 s… (at most 30 s; Ctrl-C or `cancel` end the wait) and runs
// `attempt` again, which must go on from what is committed. After `attempts` tries, or a failure retrying cannot
// fix, throws EnvError: "<what>: <cause> (gave up after N attempts); <kept> to continue" (or "once the cause is
// fixed"). Throws Cancelled when `cancel` is raised (another task failed).
void retry_transient(const std::string &what, int attempts, const std::atomic<bool> &cancel,
                     const std::function<void()> &attempt, const std::function<void()> &reset, const std::string &kept);

// What a checkpointed run keeps when it stops, for retry_transient's `kept`.
constexpr const char *kResumeAdvice = "everything committed so far is kept: rerun the same command with --resume";

} // namespace c2p
