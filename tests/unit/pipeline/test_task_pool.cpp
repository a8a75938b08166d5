#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/task_pool.hpp"

using namespace c2p;
using namespace std::chrono_literals;

// A finish task runs on a finisher while the loader goes on: the second load task ends the finish task
// it handed on, which would wait forever (here: fail after 10 s) were they run one after the other.
TEST(TaskPool, FinishLaneRunsBesideTheLoaders) {
    TaskPool pool(1, 1);
    std::promise<void> loaded_next;
    auto next = loaded_next.get_future().share();
    int finish_worker = -1, load_worker = -1;
    bool overlapped = false;
    pool.add([&](int w) {
        load_worker = w;
        pool.add_finish([&, next](int fw) {
            finish_worker = fw;
            overlapped = next.wait_for(10s) == std::future_status::ready;
        });
    });
    pool.add([&](int) { loaded_next.set_value(); });
    pool.run();
    EXPECT_TRUE(overlapped);
    EXPECT_EQ(load_worker, 0);
    EXPECT_EQ(finish_worker, 1); // the finishers are numbered after the loaders
}

TEST(TaskPool, FinishersRunSideBySide) {
    TaskPool pool(1, 2);
    std::mutex mu;
    std::set<int> seen;
    std::promise<void> both;
    auto all = both.get_future().share();
    int arrived = 0;
    bool overlapped = true;
    for (int i = 0; i < 2; ++i)
        pool.add([&, all](int) {
            pool.add_finish([&, all](int fw) {
                {
                    std::lock_guard lk(mu);
                    seen.insert(fw);
                    if (++arrived == 2) both.set_value();
                }
                if (all.wait_for(10s) != std::future_status::ready) overlapped = false;
            });
        });
    pool.run();
    EXPECT_TRUE(overlapped);
    EXPECT_EQ(seen, (std::set<int>{1, 2}));
}

TEST(TaskPool, WithoutFinishersTheLoadLaneFinishes) {
    TaskPool pool(1);
    std::vector<std::string> order;
    pool.add([&](int) {
        order.push_back("load a");
        pool.add_finish([&](int w) { order.push_back("finish a on " + std::to_string(w)); });
    });
    pool.add([&](int) { order.push_back("load b"); });
    pool.run();
    EXPECT_EQ(order, (std::vector<std::string>{"load a", "load b", "finish a on 0"}));
}

TEST(TaskPool, AFinisherFailureCancelsTheLoads) {
    TaskPool pool(1, 1);
    std::promise<void> failed;
    auto f = failed.get_future().share();
    bool later_load_ran = false;
    pool.add([&](int) {
        pool.add_finish([&](int) {
            failed.set_value();
            throw std::runtime_error("index build failed");
        });
        f.wait_for(10s);
        // The failure is recorded once the task has thrown: this load ends after it, as a real one polls.
        for (int i = 0; i < 10000 && !pool.cancelled(); ++i) std::this_thread::sleep_for(1ms);
    });
    pool.add([&](int) { later_load_ran = true; });
    try {
        pool.run();
        FAIL() << "run() did not rethrow";
    } catch (const std::runtime_error &e) {
        EXPECT_STREQ(e.what(), "index build failed");
    }
    EXPECT_TRUE(pool.cancelled());
    EXPECT_FALSE(later_load_ran);
}
