#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/json_text.hpp"
#include "core/metadata_json.hpp"
#include "core/record_check.hpp"
#include "util/error.hpp"

using namespace c2p;

TEST(MetadataJson, TypesSurviveRoundTrip) {
    Metadata m{{"i", int64_t{1}},          {"f", 1.0},
               {"b", true},                {"s", std::string("héllo \"q\" \n 日本 🎉")},
               {"neg", int64_t{-9007199254740993}}, {"tiny", 1e-300},
               {"big", 1e20},              {"arr", std::vector<MetaScalar>{int64_t{1}, 2.5, std::string("x"), false}}};
    std::string j = metadata_to_json(m);
    EXPECT_NE(j.find("\"f\":1.0"), std::string::npos) << j;
    EXPECT_NE(j.find("\"i\":1,"), std::string::npos) << j;
    EXPECT_EQ(j.find("e+20"), std::string::npos) << "exponent form loses the float type in jsonb: " << j;
    Metadata back = metadata_from_json(j);
    ASSERT_EQ(back.size(), m.size());
    for (size_t k = 0; k < m.size(); ++k) {
        EXPECT_EQ(back[k].first, m[k].first);
        EXPECT_EQ(back[k].second.index(), m[k].second.index()) << m[k].first;
        EXPECT_TRUE(back[k].second == m[k].second) << m[k].first;
    }
}

TEST(MetadataJson, JsonbNormalisedTextKeepsTypes) {
    // PostgreSQL prints jsonb with spaces and sorted keys; 1.0 stays 1.0.
    Metadata m = metadata_from_json(R"({"a": 1, "b": 1.0, "c": true, "d": "1", "e": 100000000000000000000.0})");
    ASSERT_EQ(m.size(), 5u);
    EXPECT_TRUE(std::holds_alternative<int64_t>(m[0].second));
    EXPECT_TRUE(std::holds_alternative<double>(m[1].second));
    EXPECT_TRUE(std::holds_alternative<bool>(m[2].second));
    EXPECT_TRUE(std::holds_alternative<std::string>(m[3].second));
    EXPECT_TRUE(std::holds_alternative<double>(m[4].second));
}

TEST(MetadataJson, NullAndEmpty) {
    EXPECT_EQ(metadata_to_json({}), "null");
    EXPECT_TRUE(metadata_from_json("null").empty());
    EXPECT_TRUE(metadata_from_json(R"({"gone": null})").empty());
}

TEST(MetadataJson, RejectsWhatChromaCannotHold) {
    EXPECT_THROW(metadata_from_json(R"({"o": {"x": 1}})"), DataError);
    EXPECT_THROW(metadata_from_json(R"({"u": 18446744073709551615})"), DataError);
    EXPECT_THROW(metadata_from_json("[1,2]"), DataError);
    EXPECT_THROW(metadata_from_json("{"), DataError);
    std::string out;
    EXPECT_THROW(json_text::append_double(out, std::numeric_limits<double>::quiet_NaN()), DataError);
}

TEST(JsonText, FloatShortestRoundTrip) {
    for (float f : {0.1f, 1.0f / 3, -1e-38f, 3.4028235e38f, 1e-45f, 0.0f, -0.0f}) {
        std::string s;
        json_text::append_float32(s, f);
        EXPECT_EQ(std::strtof(s.c_str(), nullptr), f) << s;
    }
}

TEST(JsonText, DoubleForms) {
    const double max = std::numeric_limits<double>::max();
    std::string pos, shortest;
    json_text::append_double(pos, max);
    json_text::append_double_shortest(shortest, max);
    EXPECT_EQ(shortest, "1.7976931348623157e+308");
    EXPECT_EQ(pos.size(), 311u); // 309 digits and ".0": what jsonb keeps as a fraction
    EXPECT_EQ(std::strtod(pos.c_str(), nullptr), max);
    for (double d : {1.0, -2.0, 0.5, 1e300, 1e-300, 123456789.0}) {
        std::string s;
        json_text::append_double_shortest(s, d);
        EXPECT_EQ(std::strtod(s.c_str(), nullptr), d) << s;
        EXPECT_NE(s.find_first_of(".e"), std::string::npos) << s; // reads back as a float, never an int
    }
    Metadata m{{"f", max}, {"a", std::vector<MetaScalar>{1.0, int64_t(2)}}};
    std::string out;
    append_metadata_json(out, m, FloatText::shortest);
    EXPECT_EQ(out, R"({"f":1.7976931348623157e+308,"a":[1.0,2]})");
}

TEST(JsonText, Utf8Validation) {
    EXPECT_TRUE(json_text::utf8_valid("plain"));
    EXPECT_TRUE(json_text::utf8_valid("日本語 🎉 ñ"));
    EXPECT_FALSE(json_text::utf8_valid("\xff"));
    EXPECT_FALSE(json_text::utf8_valid("\xc3"));           // truncated
    EXPECT_FALSE(json_text::utf8_valid("\xc0\xaf"));       // overlong
    EXPECT_FALSE(json_text::utf8_valid("\xed\xa0\x80"));   // surrogate
    EXPECT_FALSE(json_text::utf8_valid("\xf4\x90\x80\x80")); // > U+10FFFF
    // Around the eight-byte ASCII stride: a bad byte at every position of a longer text.
    std::string ascii(37, 'a');
    EXPECT_TRUE(json_text::utf8_valid(ascii));
    for (size_t at = 0; at < ascii.size(); ++at) {
        std::string bad = ascii, good = ascii;
        bad[at] = '\xff';
        EXPECT_FALSE(json_text::utf8_valid(bad)) << at;
        good.replace(at, 1, "\xc3\xb1");
        EXPECT_TRUE(json_text::utf8_valid(good)) << at;
        std::string cut = ascii.substr(0, at) + "\xe6\x97";
        EXPECT_FALSE(json_text::utf8_valid(cut)) << at;
    }
}

TEST(RecordCheck, NamesTheFirstProblem) {
    RecordBatch b;
    b.dim = 20;
    std::vector<float> v(20, 0.5f);
    auto problem = [&](std::string id, std::vector<float> vec, std::optional<std::string> doc, Metadata m) {
        b.clear();
        b.dim = 20;
        b.push(std::move(id), vec.data(), std::move(doc), std::nullopt, std::move(m));
        return record_problem(b, 0);
    };
    EXPECT_EQ(problem("a", v, "doc", {{"k", MetaValue(std::string("v"))}}), "");
    EXPECT_EQ(problem("", v, std::nullopt, {}), "id is empty");
    EXPECT_EQ(problem(std::string("a\0b", 3), v, std::nullopt, {}), "id contains a NUL character");
    for (size_t at : {0u, 7u, 8u, 19u}) {
        auto w = v;
        w[at] = std::numeric_limits<float>::quiet_NaN();
        EXPECT_EQ(problem("a", w, std::nullopt, {}), "embedding[" + std::to_string(at) + "] is NaN");
        w[at] = -std::numeric_limits<float>::infinity();
        EXPECT_EQ(problem("a", w, std::nullopt, {}), "embedding[" + std::to_string(at) + "] is infinite");
    }
    auto w = v;
    w[3] = std::numeric_limits<float>::max(); // finite, however large
    EXPECT_EQ(problem("a", w, std::nullopt, {}), "");
    EXPECT_EQ(problem("a", v, "twelve bytes\xff", {}), "document is not valid UTF-8");
    EXPECT_EQ(problem("a", v, std::nullopt, {{"k\xc3", MetaValue(int64_t(1))}}), "metadata key is not valid UTF-8");
    EXPECT_EQ(problem("a", v, std::nullopt, {{"k", MetaValue(std::numeric_limits<double>::infinity())}}),
              "metadata 'k' is a non-finite float");
    EXPECT_EQ(problem("a", v, std::nullopt, {{"k", MetaValue(std::string("x\0y", 3))}}), "metadata 'k' contains a NUL character");
    EXPECT_EQ(problem("a", v, std::nullopt, {{"arr", MetaValue(std::vector<MetaScalar>{int64_t(1), std::string("\xff")})}}),
              "metadata 'arr' is not valid UTF-8");
}
