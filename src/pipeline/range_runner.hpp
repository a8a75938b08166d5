// migrate's load, for every layout: each collection's unfinished ranges run on `loaders` workers; once a
// collection's last range is in, the collection is finished (indexed and swapped in, or published) on the
// worker that loaded that range or, with `finishers`, on a session of its own while the loaders go on.
// What a range or a finish does (its session, checkpoints and retries) is the caller's.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <vector>

#include "pipeline/task_pool.hpp"

namespace c2p {

struct RangeWork {
    std::vector<size_t> ranges; // the collection's ranges still to load; none: only its finish is left
};

struct RangeSteps {
    std::function<void(size_t collection)> started; // on the first of its tasks to run (its clock starts)
    std::function<void(size_t collection, size_t range, int worker)> load;
    std::function<void(size_t collection, int worker)> finish; // once, after its last range
};

class RangeRunner {
public:
    RangeRunner(int loaders, int finishers) : pool_(loaders, finishers), finishers_(finishers) {}
    // Raised by the first failure: a running range stops at its next batch (it throws Cancelled).
    const std::atomic<bool> &cancelled() const { return pool_.cancelled(); }
    // Runs every collection's work to its finish; rethrows the first failure.
    void run(const std::vector<RangeWork> &work, const RangeSteps &steps);

private:
    TaskPool pool_;
    int finishers_;
};

} // namespace c2p
