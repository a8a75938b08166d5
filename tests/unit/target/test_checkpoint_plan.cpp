#include <gtest/gtest.h>

#include "target/checkpoint_store.hpp"

using namespace c2p;

TEST(CheckpointPlan, OneRangeForOneJobOrSmallCollections) {
    auto r = plan_ranges(50000, 1, 10000);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].start, 0u);
    EXPECT_EQ(r[0].end, kOpenEnd);
    EXPECT_EQ(plan_ranges(15000, 4, 10000).size(), 1u);
    EXPECT_EQ(plan_ranges(0, 4, 10000).size(), 1u);
}

TEST(CheckpointPlan, RangesTileTheCollectionAndTheLastIsOpen) {
    auto r = plan_ranges(50001, 4, 10000);
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0].start, 0u);
    for (size_t i = 1; i < r.size(); ++i) EXPECT_EQ(r[i].start, r[i - 1].end);
    EXPECT_EQ(r.back().end, kOpenEnd); // records added after planning are still read
    EXPECT_EQ(plan_ranges(25000, 4, 10000).size(), 2u);
}

TEST(CheckpointPlan, OptionDifferencesNameTheOption) {
    nlohmann::ordered_json a = {{"source", "/data/a"}, {"schema", "public"}, {"collections", {"x", "y"}}};
    EXPECT_TRUE(run_option_differences(a, a).empty());
    auto b = a;
    b["source"] = "/data/b";
    b["collections"] = {"x"};
    auto d = run_option_differences(a, b);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_NE(d[0].find("source"), std::string::npos);
    EXPECT_NE(d[0].find("/data/a"), std::string::npos);
    EXPECT_NE(d[1].find("collections"), std::string::npos);
}
