#include "pipeline/task_pool.hpp"

#include <thread>
#include <vector>

namespace c2p {

void TaskPool::add(Task t) {
    std::lock_guard lk(mu_);
    tasks_.push_back(std::move(t));
}

void TaskPool::run() {
    auto loop = [this](int w) {
        for (;;) {
            Task t;
            {
                std::lock_guard lk(mu_);
                if (tasks_.empty() || cancel_) return;
                t = std::move(tasks_.front());
                tasks_.pop_front();
            }
            try {
                t(w);
            } catch (...) {
                std::lock_guard lk(mu_);
                // The first error is the cause; what other workers throw while stopping is noise.
                if (!first_error_) first_error_ = std::current_exception();
                cancel_ = true;
            }
        }
    };
    if (workers_ == 1) {
        loop(0);
    } else {
        std::vector<std::thread> threads;
        for (int w = 0; w < workers_; ++w) threads.emplace_back(loop, w);
        for (auto &t : threads) t.join();
    }
    if (first_error_) std::rethrow_exception(first_error_);
}

} // namespace c2p
