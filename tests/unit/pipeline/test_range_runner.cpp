#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "pipeline/range_runner.hpp"
#include "util/error.hpp"

using namespace c2p;

namespace {
struct Trace {
    std::mutex mu;
    std::multiset<std::pair<size_t, size_t>> loaded;
    std::map<size_t, int> finished;             // collection -> how many times
    std::map<size_t, int> finish_worker;
    std::map<size_t, std::set<size_t>> loaded_before_finish;
    std::multiset<size_t> started;
};
} // namespace

// Every pending range is loaded once; each collection is finished once, after all its ranges; one with no
// range left (a resumed load whose ranges were all committed) is finished all the same.
TEST(RangeRunner, EachRangeOnceThenItsFinish) {
    for (int finishers : {0, 2}) {
        Trace t;
        RangeRunner runner(2, finishers);
        std::vector<RangeWork> work = {{{0, 1, 2}}, {{}}, {{1, 3}}};
        RangeSteps steps;
        steps.started = [&](size_t c) {
            std::lock_guard l(t.mu);
            t.started.insert(c);
        };
        steps.load = [&](size_t c, size_t r, int) {
            std::lock_guard l(t.mu);
            EXPECT_EQ(t.finished.count(c), 0u) << "range after its collection's finish";
            t.loaded.insert({c, r});
        };
        steps.finish = [&](size_t c, int w) {
            std::lock_guard l(t.mu);
            ++t.finished[c];
            t.finish_worker[c] = w;
            for (const auto &[lc, lr] : t.loaded)
                if (lc == c) t.loaded_before_finish[c].insert(lr);
        };
        runner.run(work, steps);
        EXPECT_EQ(t.loaded, (std::multiset<std::pair<size_t, size_t>>{{0, 0}, {0, 1}, {0, 2}, {2, 1}, {2, 3}}));
        EXPECT_EQ(t.finished, (std::map<size_t, int>{{0, 1}, {1, 1}, {2, 1}}));
        EXPECT_EQ(t.loaded_before_finish[0], (std::set<size_t>{0, 1, 2}));
        EXPECT_EQ(t.loaded_before_finish[2], (std::set<size_t>{1, 3}));
        EXPECT_EQ(t.started.count(1), 1u);
        EXPECT_EQ(t.started.count(0), 3u); // once per task: the caller's clock starts on the first
        for (const auto &[c, w] : t.finish_worker) {
            if (finishers == 0) EXPECT_LT(w, 2) << "collection " << c;
            else EXPECT_GE(w, 2) << "collection " << c << ": finished on a loader, not a finisher";
        }
    }
}

// A failing range stops the run: its error comes out of run(), and no collection it belongs to is finished.
TEST(RangeRunner, FirstFailureStopsTheRun) {
    RangeRunner runner(1, 0);
    std::vector<RangeWork> work = {{{0, 1}}, {{0}}};
    std::set<size_t> finished;
    RangeSteps steps;
    steps.started = [](size_t) {};
    steps.load = [&](size_t c, size_t r, int) {
        if (c == 0 && r == 1) throw DataError("range 1 of collection 0");
    };
    steps.finish = [&](size_t c, int) { finished.insert(c); };
    try {
        runner.run(work, steps);
        FAIL() << "no error";
    } catch (const DataError &e) {
        EXPECT_STREQ(e.what(), "range 1 of collection 0");
    }
    EXPECT_EQ(finished.count(0), 0u);
    EXPECT_TRUE(runner.cancelled().load());
}
