#include <gtest/gtest.h>

#include <set>

#include "target/table_names.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

using namespace c2p;

TEST(TableNames, PlainNamesStayReadable) {
    EXPECT_EQ(derive_table_name("docs"), "c2p_docs");
    EXPECT_EQ(derive_table_name("my_docs_2"), "c2p_my_docs_2");
}

TEST(TableNames, HostileNamesAreSafeAndDistinct) {
    std::vector<std::string> names = {"Robert'); DROP TABLE students;--", "a b", "a-b", "A_B", "a_b_",
                                      "select", "\"quoted\"", "日本語コレクション", "emoji🎉",
                                      std::string(200, 'x'), std::string(200, 'x') + "y", "x", ""};
    std::set<std::string> seen;
    for (const auto &n : names) {
        std::string t = derive_table_name(n);
        EXPECT_LE(t.size(), 63u) << n;
        EXPECT_TRUE(seen.insert(t).second) << "collision for " << n << " -> " << t;
        for (char c : t) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << t;
    }
    // Two names that sanitise alike must not collide.
    EXPECT_NE(derive_table_name("a-b"), derive_table_name("a b"));
    EXPECT_NE(derive_table_name("A_B"), derive_table_name("a_b"));
    // SQL keywords are prefixed, so they never need quoting.
    EXPECT_EQ(derive_table_name("select"), "c2p_select");
    // Deterministic.
    EXPECT_EQ(derive_table_name("a b"), derive_table_name("a b"));
}

TEST(TableNames, FitIdentifierTruncatesOnUtf8Boundary) {
    std::string base = "c2p_" + std::string(30, 'a') + "日本語日本語日本語日本語";
    std::string f = fit_identifier(base, "_embedding_idx");
    EXPECT_LE(f.size(), 63u);
    EXPECT_TRUE(f.ends_with("_embedding_idx"));
    EXPECT_NE(fit_identifier(base + "1", "_x"), fit_identifier(base + "2", "_x"));
    EXPECT_EQ(fit_identifier("short", "_pkey"), "short_pkey");
}

namespace {
CollectionInfo named(std::string name) {
    CollectionInfo c;
    c.id = "id-" + std::to_string(name.size());
    c.name = std::move(name);
    return c;
}
} // namespace

TEST(TableNames, NamesDifferingAfterNulStayDistinctTables) {
    using namespace std::string_literals;
    EXPECT_NE(derive_table_name("docs\0one"s), derive_table_name("docs\0two"s));
}

TEST(TableNames, NulOrInvalidUtf8NamesAreRefusedNamingThemEscaped) {
    using namespace std::string_literals;
    EXPECT_NO_THROW(require_storable_names({named("docs"), named("日本語"), named("tab\there"), named("a b")}));
    try {
        require_storable_names({named("ok"), named("docs\0one\x1b[2J"s), named("bad\xff\xfe")});
        FAIL() << "expected a DataError";
    } catch (const DataError &e) {
        std::string m = e.what();
        EXPECT_NE(m.find("'docs\\x00one\\x1b[2J'"), std::string::npos) << m;
        EXPECT_NE(m.find("holds a NUL byte"), std::string::npos) << m;
        EXPECT_NE(m.find("'bad\\xff\\xfe'"), std::string::npos) << m;
        EXPECT_NE(m.find("is not valid UTF-8"), std::string::npos) << m;
        EXPECT_EQ(m.find("'ok'"), std::string::npos) << m;
        EXPECT_EQ(m.find('\0'), std::string::npos);
        EXPECT_EQ(e.code(), ExitCode::data);
    }
}

TEST(LogText, ControlCharactersAreEscaped) {
    using namespace std::string_literals;
    EXPECT_EQ(log::printable("a\0b\x1b[31m\x7f\tc\nd"s), "a\\x00b\\x1b[31m\\x7f\tc\nd");
    EXPECT_EQ(log::printable("日本語"), "日本語");
}
