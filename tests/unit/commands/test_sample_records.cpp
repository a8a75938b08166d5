#include <gtest/gtest.h>

#include "commands/dry_run.hpp"
#include "sources/source.hpp"

using namespace c2p;

namespace {
// `n` records of `dim` floats; counts the records its readers produced, which for a server source is
// what was fetched.
class WideSource : public Source {
public:
    WideSource(size_t n, uint32_t dim) : n_(n), dim_(dim) {}
    std::string describe() const override { return "wide"; }
    std::vector<CollectionInfo> list_collections() override { return {}; }
    std::unique_ptr<BatchReader> read(const CollectionInfo &, size_t batch) override {
        struct R : BatchReader {
            WideSource &s;
            size_t batch, i = 0;
            R(WideSource &s_, size_t b_) : s(s_), batch(b_) {}
            bool next(RecordBatch &out) override {
                out.clear();
                out.dim = s.dim_;
                std::vector<float> v(s.dim_, 0.5f);
                while (i < s.n_ && out.size() < batch) {
                    out.push("r" + std::to_string(i), v.data(), "doc", std::nullopt, {});
                    ++i;
                    ++s.produced;
                }
                return !out.empty();
            }
        };
        return std::make_unique<R>(*this, batch);
    }
    size_t produced = 0;

private:
    size_t n_;
    uint32_t dim_;
};

CollectionInfo collection(uint64_t records, uint32_t dim) {
    CollectionInfo c;
    c.name = "c";
    c.record_count = records;
    c.dimension = dim;
    return c;
}
} // namespace

TEST(SampleRecords, WideVectorsAreBoundedBeforeTheyAreRead) {
    // 3,072 floats are 12 KB: 8 MB of them is 683 records, and no more are fetched.
    WideSource src(2000, 3072);
    RecordBatch s = sample_records(src, collection(2000, 3072), 1000);
    EXPECT_EQ(s.size(), 683u);
    EXPECT_EQ(src.produced, 683u);
}

TEST(SampleRecords, NarrowVectorsSampleTwoThousand) {
    WideSource src(5000, 384);
    RecordBatch s = sample_records(src, collection(5000, 384), 1000);
    EXPECT_EQ(s.size(), 2000u);
    EXPECT_EQ(src.produced, 2000u);
}

TEST(SampleRecords, SmallCollectionWhole) {
    WideSource src(300, 1536);
    RecordBatch s = sample_records(src, collection(300, 1536), 1000);
    EXPECT_EQ(s.size(), 300u);
}
