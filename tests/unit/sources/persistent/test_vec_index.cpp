#include <gtest/gtest.h>

#include <string>
#include <unordered_map>

#include "sources/persistent/vec_index.hpp"

using namespace c2p::persistent;

TEST(VecIndex, AddFindEraseRevive) {
    VecIndex ix;
    EXPECT_EQ(ix.find("a"), nullptr);
    EXPECT_TRUE(ix.add("a", VecLoc{VecLoc::hnsw, false, 7}, false));
    EXPECT_FALSE(ix.add("a", VecLoc{VecLoc::hnsw, false, 8}, false)); // present: unchanged
    ASSERT_NE(ix.find("a"), nullptr);
    EXPECT_EQ(ix.find("a")->pos, 7u);
    ix.erase("a");
    EXPECT_EQ(ix.find("a"), nullptr);
    EXPECT_EQ(ix.size(), 0u);
    ix.set("a", VecLoc{VecLoc::wal, false, 99}, false);
    ASSERT_NE(ix.find("a"), nullptr);
    EXPECT_EQ(ix.find("a")->kind, VecLoc::wal);
    EXPECT_EQ(ix.size(), 1u);
}

// Copied ids survive their source; many ids through growth agree with a reference map.
TEST(VecIndex, MatchesAReferenceMap) {
    VecIndex ix;
    std::unordered_map<std::string, uint64_t> ref;
    for (uint64_t i = 0; i < 50000; ++i) {
        std::string id = "id-" + std::to_string(i * 7919 % 100003);
        ix.set(id, VecLoc{VecLoc::wal, false, i}, true); // `id` dies after this iteration
        ref[id] = i;
        if (i % 3 == 0) {
            std::string gone = "id-" + std::to_string(i * 31 % 100003);
            ix.erase(gone);
            ref.erase(gone);
        }
    }
    EXPECT_EQ(ix.size(), ref.size());
    for (auto &[id, pos] : ref) {
        const VecLoc *l = ix.find(id);
        ASSERT_NE(l, nullptr) << id;
        EXPECT_EQ(l->pos, pos);
    }
    size_t seen = 0;
    ix.for_each([&](std::string_view id, VecLoc &l) {
        ++seen;
        EXPECT_EQ(ref.at(std::string(id)), l.pos);
    });
    EXPECT_EQ(seen, ref.size());
}
