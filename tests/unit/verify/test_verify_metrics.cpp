#include <gtest/gtest.h>

#include <cmath>

#include "verify/bench.hpp"
#include "verify/search_check.hpp"
#include "verify/search_metrics.hpp"

using namespace c2p;

TEST(VerifyMetrics, DistanceConversionToChromaConvention) {
    // l2: pgvector gives the Euclidean distance, Chroma the squared one.
    EXPECT_DOUBLE_EQ(pg_to_chroma_distance(Space::l2, 3.0), 9.0);
    // ip: pgvector <#> is the negative dot product; Chroma reports 1 - dot.
    EXPECT_DOUBLE_EQ(pg_to_chroma_distance(Space::ip, -0.25), 0.75);
    EXPECT_DOUBLE_EQ(pg_to_chroma_distance(Space::ip, 2.0), 3.0);
    EXPECT_DOUBLE_EQ(pg_to_chroma_distance(Space::cosine, 0.125), 0.125);
}

TEST(VerifyMetrics, ClientSideDistancesMatchPgvectorDefinitions) {
    float a[] = {1, 0, 0}, b[] = {0, 2, 0};
    EXPECT_NEAR(pg_distance(Space::l2, a, b, 3), std::sqrt(5.0), 1e-12);
    EXPECT_NEAR(pg_distance(Space::ip, a, a, 3), -1.0, 1e-12);
    EXPECT_NEAR(pg_distance(Space::cosine, a, b, 3), 1.0, 1e-12);
    EXPECT_NEAR(pg_distance(Space::cosine, a, a, 3), 0.0, 1e-12);
    float z[] = {0, 0, 0};
    EXPECT_TRUE(std::isnan(pg_distance(Space::cosine, a, z, 3)));
}

TEST(VerifyMetrics, RecallCountsHitsAndTies) {
    std::vector<Neighbour> exact = {{"a", 0.1}, {"b", 0.2}, {"c", 0.3}, {"d", 0.4}};
    EXPECT_DOUBLE_EQ(recall_at_k(exact, exact, 4), 1.0);
    std::vector<Neighbour> approx = {{"a", 0.1}, {"b", 0.2}, {"x", 0.5}, {"y", 0.6}};
    EXPECT_DOUBLE_EQ(recall_at_k(exact, approx, 4), 0.5);
    // A different id at exactly the k-th distance is a tie, not a miss.
    std::vector<Neighbour> tie = {{"a", 0.1}, {"b", 0.2}, {"c", 0.3}, {"e", 0.4}};
    EXPECT_DOUBLE_EQ(recall_at_k(exact, tie, 4), 1.0);
    // Duplicates in the approximate list count once.
    std::vector<Neighbour> dup = {{"a", 0.1}, {"a", 0.1}, {"a", 0.1}, {"a", 0.1}};
    EXPECT_DOUBLE_EQ(recall_at_k(exact, dup, 4), 0.25);
    // Fewer than k exact results (a tiny table): recall over what exists.
    std::vector<Neighbour> two = {{"a", 0.1}, {"b", 0.2}};
    EXPECT_DOUBLE_EQ(recall_at_k(two, two, 10), 1.0);
    EXPECT_DOUBLE_EQ(recall_at_k({}, {}, 10), 1.0);
    EXPECT_DOUBLE_EQ(recall_at_k(exact, {}, 4), 0.0);
}

TEST(VerifyMetrics, IdOverlap) {
    std::vector<Neighbour> a = {{"a", 0}, {"b", 0}, {"c", 0}}, b = {{"c", 0}, {"d", 0}, {"a", 0}};
    EXPECT_NEAR(id_overlap(a, b, 3), 2.0 / 3.0, 1e-12);
    EXPECT_DOUBLE_EQ(id_overlap(a, a, 3), 1.0);
}

TEST(VerifyMetrics, PercentilesAreNearestRankAndMonotone) {
    std::vector<double> v;
    for (int i = 100; i >= 1; --i) v.push_back(i);
    EXPECT_DOUBLE_EQ(percentile(v, 50), 50);
    EXPECT_DOUBLE_EQ(percentile(v, 95), 95);
    EXPECT_DOUBLE_EQ(percentile(v, 99), 99);
    EXPECT_DOUBLE_EQ(percentile(v, 100), 100);
    EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
    EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
    EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
    std::vector<double> skew = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1000};
    EXPECT_LE(percentile(skew, 50), percentile(skew, 95));
    EXPECT_LE(percentile(skew, 95), percentile(skew, 99));
    EXPECT_DOUBLE_EQ(percentile(skew, 99), 1000);
    EXPECT_DOUBLE_EQ(median({3, 1, 2, 4}), 2.5);
}

TEST(VerifyMetrics, LatencySummary) {
    auto l = latency_summary({4, 1, 3, 2}, 2.0);
    EXPECT_EQ(l.queries, 4u);
    EXPECT_DOUBLE_EQ(l.qps, 2.0);
    EXPECT_DOUBLE_EQ(l.p50_ms, 2);
    EXPECT_DOUBLE_EQ(l.p99_ms, 4);
    EXPECT_DOUBLE_EQ(l.mean_ms, 2.5);
    EXPECT_DOUBLE_EQ(l.max_ms, 4);
}

TEST(VerifyMetrics, DistanceAgreementTolerance) {
    EXPECT_TRUE(distances_agree(1.0, 1.0000001));
    EXPECT_TRUE(distances_agree(0.0, 5e-5));
    EXPECT_FALSE(distances_agree(1.0, 1.01));
    EXPECT_TRUE(distances_agree(1000.0, 1000.5));
    EXPECT_FALSE(distances_agree(0.2, 0.25));
}

TEST(VerifyMetrics, VectorTextIsExact) {
    float v[] = {0.1f, -2.0f, 1e-7f};
    EXPECT_EQ(vector_text(v, 3), "[0.1,-2,1e-07]");
}

TEST(VerifyMetrics, RecallGapNoiseIsPaired) {
    // test_resume's CI case: 5 queries, one of them 2 neighbours short: a 0.04 gap, noise 0.08.
    std::vector<double> ours{0.8, 1, 1, 1, 1}, theirs{1, 1, 1, 1, 1};
    EXPECT_NEAR(mean_of(theirs) - mean_of(ours), 0.04, 1e-12);
    EXPECT_NEAR(gap_noise(ours, theirs), 0.08, 1e-12);
    // The same gap on every query is no noise at all.
    EXPECT_DOUBLE_EQ(gap_noise({0.9, 0.9, 0.9}, {1, 1, 1}), 0.0);
    // Too few pairs to tell: all noise.
    EXPECT_DOUBLE_EQ(gap_noise({0.5}, {1}), 1.0);
    EXPECT_DOUBLE_EQ(mean_of({}), 0.0);
}
