#include "util/interrupt.hpp"

#include <atomic>
#include <csignal>

namespace c2p {

Interrupted::Interrupted(int s, const std::string &msg) : Error(static_cast<ExitCode>(128 + s), msg), signo(s) {}

namespace interrupt {
namespace {

std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "set from a signal handler");

extern "C" void on_signal(int s) { g_signal.store(s); }

} // namespace

void install() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    // SA_RESETHAND: the first signal asks for a clean stop; the next one gets the default (kill).
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

int requested() { return g_signal.load(); }

std::string signal_name(int s) {
    switch (s) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "signal " + std::to_string(s);
    }
}

void throw_if_requested(const std::string &what) {
    if (int s = requested()) throw Interrupted(s, "interrupted by " + signal_name(s) + ": " + what);
}

} // namespace interrupt
} // namespace c2p
