#include <gtest/gtest.h>

#include "target/pg_connection.hpp"

using namespace c2p;

TEST(PgErrors, PermissionHintNamesTheGrant) {
    EXPECT_NE(permission_hint("ERROR:  permission denied for schema app", "loader", "rag")
                  .find("GRANT USAGE, CREATE ON SCHEMA \"app\" TO \"loader\";"),
              std::string::npos);
    EXPECT_NE(permission_hint("ERROR:  permission denied for database rag", "loader", "rag")
                  .find("GRANT CREATE ON DATABASE \"rag\" TO \"loader\";"),
              std::string::npos);
    EXPECT_NE(permission_hint("ERROR:  permission denied for table c2p_docs\n", "Loader", "rag")
                  .find("ON TABLE \"c2p_docs\" TO \"Loader\";"),
              std::string::npos);
    EXPECT_NE(permission_hint("ERROR:  must be owner of table c2p_docs", "loader", "rag").find("OWNER TO \"loader\""),
              std::string::npos);
    // Unknown wording: still names the role and the database, never an invented GRANT.
    auto other = permission_hint("ERROR:  something else", "loader", "rag");
    EXPECT_EQ(other.find("GRANT"), std::string::npos);
    EXPECT_NE(other.find("\"loader\""), std::string::npos);
}

TEST(PgErrors, ExitCodeClassBySqlstate) {
    for (const char *s : {"53100", "53200", "53300", "42501", "57014", "58030", "28P01", "3D000", "25006"})
        EXPECT_TRUE(is_environment_sqlstate(s)) << s;
    for (const char *s : {"22021", "23505", "22P02", "54000", "42P07", ""})
        EXPECT_FALSE(is_environment_sqlstate(s)) << s;
    EXPECT_TRUE(is_transient_sqlstate("57P01"));
    EXPECT_FALSE(is_transient_sqlstate("53100"));
}
