#include <gtest/gtest.h>

#include <chrono>

#include "commands/run_summary.hpp"

using namespace c2p;
using json = nlohmann::ordered_json;

// A row: name, status, the command's head fields, this run's figures (rates from them), then its tail.
TEST(RunSummary, RowPutsItsFiguresBetweenTheCommandsFields) {
    SummaryRow r{"docs", "resumed", {{"id", "c1"}, {"table", "c2p_docs"}}, RunFigures{300, 200, 5, 3'000'000, 2.0},
                 {{"rows", 500}}};
    json j = r.to_json();
    std::vector<std::string> keys;
    for (const auto &[k, v] : j.items()) keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"name", "status", "id", "table", "records_read", "records_written",
                                              "rejected", "seconds", "records_per_second", "mb_per_second", "bytes",
                                              "rows"}));
    EXPECT_EQ(j["records_read"], 300);
    EXPECT_EQ(j["records_written"], 200);
    EXPECT_DOUBLE_EQ(j["records_per_second"].get<double>(), 150.0);
    EXPECT_DOUBLE_EQ(j["mb_per_second"].get<double>(), 1.5);
    EXPECT_EQ(*r.field("table"), "c2p_docs");
    EXPECT_EQ(*r.field("rows"), 500);
    EXPECT_EQ(r.field("nothing"), nullptr);
}

// Totals sum the rows that have figures (a sync row of a collection not migrated has none) and take
// their seconds from the run's wall time, not the sum (collections may load side by side).
TEST(RunSummary, TotalsSumTheFiguresOverTheRunsWallTime) {
    RunSummary s;
    s.rows.push_back({"a", "migrated", {}, RunFigures{10, 10, 0, 100, 50.0}});
    s.rows.push_back({"b", "not migrated", {{"id", "x"}}});
    s.rows.push_back({"c", "migrated", {}, RunFigures{5, 4, 1, 50, 50.0}});
    s.close(std::chrono::steady_clock::now() - std::chrono::seconds(2));
    EXPECT_EQ(s.totals.read, 15u);
    EXPECT_EQ(s.totals.written, 14u);
    EXPECT_EQ(s.totals.rejected, 1u);
    EXPECT_EQ(s.totals.bytes, 150u);
    EXPECT_GE(s.totals.seconds, 2.0);
    EXPECT_LT(s.totals.seconds, 60.0);
    s.totals_extra = {{"records", 14}};
    json t = s.totals_json();
    EXPECT_EQ(t["collections"], 3);
    EXPECT_EQ(t["records_read"], 15);
    EXPECT_EQ(t["records"], 14);
    json rows = s.rows_json();
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_FALSE(rows[1].contains("records_read")); // no figures: shown as "-" with its status
    EXPECT_EQ(rows[1]["status"], "not migrated");
}
