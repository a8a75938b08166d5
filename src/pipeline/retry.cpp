#include "pipeline/retry.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {
// Sleeps up to `s` seconds, waking early when the run is cancelled or interrupted.
void backoff_sleep(double s, const std::atomic<bool> &cancel) {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(s);
    while (std::chrono::steady_clock::now() < until && !cancel && !interrupt::requested())
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
}
} // namespace

void retry_transient(const std::string &what, int attempts, const std::atomic<bool> &cancel,
                     const std::function<void()> &attempt, const std::function<void()> &reset, const RetryText &text) {
    for (int n = 1;; ++n) {
        try {
            attempt();
            return;
        } catch (const EnvError &e) {
            if (cancel) throw Cancelled();
            const bool hopeless = !e.retryable();
            if (hopeless || n >= attempts)
                throw EnvError(fmt::format("{}: {}{}; {} {}", what, e.what(),
                                           hopeless ? "" : fmt::format(" (gave up after {} attempts)", n), text.kept,
                                           hopeless ? "once the cause is fixed" : "to continue"),
                               false);
            const double delay = std::min(30.0, 0.5 * (1 << std::min(n, 6)));
            log::warn("retry", fmt::format("{}: {}; retrying from {} in {:.1f}s (attempt {}/{})", what, e.what(),
                                           text.from, delay, n + 1, attempts),
                      {{"what", what}, {"attempt", n + 1}, {"reason", e.what()}});
            reset();
            backoff_sleep(delay, cancel);
            if (cancel) throw Cancelled();
        }
    }
}

} // namespace c2p
