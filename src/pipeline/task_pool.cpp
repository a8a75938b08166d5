#include "pipeline/task_pool.hpp"

#include <thread>
#include <vector>

namespace c2p {

void TaskPool::add(Task t) {
    {
        std::lock_guard lk(mu_);
        load_.push_back(std::move(t));
    }
    cv_.notify_all();
}

void TaskPool::add_finish(Task t) {
    {
        std::lock_guard lk(mu_);
        (finishers_ > 0 ? finish_ : load_).push_back(std::move(t));
    }
    cv_.notify_all();
}

void TaskPool::loop(int w, std::deque<Task> &queue) {
    for (;;) {
        Task t;
        {
            std::unique_lock lk(mu_);
            // An idle worker waits while a task runs or waits that may still hand it work.
            auto all_done = [&] { return running_ == 0 && load_.empty() && finish_.empty(); };
            cv_.wait(lk, [&] { return cancel_ || !queue.empty() || all_done(); });
            if (cancel_ || queue.empty()) return;
            t = std::move(queue.front());
            queue.pop_front();
            ++running_;
        }
        try {
            t(w);
        } catch (...) {
            std::lock_guard lk(mu_);
            // The first error is the cause; what other workers throw while stopping is noise.
            if (!first_error_) first_error_ = std::current_exception();
            cancel_ = true;
        }
        {
            std::lock_guard lk(mu_);
            --running_;
        }
        cv_.notify_all();
    }
}

void TaskPool::run() {
    if (workers() == 1) {
        loop(0, load_);
    } else {
        std::vector<std::thread> threads;
        for (int w = 0; w < workers(); ++w) threads.emplace_back([this, w] { loop(w, w < loaders_ ? load_ : finish_); });
        for (auto &t : threads) t.join();
    }
    if (first_error_) std::rethrow_exception(first_error_);
}

} // namespace c2p
