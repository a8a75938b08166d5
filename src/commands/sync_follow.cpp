#include "commands/sync_follow.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t applied(const SyncCounts &n) { return n.inserted + n.updated + n.deleted; }

} // namespace

FollowResult follow_sync(const FollowOptions &o, PgConnection &pg,
                         const std::function<SyncRound(PgConnection &)> &round) {
    interrupt::install();
    auto stop_file_seen = [&] {
        std::error_code ec;
        return !o.stop_file.empty() && std::filesystem::exists(o.stop_file, ec);
    };
    FollowResult out;
    std::unique_ptr<PgConnection> fresh; // replaces `pg` after a lost connection
    PgConnection *conn = &pg;
    uint64_t total_applied = 0;
    int rounds = 0, failures = 0;
    bool final_round = false;
    std::string stopped_by;
    double last_seconds = 0;
    std::optional<Clock::time_point> previous_start;
    for (;;) {
        if (!final_round && stop_file_seen()) final_round = true;
        const auto start = Clock::now();
        const double since = previous_start ? std::chrono::duration<double>(start - *previous_start).count() : 0;
        try {
            if (!conn->ok()) {
                fresh = std::make_unique<PgConnection>(o.to);
                conn = fresh.get();
            }
            out.last = round(*conn);
            failures = 0;
        } catch (const Interrupted &e) {
            // A collection's changes commit together: the one in progress keeps its previous state.
            stopped_by = interrupt::signal_name(e.signo);
            break;
        } catch (const EnvError &e) {
            if (++failures >= kFollowFailures) throw;
            log::warn("follow_retry", fmt::format("round {}: {}; retrying in {:.1f}s ({} of {} failures in a row)",
                                                  rounds + 1, e.what(), o.interval, failures, kFollowFailures),
                      {{"reason", e.what()}, {"failures", failures}});
            final_round = false; // the final round is one that succeeded after the stop request
        }
        if (failures == 0) {
            ++rounds;
            last_seconds = seconds_since(start);
            const SyncCounts &n = out.last.total;
            total_applied += applied(n);
            log::info("round",
                      fmt::format("round {}: {} change(s) applied ({} new, {} changed, {} removed) in {:.2f}s{}{}",
                                  rounds, applied(n), n.inserted, n.updated, n.deleted, last_seconds,
                                  previous_start ? fmt::format("; {:.2f}s since the previous round started", since) : "",
                                  final_round ? " (final round, after the stop file)" : ""),
                      {{"round", rounds}, {"applied", applied(n)}, {"inserted", n.inserted}, {"updated", n.updated},
                       {"deleted", n.deleted}, {"seconds", last_seconds}, {"since_previous", since}});
            previous_start = start;
        }
        if (int sig = interrupt::requested()) {
            stopped_by = interrupt::signal_name(sig);
            break;
        }
        if (final_round) {
            stopped_by = "stop file";
            break;
        }
        // The wait: a signal ends it and the run; the stop file ends it and starts the final round.
        const auto until = Clock::now() + std::chrono::duration<double>(o.interval);
        while (Clock::now() < until && !interrupt::requested() && !stop_file_seen())
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (int sig = interrupt::requested()) {
            stopped_by = interrupt::signal_name(sig);
            break;
        }
    }
    const uint64_t last_applied = applied(out.last.total);
    log::info("follow_done",
              fmt::format("stopped by {} after {} round(s), {} change(s) applied in all; last round applied {} change(s) "
                          "in {:.2f}s{}",
                          stopped_by, rounds, total_applied, last_applied, last_seconds,
                          stopped_by == "stop file" ? " (it started after the stop file appeared: the target holds "
                                                      "every write made before)"
                                                    : ""),
              {{"rounds", rounds}, {"applied", total_applied}, {"last_applied", last_applied},
               {"last_seconds", last_seconds}, {"stopped_by", stopped_by}});
    out.report = {{"rounds", rounds},
                  {"applied", total_applied},
                  {"stopped_by", stopped_by},
                  {"last_round", {{"applied", last_applied}, {"seconds", last_seconds},
                                  {"after_stop_file", stopped_by == "stop file"}}}};
    return out;
}

} // namespace c2p
