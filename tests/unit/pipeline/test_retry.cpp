#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "pipeline/retry.hpp"
#include "util/error.hpp"

using namespace c2p;

// A transient failure is tried again (after resetting what failed) until the work succeeds.
TEST(RetryTransient, RetriesUntilItSucceeds) {
    std::atomic<bool> cancel{false};
    int tries = 0, resets = 0;
    retry_transient(
        "range 0", 5, cancel,
        [&] {
            if (++tries < 2) throw EnvError("connection lost");
        },
        [&] { ++resets; }, kMigrateRetry);
    EXPECT_EQ(tries, 2);
    EXPECT_EQ(resets, 1);
}

// A refusal retrying cannot fix fails at once, and says to go on once the cause is fixed.
TEST(RetryTransient, NotRetryableFailsAtOnce) {
    std::atomic<bool> cancel{false};
    int tries = 0;
    try {
        retry_transient("range 0", 5, cancel, [&] { ++tries, throw EnvError("disk full", false); }, [] {}, kMigrateRetry);
        FAIL() << "no error";
    } catch (const EnvError &e) {
        EXPECT_EQ(std::string(e.what()), "range 0: disk full; everything committed so far is kept: rerun the same "
                                         "command with --resume once the cause is fixed");
        EXPECT_FALSE(e.retryable());
    }
    EXPECT_EQ(tries, 1);
}

// The last attempt's failure is the run's, with how many were made; other errors are not retried.
TEST(RetryTransient, GivesUpAfterTheAttempts) {
    std::atomic<bool> cancel{false};
    int tries = 0;
    try {
        retry_transient("range 0", 1, cancel, [&] { ++tries, throw EnvError("server restarting"); }, [] {}, kMigrateRetry);
        FAIL() << "no error";
    } catch (const EnvError &e) {
        EXPECT_EQ(std::string(e.what()), "range 0: server restarting (gave up after 1 attempts); everything committed "
                                         "so far is kept: rerun the same command with --resume to continue");
    }
    EXPECT_EQ(tries, 1);
    tries = 0;
    EXPECT_THROW(retry_transient("range 0", 5, cancel, [&] { ++tries, throw DataError("bad record"); }, [] {}, kMigrateRetry),
                 DataError);
    EXPECT_EQ(tries, 1);
}

// Another task failed (the cancel flag): a failing attempt is not retried.
TEST(RetryTransient, CancelledIsNotRetried) {
    std::atomic<bool> cancel{true};
    EXPECT_THROW(retry_transient("range 0", 5, cancel, [] { throw EnvError("connection lost"); }, [] {}, kMigrateRetry),
                 Cancelled);
}

// restore's words: where it goes on from, and what the user keeps.
TEST(RetryTransient, TheCommandsWords) {
    std::atomic<bool> cancel{false};
    try {
        retry_transient("collection 'docs'", 1, cancel, [] { throw EnvError("cannot reach Chroma"); }, [] {}, kRestoreRetry);
        FAIL() << "no error";
    } catch (const EnvError &e) {
        EXPECT_EQ(std::string(e.what()), "collection 'docs': cannot reach Chroma (gave up after 1 attempts); the records "
                                         "sent so far are kept and are not sent again: rerun the same command to continue");
    }
}
