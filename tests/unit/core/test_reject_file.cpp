#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <unistd.h>

#include "target/pgvector_sink.hpp"
#include "core/reject_file.hpp"

using namespace c2p;
using json = nlohmann::ordered_json;

namespace {
RecordBatch one(std::string id, std::vector<float> v, std::optional<std::string> doc, Metadata m = {}) {
    RecordBatch b;
    b.dim = static_cast<uint32_t>(v.size());
    b.push(std::move(id), v.data(), std::move(doc), std::nullopt, std::move(m));
    return b;
}
} // namespace

TEST(RejectFile, Base64) {
    EXPECT_EQ(base64(""), "");
    EXPECT_EQ(base64("f"), "Zg==");
    EXPECT_EQ(base64("fo"), "Zm8=");
    EXPECT_EQ(base64("foo"), "Zm9v");
    EXPECT_EQ(base64(std::string("\xff\x00\x80", 3)), "/wCA");
}

TEST(RejectFile, NonFiniteFloatsBecomeStrings) {
    auto b = one("a", {1.5f, std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY}, "doc",
                 {{"x", MetaValue(std::nan(""))}});
    json j = json::parse(reject_line(b, 0, 7, "col", "embedding[1] is NaN", "rejected"));
    EXPECT_EQ(j["offset"], 7);
    EXPECT_EQ(j["collection"], "col");
    EXPECT_EQ(j["reason"], "embedding[1] is NaN");
    EXPECT_EQ(j["record"]["embedding"][0], 1.5);
    EXPECT_EQ(j["record"]["embedding"][1], "NaN");
    EXPECT_EQ(j["record"]["embedding"][2], "Infinity");
    EXPECT_EQ(j["record"]["embedding"][3], "-Infinity");
    EXPECT_EQ(j["record"]["metadata"]["x"], "NaN");
    EXPECT_FALSE(j.contains("raw_base64"));
}

TEST(RejectFile, InvalidUtf8IsReplacedAndKeptRaw) {
    std::string bad = "ab\xff" "c";
    auto b = one("id1", {0.f}, bad, {{"k", MetaValue(std::string("\xc3"))}});
    std::string line = reject_line(b, 0, 0, "col", "document is not valid UTF-8", "rejected");
    json j = json::parse(line); // the line itself is valid JSON/UTF-8
    EXPECT_EQ(j["record"]["document"], "ab\xEF\xBF\xBD" "c");
    EXPECT_EQ(j["raw_base64"]["document"], base64(bad));
    EXPECT_EQ(j["raw_base64"]["metadata/k"], base64("\xc3"));
}

TEST(RejectFile, NulIsExactAndEscapeIsLossless) {
    std::string doc("a\0b", 3);
    auto b = one("n", {1.f}, doc, {{"s", MetaValue(std::string("x\0", 2))}});
    json j = json::parse(reject_line(b, 0, 0, "col", "document contains a NUL character", "escaped"));
    EXPECT_EQ(j["record"]["document"].get<std::string>(), doc);
    RecordBatch out;
    ASSERT_TRUE(escape_nul_record(b, 0, out));
    EXPECT_EQ(*out.documents[0], std::string("a") + kNulEscape + "b");
    EXPECT_EQ(std::get<std::string>(out.metadatas[0][0].second), std::string("x") + kNulEscape);
    RecordBatch none;
    auto clean = one("c", {1.f}, "plain");
    EXPECT_FALSE(escape_nul_record(clean, 0, none));
}

TEST(RejectFile, CheckBatchSortsGoodEscapedRejected) {
    auto dir = std::filesystem::temp_directory_path() / ("c2p-rej-" + std::to_string(::getpid()));
    RejectFile rf((dir / "t.jsonl").string(), "col");
    rf.reset();
    RecordBatch b;
    b.dim = 2;
    float ok[2] = {1, 2}, nan[2] = {NAN, 1};
    b.push("good", ok, "fine", std::nullopt, {});
    b.push("nan", nan, std::nullopt, std::nullopt, {});
    b.push("nul", ok, std::string("x\0y", 3), std::nullopt, {});
    b.push(std::string(3000, 'i'), ok, std::nullopt, std::nullopt, {});
    CollectionInfo c;
    c.name = "col";
    c.dimension = 2;
    PgvectorSinkOptions o;
    CheckedBatch cb;
    check_batch(b, c, 100, o, rf, cb);
    EXPECT_EQ(cb.good, std::vector<size_t>{0});
    EXPECT_EQ(cb.rejected, 3u);
    EXPECT_EQ(cb.first_rejected.rfind(" (first: record 'nan': ", 0), 0u) << cb.first_rejected;
    o.escape_nul = true;
    check_batch(b, c, 100, o, rf, cb);
    EXPECT_EQ(cb.rejected, 2u);
    ASSERT_EQ(cb.escaped_from, std::vector<size_t>{2});
    {
        // The first record *rejected* is named, not an escaped one before it.
        RecordBatch nul_first;
        nul_first.dim = 2;
        nul_first.push("nul", ok, std::string("x\0y", 3), std::nullopt, {});
        nul_first.push("nan", nan, std::nullopt, std::nullopt, {});
        RejectFile scratch((dir / "scratch.jsonl").string(), "col");
        scratch.reset();
        CheckedBatch cb2;
        check_batch(nul_first, c, 0, o, scratch, cb2);
        EXPECT_EQ(cb2.first_rejected.rfind(" (first: record 'nan': ", 0), 0u) << cb2.first_rejected;
        RecordBatch clean;
        clean.dim = 2;
        clean.push("good", ok, "fine", std::nullopt, {});
        check_batch(clean, c, 0, o, scratch, cb2);
        EXPECT_TRUE(cb2.first_rejected.empty()) << "left over from the previous batch";
    }
    rf.sync();
    EXPECT_EQ(rf.rejected(), 5u);
    EXPECT_EQ(rf.escaped(), 1u);
    // Resume: keep only lines below offset 102 (records 100 and 101).
    rf.prune([](uint64_t off) { return off < 102; });
    EXPECT_EQ(rf.rejected(), 2u); // "nan" twice
    EXPECT_EQ(rf.escaped(), 0u);
    std::ifstream in(rf.path());
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) {
        EXPECT_EQ(json::parse(line)["id"], "nan");
        ++n;
    }
    EXPECT_EQ(n, 2u);
    // A wrong dimension rejects the whole batch, record by record.
    c.dimension = 3;
    check_batch(b, c, 0, o, rf, cb);
    EXPECT_EQ(cb.rejected, 4u);
    EXPECT_TRUE(cb.good.empty());
    std::filesystem::remove_all(dir);
}
