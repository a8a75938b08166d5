#include <gtest/gtest.h>

#include <cstring>

#include "core/metadata_json.hpp"
#include "core/record_digest.hpp"
#include "target/pg_table_reader.hpp"
#include "verify/digest_compare.hpp"
#include "verify/record_diff.hpp"
#include "verify/registry_check.hpp"
#include "verify/report_writer.hpp"

using namespace c2p;

namespace {

Digest dg(uint8_t v) {
    Digest d{};
    d[0] = v;
    return d;
}

RecordBatch one(const std::string &id, std::vector<float> v, std::optional<std::string> doc,
                std::optional<std::string> uri, Metadata m) {
    RecordBatch b;
    b.dim = static_cast<uint32_t>(v.size());
    b.push(id, v.data(), std::move(doc), std::move(uri), std::move(m));
    return b;
}

bool has(const std::vector<std::string> &v, const std::string &s) {
    for (const auto &x : v)
        if (x.find(s) != std::string::npos) return true;
    return false;
}

} // namespace

TEST(VerifyDigests, EqualSetsInAnyOrderAreClean) {
    std::vector<DigestEntry> s = {{3, dg(3)}, {1, dg(1)}, {2, dg(2)}};
    std::vector<DigestEntry> t = {{2, dg(2)}, {3, dg(3)}, {1, dg(1)}};
    auto d = compare_digests(s, t);
    EXPECT_TRUE(d.clean());
    EXPECT_EQ(d.matching, 3u);
    EXPECT_EQ(d.source_count, 3u);
}

TEST(VerifyDigests, MissingExtraAndDifferentAreSeparated) {
    std::vector<DigestEntry> s = {{1, dg(1)}, {2, dg(2)}, {3, dg(3)}, {5, dg(5)}};
    std::vector<DigestEntry> t = {{1, dg(1)}, {3, dg(99)}, {4, dg(4)}, {5, dg(5)}};
    auto d = compare_digests(s, t);
    EXPECT_EQ(d.missing, std::vector<uint64_t>{2});
    EXPECT_EQ(d.extra, std::vector<uint64_t>{4});
    EXPECT_EQ(d.different, std::vector<uint64_t>{3});
    EXPECT_EQ(d.matching, 2u);
    EXPECT_FALSE(d.clean());
}

TEST(VerifyDigests, HashCollisionsCompareAsMultisets) {
    // Two ids with the same 64-bit key on both sides: still matched by their digests.
    std::vector<DigestEntry> s = {{7, dg(1)}, {7, dg(2)}};
    std::vector<DigestEntry> t = {{7, dg(2)}, {7, dg(1)}};
    EXPECT_TRUE(compare_digests(s, t).clean());
    std::vector<DigestEntry> s2 = {{7, dg(1)}, {7, dg(2)}};
    std::vector<DigestEntry> t2 = {{7, dg(1)}};
    auto d = compare_digests(s2, t2);
    EXPECT_EQ(d.missing, std::vector<uint64_t>{7});
    EXPECT_EQ(d.matching, 1u);
}

TEST(VerifyDigests, EmptySides) {
    std::vector<DigestEntry> s, t = {{1, dg(1)}};
    auto d = compare_digests(s, t);
    EXPECT_EQ(d.extra.size(), 1u);
    EXPECT_TRUE(d.missing.empty());
    std::vector<DigestEntry> e1, e2;
    EXPECT_TRUE(compare_digests(e1, e2).clean());
}

TEST(VerifyDigests, IdKeyIsStableAndSpreads) {
    EXPECT_EQ(id_key("abc"), id_key("abc"));
    EXPECT_NE(id_key("abc"), id_key("abd"));
    EXPECT_NE(id_key(""), id_key(std::string(1, '\0')));
}

TEST(VerifyDiff, IdenticalRecordsHaveNoDiff) {
    auto a = one("r1", {1, 2}, "doc", std::nullopt, {{"i", int64_t(1)}, {"s", std::string("x")}});
    auto b = one("r1", {1, 2}, "doc", std::nullopt, {{"s", std::string("x")}, {"i", int64_t(1)}});
    EXPECT_TRUE(diff_records(a, 0, b, 0).fields.empty());
    EXPECT_EQ(record_digest(a, 0), record_digest(b, 0));
}

TEST(VerifyDiff, OneFloatInTheEmbeddingIsNamed) {
    float x = 0.5f, y = std::nextafter(0.5f, 1.0f);
    auto a = one("r1", {1, x, 3}, "doc", std::nullopt, {});
    auto b = one("r1", {1, y, 3}, "doc", std::nullopt, {});
    auto d = diff_records(a, 0, b, 0);
    ASSERT_EQ(d.fields, std::vector<std::string>{"embedding"});
    EXPECT_TRUE(has(d.details, "1 of 3 components differ; first at [1]")) << d.details[0];
    EXPECT_TRUE(has(d.details, "0x3f000000")) << d.details[0];
    EXPECT_NE(record_digest(a, 0), record_digest(b, 0));
}

TEST(VerifyDiff, MetadataTypeChangesAreNamed) {
    auto a = one("r", {1}, std::nullopt, std::nullopt, {{"n", int64_t(1)}, {"b", true}});
    auto b = one("r", {1}, std::nullopt, std::nullopt, {{"n", 1.0}, {"b", std::string("true")}});
    auto d = diff_records(a, 0, b, 0);
    ASSERT_EQ(d.fields, std::vector<std::string>{"metadata"});
    EXPECT_TRUE(has(d.details, "metadata \"n\": type changed from int to float (source int 1, target float 1.0)"))
        << d.details[0];
    EXPECT_TRUE(has(d.details, "metadata \"b\": type changed from bool to string")) << d.details[1];
    EXPECT_NE(record_digest(a, 0), record_digest(b, 0));
}

TEST(VerifyDiff, MetadataKeysMissingExtraAndValue) {
    auto a = one("r", {1}, std::nullopt, std::nullopt, {{"k", std::string("v")}, {"gone", int64_t(2)}});
    auto b = one("r", {1}, std::nullopt, std::nullopt, {{"k", std::string("w")}, {"new", false}});
    auto d = diff_records(a, 0, b, 0);
    EXPECT_TRUE(has(d.details, "\"k\": value differs"));
    EXPECT_TRUE(has(d.details, "\"gone\": missing in the target"));
    EXPECT_TRUE(has(d.details, "\"new\": extra in the target"));
}

TEST(VerifyDiff, DocumentAndUriDifferences) {
    auto a = one("r", {1}, std::string("héllo world"), std::string("s3://a"), {});
    auto b = one("r", {1}, std::string("héllo wOrld"), std::nullopt, {});
    auto d = diff_records(a, 0, b, 0);
    ASSERT_EQ(d.fields, (std::vector<std::string>{"document", "uri"}));
    EXPECT_TRUE(has(d.details, "first difference at character 7 (byte 8)")) << d.details[0];
    EXPECT_TRUE(has(d.details, "uri: source \"s3://a\", target null"));
    auto c = one("r", {1}, std::nullopt, std::nullopt, {});
    EXPECT_TRUE(has(diff_records(a, 0, c, 0).details, "document: source \"héllo world\", target null"));
}

TEST(VerifyDiff, FloatBitsMatterInMetadata) {
    auto a = one("r", {1}, std::nullopt, std::nullopt, {{"z", 0.0}});
    auto b = one("r", {1}, std::nullopt, std::nullopt, {{"z", -0.0}});
    EXPECT_EQ(diff_records(a, 0, b, 0).fields, std::vector<std::string>{"metadata"});
}

TEST(VerifyReport, HtmlEscaping) {
    EXPECT_EQ(html_escape("<script>alert('x') & \"y\"</script>"),
              "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;");
    EXPECT_EQ(html_escape("日本語"), "日本語");
}

TEST(VerifyReport, HostileNamesNeverReachTheHtmlUnescaped) {
    VerifyReport r;
    r.failures = {"collection '<img src=x onerror=alert(1)>'"};
    CollectionVerify &c = r.collections.emplace_back();
    c.name = "<b>evil</b>";
    c.failures = {"collection '<b>evil</b>': 1 record(s) missing in the target: '<i>'"};
    c.completeness.emplace();
    c.completeness->diff.source_count = 3;
    c.completeness->missing_ids = {"<i>"};
    std::string html = render_html(r);
    EXPECT_EQ(html.find("<img"), std::string::npos);
    EXPECT_EQ(html.find("<b>evil"), std::string::npos);
    EXPECT_NE(html.find("&lt;b&gt;evil&lt;/b&gt;"), std::string::npos);
    EXPECT_NE(html.find(">FAIL<"), std::string::npos);
    EXPECT_NE(html.find("missing in target: &lt;i&gt;"), std::string::npos);
    EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org")); // no external assets (SVG namespace only)
    std::string md = render_markdown(r);
    EXPECT_NE(md.find("**FAIL**"), std::string::npos);
}

// The report's JSON keys come from to_json() alone; the Markdown reads the same typed fields.
TEST(VerifyReport, TypedResultsReachJsonAndMarkdown) {
    VerifyReport r;
    CollectionVerify &gone = r.collections.emplace_back();
    gone.name = "gone";
    gone.space = "l2";
    gone.failures = {"collection 'gone': not migrated"};
    gone.unread = CompletenessCounts{7, 0, 7, 0, 0, false};
    r.failures = gone.failures;
    CollectionVerify &here = r.collections.emplace_back();
    here.name = "here";
    here.space = "cosine";
    here.dimension = 3;
    here.located = TargetCollection{.schema = "public", .table = "chroma_here"};
    here.completeness.emplace();
    here.completeness->diff.source_count = 5;
    here.completeness->diff.target_count = 6;
    here.completeness->diff.extra = {42};
    here.completeness->extra_ids = {"x"};
    here.search.emplace();
    here.search->recall_at_k = 0.875;

    auto j = r.to_json();
    EXPECT_EQ(j["verdict"], "FAIL");
    EXPECT_EQ(j["totals"]["missing"], 7);
    EXPECT_EQ(j["totals"]["collections"], 2); // the collections' counts summed
    EXPECT_EQ(j["totals"]["source_records"], 12);
    EXPECT_EQ(j["totals"]["extra"], 1);
    EXPECT_FALSE(j["collections"][0].contains("table")); // not migrated: no table at all
    EXPECT_EQ(j["collections"][0]["completeness"]["source_records"], 7);
    EXPECT_EQ(j["collections"][0]["ok"], false);
    EXPECT_EQ(j["collections"][1]["table"], "public.chroma_here");
    EXPECT_EQ(j["collections"][1]["completeness"]["extra"], 1);
    EXPECT_EQ(j["collections"][1]["completeness"]["digest_parity"], false);
    EXPECT_EQ(j["collections"][1]["search"]["recall_at_k"], 0.875);
    EXPECT_TRUE(j["collections"][1]["ok"].get<bool>());
    EXPECT_TRUE(j["collections"][0]["dimension"].is_null());

    std::string md = render_markdown(r);
    EXPECT_NE(md.find("| gone | l2 |  | 7 | 0 | 7 | 0 | 0 | none | n/a | FAIL |"), std::string::npos) << md;
    EXPECT_NE(md.find("| here | cosine | 3 | 5 | 6 | 0 | 1 | 0 | none | 0.875 | PASS |"), std::string::npos) << md;
    EXPECT_NE(md.find("- extra in target: `x`"), std::string::npos) << md;
    r.failures.clear();
    EXPECT_EQ(r.to_json()["verdict"], "PASS");
}

TEST(PgTableReader, DecodesPgvectorBinary) {
    // dim 2, unused 0, 1.5f and -2.0f big-endian.
    const unsigned char raw[] = {0, 2, 0, 0, 0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0};
    std::vector<float> out;
    decode_vector_binary(reinterpret_cast<const char *>(raw), sizeof raw, 2, out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], 1.5f);
    EXPECT_EQ(out[1], -2.0f);
    EXPECT_THROW(decode_vector_binary(reinterpret_cast<const char *>(raw), sizeof raw, 3, out), std::exception);
    EXPECT_THROW(decode_vector_binary(reinterpret_cast<const char *>(raw), 10, 0, out), std::exception);
}

TEST(VerifyRegistry, JsonDifferenceIsTypeStrict) {
    using json = nlohmann::ordered_json;
    auto diff = [](const char *a, const char *b) { return json_difference(json::parse(a), json::parse(b)); };
    EXPECT_FALSE(diff(R"({"a": 1, "b": [true, "x"], "c": 0.5})", R"({"c": 0.5, "b": [true, "x"], "a": 1})"));
    EXPECT_FALSE(diff("null", "null"));
    auto d = diff(R"({"v": 3})", R"({"v": 3.0})");
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, R"(at ["v"]: source int 3, target float 3.0)");
    d = diff(R"({"on": true})", R"({"on": 1})");
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, R"(at ["on"]: source bool true, target int 1)");
    d = diff(R"({"a": 1})", R"({"a": 1, "ghost": null})");
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, R"(key "ghost" (null) is in the target but not in the source)");
    d = diff(R"({"a": null})", R"({})");
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, R"(key "a" (null) is missing in the target)");
    d = diff(R"({"hnsw": {"ef": [1, 2]}})", R"({"hnsw": {"ef": [1, 2.5]}})");
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, R"(at ["hnsw"]["ef"][1]: source int 2, target float 2.5)");
    EXPECT_TRUE(diff("{}", "null"));
    EXPECT_TRUE(diff(R"({"s": "x"})", R"({"s": "y"})"));
    // jsonb renders 1e+17 as its digits: the same float, not an int. 1.0 stays 1.0 in jsonb, so 1 vs 1.0 differs.
    EXPECT_FALSE(diff(R"({"big": 1e+17})", R"({"big": 100000000000000000})"));
    EXPECT_TRUE(diff(R"({"f": 1.0})", R"({"f": 1})"));
}

TEST(VerifyRegistry, NullValuedMetadataKeysAreReported) {
    std::vector<std::string> nulls;
    Metadata m = metadata_from_json(R"({"a": 1, "ghost": null, "b": null})", &nulls);
    EXPECT_EQ(m.size(), 1u);
    EXPECT_EQ(nulls, (std::vector<std::string>{"ghost", "b"}));
}
