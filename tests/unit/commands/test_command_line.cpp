#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "commands/command_line.hpp"
#include "cli/suggest.hpp"
#include "sources/http/http_client.hpp"
#include "util/error.hpp"

using namespace c2p;
using command_line::rerun_of;
using command_line::without_secrets;

namespace {

std::string masked(const std::string &option, const std::string &value) {
    std::string v = value;
    for (const auto &s : command_line::secret_spans(option, v)) v.replace(s.pos, s.len, std::string(s.len, '*'));
    return v;
}

} // namespace

TEST(CommandLineSecrets, UrlPasswordIsMaskedAndCut) {
    EXPECT_EQ(masked("--to", "postgresql://u:s3cret@db:5432/rag"), "postgresql://u:******@db:5432/rag");
    EXPECT_EQ(without_secrets("--to", "postgresql://u:s3cret@db:5432/rag"), "postgresql://u@db:5432/rag");
    // '@' inside the password: the last '@' of the authority ends the user info.
    EXPECT_EQ(without_secrets("--to", "postgres://u:p@ss@db/x"), "postgres://u@db/x");
    EXPECT_EQ(masked("--to", "postgresql://u@db/rag"), "postgresql://u@db/rag");
    EXPECT_EQ(masked("--to", "postgresql://db/rag?sslmode=require&password=pw&user=u"),
              "postgresql://db/rag?sslmode=require&password=**&user=u");
    EXPECT_EQ(without_secrets("--to", "postgresql://db/rag?sslmode=require&password=pw&user=u"),
              "postgresql://db/rag?sslmode=require&user=u");
    EXPECT_EQ(without_secrets("--to", "postgresql://db/rag?sslmode=require&password=pw"),
              "postgresql://db/rag?sslmode=require");
    EXPECT_EQ(without_secrets("--from", "http://admin:pw@chroma:8000"), "http://admin@chroma:8000");
}

TEST(CommandLineSecrets, KeywordPasswordIsMaskedAndCut) {
    EXPECT_EQ(masked("--to", "host=db password=s3cret dbname=rag"), "host=db password=****** dbname=rag");
    EXPECT_EQ(without_secrets("--to", "host=db password=s3cret dbname=rag"), "host=db dbname=rag");
    EXPECT_EQ(masked("--to", "host=db password = 'a b\\'c' user=u"), "host=db password = ******** user=u");
    EXPECT_EQ(without_secrets("--to", "host=db password = 'a b\\'c' user=u"), "host=db user=u");
    EXPECT_EQ(without_secrets("--to", "dbname=rag password=x"), "dbname=rag");
    EXPECT_EQ(masked("--to", "./not-a-conninfo"), "./not-a-conninfo");
    EXPECT_EQ(masked("--schema", "password=x"), "password=x"); // not a secret-bearing option
}

TEST(CommandLineSecrets, TokenIsWhollySecret) {
    EXPECT_EQ(masked("--token", "abc"), "***");
    std::string note;
    EXPECT_EQ(without_secrets("--token", "abc", &note), "");
    EXPECT_NE(note.find("CHROMA_API_KEY"), std::string::npos);
}

TEST(CommandLineSecrets, TakeBlanksArgvInPlace) {
    std::vector<std::string> storage = {"chroma2pg", "migrate", "--to", "postgresql://u:pw1@h/db", "--token=tok2",
                                        "--from", "http://a:pw3@c:8000", "--collections", "pw1"};
    std::vector<char *> argv;
    for (auto &s : storage) argv.push_back(s.data());
    auto copy = command_line::take(int(argv.size()), argv.data());
    EXPECT_EQ(copy[3], "postgresql://u:pw1@h/db"); // parsed from the copy
    EXPECT_STREQ(argv[3], "postgresql://u:***@h/db");
    EXPECT_STREQ(argv[4], "--token=****");
    EXPECT_STREQ(argv[6], "http://a:***@c:8000");
    EXPECT_STREQ(argv[8], "pw1"); // a collection name is not a secret
}

TEST(CommandLineRerun, AddsResumeDropsRestartAndLeavesSecretsOut) {
    std::string note;
    auto cmd = rerun_of({"/usr/bin/chroma2pg", "migrate", "--from", "./my db", "--to", "postgresql://u:pw@h/db",
                         "--token", "t0k", "--restart", "--collections=a,b"},
                        {"--resume"}, {"--restart"}, &note);
    EXPECT_EQ(cmd, "/usr/bin/chroma2pg migrate --from './my db' --to postgresql://u@h/db --collections=a,b --resume");
    EXPECT_NE(note.find("PGPASSWORD"), std::string::npos);
    EXPECT_NE(note.find("--token"), std::string::npos);
    EXPECT_EQ(cmd.find("pw"), std::string::npos);
    EXPECT_EQ(cmd.find("t0k"), std::string::npos);
    // --resume already there: not added twice; nothing left out: no note.
    EXPECT_EQ(rerun_of({"chroma2pg", "migrate", "--resume", "--to=host=h password=x"}, {"--resume"}, {}, &note),
              "chroma2pg migrate --resume --to=host=h");
    EXPECT_FALSE(note.empty());
    EXPECT_EQ(rerun_of({"chroma2pg", "backup", "--from", "it's"}, {}, {}, &note), "chroma2pg backup --from 'it'\\''s'");
    EXPECT_TRUE(note.empty());
}

TEST(Suggest, NearestCommand) {
    std::vector<std::string> names = {"inspect", "migrate", "verify", "bench", "backup", "restore", "sync"};
    EXPECT_EQ(edit_distance("migrat", "migrate"), 1u);
    EXPECT_EQ(edit_distance("", "abc"), 3u);
    EXPECT_EQ(nearest_name("migrat", names), "migrate");
    EXPECT_EQ(nearest_name("verfiy", names), "verify");
    EXPECT_EQ(nearest_name("bakup", names), "backup");
    EXPECT_EQ(nearest_name("frobnicate", names), std::nullopt);
}

TEST(ServerUrl, ApiPathIsRefusedWithTheUrlToUse) {
    for (const char *u : {"http://h:8000/api/v2", "http://h:8000/api/v1/", "http://h:8000/api", "http://u:pw@h:8000/api/v2/heartbeat",
                          "https://h/chroma/api/v2"}) {
        try {
            reject_api_path(u);
            ADD_FAILURE() << u;
        } catch (const UsageError &e) {
            std::string m = e.what();
            EXPECT_NE(m.find("give the server's address"), std::string::npos) << m;
            EXPECT_EQ(m.find("pw"), std::string::npos) << m;
            if (std::string(u).find("/chroma/") != std::string::npos) EXPECT_NE(m.find("https://h/chroma "), std::string::npos) << m;
            else EXPECT_NE(m.find("http://h:8000 "), std::string::npos) << m;
        }
    }
    EXPECT_NO_THROW(reject_api_path("http://h:8000"));
    EXPECT_NO_THROW(reject_api_path("http://h:8000/"));
    EXPECT_NO_THROW(reject_api_path("https://h/chroma")); // a reverse proxy's prefix
    EXPECT_NO_THROW(reject_api_path("https://h/apis"));
}
