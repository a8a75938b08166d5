#include <gtest/gtest.h>

#include "util/utc_time.hpp"

using namespace c2p;

TEST(UtcTime, Formats) {
    EXPECT_EQ(utc_compact(0), "19700101T000000Z");
    EXPECT_EQ(utc_iso8601(86400 + 61), "1970-01-02T00:01:01Z");
    const auto t = std::chrono::system_clock::from_time_t(86400 + 61) + std::chrono::milliseconds(7);
    EXPECT_EQ(utc_iso8601_ms(t), "1970-01-02T00:01:01.007Z");
    EXPECT_EQ(utc_iso8601_ms(std::chrono::system_clock::from_time_t(0)), "1970-01-01T00:00:00.000Z");
}
