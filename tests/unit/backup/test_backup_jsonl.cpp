#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unistd.h>

#include "backup/backup_file_reader.hpp"
#include "backup/backup_format.hpp"
#include "util/error.hpp"

using namespace c2p;
namespace fs = std::filesystem;

namespace {

RecordBatch sample() {
    RecordBatch b;
    b.dim = 3;
    float v0[3] = {0.1f, -0.0f, std::numeric_limits<float>::denorm_min()};
    float v1[3] = {std::numeric_limits<float>::max(), 1e-30f, 3.0f};
    b.push("a\"1", v0, std::string("doc é 日本\n"), std::nullopt,
           Metadata{{"i", int64_t{7}}, {"f", 2.0}, {"b", true}, {"s", std::string("x")},
                    {"big", int64_t{9007199254740993}}, {"arr", std::vector<MetaScalar>{int64_t{1}, 0.5}}});
    b.push("b", v1, std::nullopt, std::string("s3://x"), Metadata{});
    return b;
}

struct TempDir {
    std::string path;
    TempDir() {
        path = (fs::temp_directory_path() / ("c2p-ut-backup-" + std::to_string(::getpid()) + "-" +
                                             std::to_string(reinterpret_cast<uintptr_t>(this))))
                   .string();
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
};

ManifestFile write_file(const std::string &dir, BackupFormat f, int level, const RecordBatch &b, int copies) {
    CollectionInfo c;
    c.id = "0000";
    c.name = "c";
    c.dimension = b.dim;
    std::string name = std::string("c.") + format_extension(f) + (level ? ".zst" : "");
    auto w = make_format_writer(f, dir + "/" + name, level);
    w->begin(c);
    for (int i = 0; i < copies; ++i) w->write(b);
    auto wf = w->finish();
    return ManifestFile{name, format_name(f), level ? "zstd" : "none", wf.bytes, wf.sha256, w->records()};
}

} // namespace

TEST(BackupJsonl, RecordLine) {
    RecordBatch b = sample();
    std::string line;
    append_record_json(line, b, 0);
    EXPECT_EQ(line, "{\"id\":\"a\\\"1\",\"embedding\":[0.1,-0,1e-45],\"document\":\"doc é 日本\\n\",\"uri\":null,"
                    "\"metadata\":{\"i\":7,\"f\":2.0,\"b\":true,\"s\":\"x\",\"big\":9007199254740993,\"arr\":[1,0.5]}}");
    line.clear();
    append_record_json(line, b, 1);
    EXPECT_EQ(line, "{\"id\":\"b\",\"embedding\":[3.4028235e+38,1e-30,3],\"document\":null,\"uri\":\"s3://x\","
                    "\"metadata\":null}");
    RecordBatch bad;
    bad.dim = 1;
    float x = 1;
    bad.push(std::string("\xc3", 1), &x, std::nullopt, std::nullopt, {});
    line.clear();
    EXPECT_THROW(append_record_json(line, bad, 0), DataError);
}

TEST(BackupJsonl, EveryFormatRoundTripsBitExact) {
    TempDir t;
    RecordBatch b = sample();
    CollectionInfo c;
    c.dimension = 3;
    for (auto f : {BackupFormat::jsonl, BackupFormat::json, BackupFormat::pickle})
        for (int level : {0, 3}) {
            SCOPED_TRACE(std::string(format_name(f)) + (level ? " zstd" : ""));
            // 1201 copies: crosses the pickle APPENDS chunk and the 1 MB flush size.
            auto mf = write_file(t.path, f, level, b, 1201);
            BackupFileReader r(t.path, mf, c);
            RecordBatch got;
            uint64_t n = 0;
            while (r.next(got, 500)) {
                for (size_t i = 0; i < got.size(); ++i, ++n) {
                    size_t k = n % 2;
                    ASSERT_EQ(got.ids[i], b.ids[k]);
                    for (uint32_t d = 0; d < 3; ++d)
                        ASSERT_EQ(std::bit_cast<uint32_t>(got.embedding(i)[d]), std::bit_cast<uint32_t>(b.embedding(k)[d]));
                    ASSERT_EQ(got.documents[i], b.documents[k]);
                    ASSERT_EQ(got.uris[i], b.uris[k]);
                    ASSERT_TRUE(got.metadatas[i] == b.metadatas[k]);
                }
            }
            EXPECT_EQ(n, 2402u);
            EXPECT_NO_THROW(r.finish());
            fs::remove(t.path + "/" + mf.path);
        }
}

TEST(BackupJsonl, DamageIsNamed) {
    TempDir t;
    RecordBatch b = sample();
    CollectionInfo c;
    c.dimension = 3;
    auto mf = write_file(t.path, BackupFormat::jsonl, 0, b, 3);
    std::string path = t.path + "/" + mf.path;
    {
        // Line 4 ("b" again) loses its closing brace: a parse error naming line 4.
        std::string text;
        {
            std::ifstream in(path);
            text.assign(std::istreambuf_iterator<char>(in), {});
        }
        size_t pos = 0;
        for (int i = 0; i < 4; ++i) pos = text.find('\n', pos) + 1;
        text[pos - 2] = ' ';
        std::ofstream(path, std::ios::trunc) << text;
    }
    BackupFileReader r(t.path, mf, c);
    RecordBatch got;
    try {
        while (r.next(got, 10)) {
        }
        FAIL() << "no error";
    } catch (const DataError &e) {
        EXPECT_NE(std::string(e.what()).find("line 4"), std::string::npos) << e.what();
    }
}

TEST(BackupJsonl, HashMismatchIsReported) {
    TempDir t;
    RecordBatch b = sample();
    CollectionInfo c;
    auto mf = write_file(t.path, BackupFormat::pickle, 3, b, 2);
    mf.sha256[0] = mf.sha256[0] == '0' ? '1' : '0';
    BackupFileReader r(t.path, mf, c);
    RecordBatch got;
    while (r.next(got, 10)) {
    }
    try {
        r.finish();
        FAIL() << "no error";
    } catch (const DataError &e) {
        EXPECT_NE(std::string(e.what()).find("SHA-256"), std::string::npos) << e.what();
    }
}
