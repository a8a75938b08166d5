#include <cstdlib>

#include <gtest/gtest.h>

#include "util/malloc_huge_pages.hpp"

using namespace c2p;

TEST(MallocHugePages, AddsTheTunableAfterTheCallersOwn) {
    EXPECT_EQ(malloc_huge_pages::tunables_with_huge_pages(nullptr), "glibc.malloc.hugetlb=1");
    EXPECT_EQ(malloc_huge_pages::tunables_with_huge_pages(""), "glibc.malloc.hugetlb=1");
    EXPECT_EQ(malloc_huge_pages::tunables_with_huge_pages("glibc.malloc.check=3"),
              "glibc.malloc.check=3:glibc.malloc.hugetlb=1");
}

TEST(MallocHugePages, LeavesTheCallersChoiceAlone) {
    EXPECT_EQ(malloc_huge_pages::tunables_with_huge_pages("glibc.malloc.hugetlb=0"), std::nullopt);
    EXPECT_EQ(malloc_huge_pages::tunables_with_huge_pages("glibc.malloc.check=3:glibc.malloc.hugetlb=2"), std::nullopt);
}

TEST(MallocHugePages, OnlyMadviseModeGains) {
    EXPECT_TRUE(malloc_huge_pages::madvise_mode("always [madvise] never\n"));
    EXPECT_FALSE(malloc_huge_pages::madvise_mode("[always] madvise never\n"));
    EXPECT_FALSE(malloc_huge_pages::madvise_mode("always madvise [never]\n"));
    EXPECT_FALSE(malloc_huge_pages::madvise_mode("")); // no THP in this kernel
}

// The re-executed process puts GLIBC_TUNABLES back as its caller had it, set or unset.
TEST(MallocHugePages, TheReexecutedProcessRestoresTheEnvironment) {
    const char *before = std::getenv("GLIBC_TUNABLES");
    std::string kept = before ? before : "";
    ASSERT_EQ(setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1), 0);
    ASSERT_EQ(setenv("CHROMA2PG_SAVED_GLIBC_TUNABLES", "=glibc.malloc.check=3", 1), 0);
    malloc_huge_pages::reexec_if_useful(nullptr);
    ASSERT_NE(std::getenv("GLIBC_TUNABLES"), nullptr);
    EXPECT_STREQ(std::getenv("GLIBC_TUNABLES"), "glibc.malloc.check=3");
    EXPECT_EQ(std::getenv("CHROMA2PG_SAVED_GLIBC_TUNABLES"), nullptr);
    EXPECT_TRUE(malloc_huge_pages::active());

    ASSERT_EQ(setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1), 0);
    ASSERT_EQ(setenv("CHROMA2PG_SAVED_GLIBC_TUNABLES", "-", 1), 0);
    malloc_huge_pages::reexec_if_useful(nullptr);
    EXPECT_EQ(std::getenv("GLIBC_TUNABLES"), nullptr);
    EXPECT_EQ(std::getenv("CHROMA2PG_SAVED_GLIBC_TUNABLES"), nullptr);

    if (before) setenv("GLIBC_TUNABLES", kept.c_str(), 1);
}
