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

std::string human_bytes(double bytes);
std::string human_duration(double seconds);

} // namespace c2p
