#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "backup/backup_writer.hpp"
#include "backup/manifest.hpp"
#include "util/error.hpp"

using namespace c2p;
namespace fs = std::filesystem;

TEST(BackupManifest, RoundTrip) {
    Manifest m;
    m.tool_version = "0.1.0";
    m.git_rev = "abc";
    m.created_at = "2025-01-01T00:00:00Z";
    m.source = "http://localhost:8000";
    m.source_details = {{"kind", "chroma-server"}};
    ManifestCollection mc;
    mc.info.id = "3f2c-11";
    mc.info.name = "docs";
    mc.info.dimension = 384;
    mc.info.space = Space::cosine;
    mc.info.metadata = {{"k", 1}, {"f", 1.5}};
    mc.info.configuration = {{"hnsw", {{"space", "cosine"}}}};
    mc.info.record_count = 12;
    mc.files.push_back({"docs.3f2c11.jsonl.zst", "jsonl", "zstd", 100, std::string(64, 'a'), 12});
    m.collections.push_back(mc);
    auto j = manifest_to_json(m);
    EXPECT_EQ(j["format"], "chroma2pg-backup");
    EXPECT_EQ(j["format_version"], 1);
    EXPECT_EQ(j["tool"]["name"], "chroma2pg");
    EXPECT_EQ(j["collections"][0]["space"], "cosine");
    EXPECT_EQ(j["collections"][0]["files"][0]["sha256"], std::string(64, 'a'));
    Manifest back = manifest_from_json(nlohmann::ordered_json::parse(j.dump()), "m");
    ASSERT_EQ(back.collections.size(), 1u);
    const auto &c = back.collections[0];
    EXPECT_EQ(c.info.name, "docs");
    EXPECT_EQ(c.info.dimension, 384u);
    EXPECT_EQ(c.info.space, Space::cosine);
    EXPECT_EQ(c.info.metadata, mc.info.metadata);
    EXPECT_TRUE(c.info.metadata["f"].is_number_float());
    EXPECT_EQ(c.info.record_count, 12u);
    EXPECT_EQ(c.files[0].path, "docs.3f2c11.jsonl.zst");
    EXPECT_EQ(c.files[0].records, 12u);
    EXPECT_EQ(manifest_to_json(back).dump(), j.dump());
}

TEST(BackupManifest, RejectsBadManifests) {
    nlohmann::ordered_json j = {{"format", "chroma2pg-backup"}, {"format_version", 1}};
    EXPECT_THROW(manifest_from_json(j, "m"), DataError); // no tool
    j = {{"format", "something-else"}};
    EXPECT_THROW(manifest_from_json(j, "m"), DataError);
    j = {{"format", "chroma2pg-backup"}, {"format_version", 2}};
    EXPECT_THROW(manifest_from_json(j, "m"), DataError);
}

TEST(BackupManifest, SafeNames) {
    EXPECT_EQ(safe_file_stem("my.docs-v2", "3F2C0A1B-1111-2222-3333-444455556666"),
              "my_docs-v2.3f2c0a1b111122223333444455556666");
    EXPECT_EQ(safe_file_stem("..", "x"), "__.noid");
    EXPECT_EQ(safe_file_stem(std::string(300, 'a'), "ab").size(), std::string(80, 'a').size() + 3);
}

TEST(BackupManifest, PartialDirectoriesNeverLookComplete) {
    auto root = fs::temp_directory_path() / ("c2p-ut-bdir-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root);
    // A leftover of a dead process is removed; one of a live process (ours: pid 1 is always alive) kept.
    fs::create_directories(root / ".chroma_backup_20200101T000000Z.partial-999999999");
    fs::create_directories(root / ".chroma_backup_20200101T000000Z.partial-1");
    EXPECT_EQ(clean_partial_backups(root.string()), 1u);
    EXPECT_FALSE(fs::exists(root / ".chroma_backup_20200101T000000Z.partial-999999999"));
    EXPECT_TRUE(fs::exists(root / ".chroma_backup_20200101T000000Z.partial-1"));
    EXPECT_TRUE(is_partial_backup_name(".chroma_backup_x.partial-12"));
    EXPECT_FALSE(is_partial_backup_name("chroma_backup_20200101T000000Z"));
    std::string first, second;
    {
        BackupDirectory d(root.string());
        EXPECT_TRUE(is_partial_backup_name(fs::path(d.partial_path()).filename().string()));
        Manifest m;
        first = d.commit(m);
    }
    {
        BackupDirectory d(root.string());
        second = d.commit(Manifest{});
    }
    EXPECT_NE(first, second); // same second: a -N suffix, never a merge
    EXPECT_TRUE(fs::exists(fs::path(first) / "manifest.json"));
    EXPECT_TRUE(fs::exists(fs::path(second) / "manifest.json"));
    {
        BackupDirectory d(root.string()); // not committed: removed on destruction
        EXPECT_TRUE(fs::exists(d.partial_path()));
        first = d.partial_path();
    }
    EXPECT_FALSE(fs::exists(first));
    fs::remove_all(root);
}
