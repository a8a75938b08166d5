// Progress on stderr: a redrawn bar with rate and ETA on a terminal, periodic lines otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace c2p {

class Progress {
public:
    // `total` may be 0 when unknown. Disabled entirely when `enabled` is false (--quiet, --json logs).
    Progress(std::string label, uint64_t total, bool enabled);
    ~Progress();
    void add(uint64_t records, uint64_t bytes);
    void finish();
    uint64_t done() const { return done_; }
    double elapsed_seconds() const;

private:
    void draw(bool final_line);
    std::string label_;
    uint64_t total_;
    uint64_t done_ = 0;
    uint64_t bytes_ = 0;
    bool enabled_;
    bool tty_;
    bool finished_ = false;
    std::chrono::steady_clock::time_point start_, last_draw_;
    std::mutex mu_;
};

// The whole run's ETA across collections, from the run's own pace so far (loads and index builds
// together): one line each time a collection finishes, while others remain.
class RunEta {
public:
    explicit RunEta(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
    void add_collection(uint64_t records);
    void collection_done(uint64_t records);

private:
    bool enabled_;
    std::chrono::steady_clock::time_point start_;
    uint64_t total_records_ = 0, done_records_ = 0;
    size_t total_ = 0, done_ = 0;
    std::mutex mu_;
};

// Seconds between progress lines when stderr is not a terminal (load progress, index-build progress).
void set_progress_interval(double seconds);
double progress_interval();

std::string human_bytes(double bytes);
std::string human_duration(double seconds);

} // namespace c2p
