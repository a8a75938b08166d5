// A fixed set of worker threads draining a FIFO of tasks; each task learns which worker runs it, so
// per-worker state (a database connection, a source handle) needs no locking. The first failure
// raises the cancel flag (running tasks are expected to poll it) and is rethrown by run().
#pragma once

#include <atomic>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>

namespace c2p {

class TaskPool {
public:
    using Task = std::function<void(int worker)>;
    explicit TaskPool(int workers) : workers_(workers < 1 ? 1 : workers) {}
    void add(Task t);
    // Runs every task (skipping those not started once cancelled); rethrows the first real error.
    void run();
    const std::atomic<bool> &cancelled() const { return cancel_; }

private:
    int workers_;
    std::mutex mu_;
    std::deque<Task> tasks_;
    std::atomic<bool> cancel_{false};
    std::exception_ptr first_error_;
};

} // namespace c2p
