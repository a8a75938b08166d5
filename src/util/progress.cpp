#include "util/progress.hpp"

#include <atomic>
#include <cstdio>
#include <unistd.h>

#include <fmt/format.h>

#include "util/log.hpp"

namespace c2p {

namespace {
std::atomic<double> g_interval{5.0};
} // namespace

void set_progress_interval(double seconds) { g_interval = seconds; }
double progress_interval() { return g_interval; }

std::string human_bytes(double b) {
    const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    return fmt::format("{:.1f} {}", b, units[u]);
}

std::string human_duration(double s) {
    if (s < 0 || s > 1e7) return "?";
    auto t = static_cast<long>(s + 0.5);
    if (t >= 3600) return fmt::format("{}h{:02}m{:02}s", t / 3600, (t / 60) % 60, t % 60);
    if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
    return fmt::format("{:.1f}s", s);
}

Progress::Progress(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
    if (!finished_) finish();
}

double Progress::elapsed_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::add(uint64_t records, uint64_t bytes) {
    std::lock_guard lk(mu_);
    done_ += records;
    bytes_ += bytes;
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    auto interval = tty_ ? std::chrono::duration<double>(0.2) : std::chrono::duration<double>(progress_interval());
    if (now - last_draw_ >= interval) {
        last_draw_ = now;
        draw(false);
    }
}

void Progress::finish() {
    std::lock_guard lk(mu_);
    if (finished_) return;
    finished_ = true;
    if (enabled_ && tty_) {
        std::fputs("\r\033[K", stderr);
        log::set_progress_line_active(false);
    }
}

void Progress::draw(bool) {
    double secs = elapsed_seconds();
    double rate = secs > 0 ? done_ / secs : 0;
    std::string eta = (total_ > 0 && rate > 0 && done_ <= total_) ? human_duration((total_ - done_) / rate) : "?";
    if (tty_ && log::format() == log::Format::text) {
        int width = 30;
        double frac = total_ ? std::min(1.0, static_cast<double>(done_) / total_) : 0;
        int fill = static_cast<int>(frac * width);
        std::string bar(fill, '#');
        bar.resize(width, '.');
        std::fprintf(stderr, "\r\033[K%s [%s] %llu/%llu %.0f rec/s %s/s ETA %s", label_.c_str(), bar.c_str(),
                     static_cast<unsigned long long>(done_), static_cast<unsigned long long>(total_), rate,
                     human_bytes(bytes_ / std::max(secs, 1e-9)).c_str(), eta.c_str());
        std::fflush(stderr);
        log::set_progress_line_active(true);
    } else {
        log::info("progress",
                  fmt::format("{}: {}/{} records, {:.0f} rec/s, ETA {}", label_, done_, total_, rate, eta),
                  {{"label", label_}, {"records", done_}, {"total", total_}, {"rate", rate}});
    }
}

void RunEta::add_collection(uint64_t records) {
    std::lock_guard<std::mutex> lock(mu_);
    total_records_ += records;
    ++total_;
}

void RunEta::collection_done(uint64_t records) {
    std::lock_guard<std::mutex> lock(mu_);
    done_records_ += records;
    ++done_;
    if (!enabled_ || total_ < 2 || done_ >= total_) return;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double pace = secs / double(std::max<uint64_t>(done_records_, 1));
    double eta = pace * double(total_records_ - std::min(done_records_, total_records_));
    log::info("run_progress",
              fmt::format("run: {} of {} collections done, {} of {} records, {} so far; ETA {} for the rest (loads and "
                          "indexes, at this run's pace)",
                          done_, total_, done_records_, total_records_, human_duration(secs), human_duration(eta)),
              {{"collections_done", done_}, {"collections", total_}, {"records_done", done_records_},
               {"records", total_records_}, {"eta_seconds", eta}});
}

} // namespace c2p
