#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "util/log_scope.hpp"

namespace c2p {
namespace {

void fail_inside(const std::string &collection) {
    log::Scope outer(nlohmann::ordered_json{{"command", "migrate"}});
    log::Scope inner(nlohmann::ordered_json{{"collection", collection}});
    throw std::runtime_error("boom");
}

TEST(LogScope, ErrorKeepsTheContextItLeft) {
    EXPECT_THROW(fail_inside("docs"), std::runtime_error);
    auto f = log::failure_context();
    EXPECT_EQ(f.value("collection", ""), "docs");
    EXPECT_EQ(f.value("command", ""), "migrate");
}

TEST(LogScope, ErrorOnAnotherThreadIsReported) {
    std::exception_ptr ep;
    std::thread t([&] {
        try {
            fail_inside("faq");
        } catch (...) {
            ep = std::current_exception();
        }
    });
    t.join();
    ASSERT_TRUE(ep);
    EXPECT_EQ(log::failure_context().value("collection", ""), "faq");
}

TEST(LogScope, ScopesThatEndNormallyRecordNothing) {
    EXPECT_THROW(fail_inside("first"), std::runtime_error);
    {
        log::Scope s(nlohmann::ordered_json{{"collection", "second"}});
    }
    EXPECT_EQ(log::failure_context().value("collection", ""), "first");
}

} // namespace
} // namespace c2p
