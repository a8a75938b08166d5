// The real Chroma persistent directories the unit tests read: tests/fixtures/chroma-real in this
// repository, relative to the repository root that ctest runs the tests in (C2P_FIXTURES
// overrides). A test that needs them fails when they are missing; it never skips.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

inline std::string fixtures() {
    const char *e = std::getenv("C2P_FIXTURES");
    return e && *e ? e : "tests/fixtures/chroma-real";
}

#define ASSERT_FIXTURES()                                                                          \
    ASSERT_TRUE(std::filesystem::is_directory(fixtures()))                                         \
        << "real-Chroma fixtures missing at " << fixtures()                                        \
        << " (run from the repository root or set C2P_FIXTURES)"
