// A fixed set of worker threads draining FIFOs of tasks; each task learns which worker runs it, so
// per-worker state (a database connection, a source handle) needs no locking. Two lanes: the load
// lane (workers 0..loaders-1) and, when asked for, a finish lane (the workers after them) that takes
// what load tasks hand on with add_finish() while the loaders go on: a collection's index builds on
// its own session while the next one loads. The first failure raises the cancel flag (running tasks
// are expected to poll it) and is rethrown by run().
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>

namespace c2p {

class TaskPool {
public:
    using Task = std::function<void(int worker)>;
    explicit TaskPool(int loaders, int finishers = 0) : loaders_(loaders < 1 ? 1 : loaders), finishers_(finishers < 0 ? 0 : finishers) {}
    void add(Task t);
    // A task for the finish lane (the load lane when the pool has no finishers); callable from a task.
    void add_finish(Task t);
    // Runs every task (skipping those not started once cancelled); rethrows the first real error.
    void run();
    const std::atomic<bool> &cancelled() const { return cancel_; }
    int workers() const { return loaders_ + finishers_; }

private:
    void loop(int worker, std::deque<Task> &queue);
    int loaders_, finishers_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Task> load_, finish_;
    int running_ = 0; // tasks running now: while any runs, a finish task may still come
    std::atomic<bool> cancel_{false};
    std::exception_ptr first_error_;
};

} // namespace c2p
