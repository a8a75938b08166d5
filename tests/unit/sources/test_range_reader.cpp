#include <gtest/gtest.h>

#include "sources/source.hpp"

using namespace c2p;

namespace {
// A source of `n` records "r<i>" with a 2-float embedding {i, -i}, read in batches of `batch`.
class CountingSource : public Source {
public:
    explicit CountingSource(size_t n) : n_(n) {}
    std::string describe() const override { return "counting"; }
    std::vector<CollectionInfo> list_collections() override { return {}; }
    std::unique_ptr<BatchReader> read(const CollectionInfo &, size_t batch) override {
        struct R : BatchReader {
            size_t n, batch, i = 0;
            R(size_t n_, size_t b_) : n(n_), batch(b_) {}
            bool next(RecordBatch &out) override {
                out.clear();
                out.dim = 2;
                while (i < n && out.size() < batch) {
                    float v[2] = {float(i), -float(i)};
                    out.push("r" + std::to_string(i), v, "d" + std::to_string(i), std::nullopt, {});
                    ++i;
                }
                return !out.empty();
            }
        };
        return std::make_unique<R>(n_, batch);
    }

private:
    size_t n_;
};

std::vector<std::string> all(BatchReader &r) {
    std::vector<std::string> ids;
    RecordBatch b;
    while (r.next(b))
        for (size_t i = 0; i < b.size(); ++i) {
            EXPECT_EQ(b.embedding(i)[0], std::stof(b.ids[i].substr(1)));
            EXPECT_EQ(*b.documents[i], "d" + b.ids[i].substr(1));
            ids.push_back(b.ids[i]);
        }
    return ids;
}
} // namespace

TEST(RangeReader, SlicesAcrossBatchBoundaries) {
    CountingSource src(95);
    CollectionInfo c;
    for (uint64_t start : {0, 1, 9, 10, 11, 50, 94, 95, 200})
        for (uint64_t count : {uint64_t(0), uint64_t(1), uint64_t(7), uint64_t(10), uint64_t(33), kToTheEnd}) {
            auto r = src.read_range(c, 10, start, count);
            auto ids = all(*r);
            uint64_t want = start >= 95 ? 0 : std::min<uint64_t>(count, 95 - start);
            ASSERT_EQ(ids.size(), want) << start << " " << count;
            for (size_t k = 0; k < ids.size(); ++k) EXPECT_EQ(ids[k], "r" + std::to_string(start + k));
        }
}
