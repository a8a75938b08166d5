#include "pipeline/range_runner.hpp"

#include <memory>

namespace c2p {

void RangeRunner::run(const std::vector<RangeWork> &work, const RangeSteps &steps) {
    auto left = std::make_unique<std::atomic<size_t>[]>(work.size());
    auto finish = [&](size_t c, int worker) {
        if (finishers_ == 0) return steps.finish(c, worker);
        pool_.add_finish([&steps, c](int w) { steps.finish(c, w); });
    };
    for (size_t c = 0; c < work.size(); ++c) {
        left[c] = work[c].ranges.size();
        if (work[c].ranges.empty()) {
            pool_.add([&, c](int w) {
                steps.started(c);
                finish(c, w);
            });
            continue;
        }
        for (size_t r : work[c].ranges)
            pool_.add([&, c, r](int w) {
                steps.started(c);
                steps.load(c, r, w);
                if (--left[c] == 0) finish(c, w);
            });
    }
    pool_.run();
}

} // namespace c2p
