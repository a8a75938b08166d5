// The default Source::read_range(): read and discard up to the start, then stop after the count; and
// the default read_ids(), which only live sources have.
#include <algorithm>
#include <stdexcept>

#include "sources/source.hpp"

namespace c2p {
namespace {

// Keeps records [from, to) of batch b, in place.
void keep_slice(RecordBatch &b, size_t from, size_t to) {
    auto cut = [&](auto &v, size_t unit) {
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(to * unit), v.end());
        v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(from * unit));
    };
    cut(b.ids, 1);
    cut(b.embeddings, b.dim);
    cut(b.documents, 1);
    cut(b.uris, 1);
    cut(b.metadatas, 1);
}

class RangeReader : public BatchReader {
public:
    RangeReader(std::unique_ptr<BatchReader> inner, uint64_t start, uint64_t count)
        : inner_(std::move(inner)), to_skip_(start), left_(count) {}

    bool next(RecordBatch &out) override {
        out.clear();
        while (left_ > 0) {
            if (!inner_->next(out)) return false;
            size_t from = static_cast<size_t>(std::min<uint64_t>(to_skip_, out.size()));
            to_skip_ -= from;
            // left_ may be kToTheEnd: never add to it (it would wrap).
            size_t to = from + static_cast<size_t>(std::min<uint64_t>(left_, out.size() - from));
            if (from > 0 || to < out.size()) keep_slice(out, from, to);
            if (out.empty()) continue;
            left_ -= out.size();
            return true;
        }
        out.clear();
        return false;
    }

private:
    std::unique_ptr<BatchReader> inner_;
    uint64_t to_skip_, left_;
};

} // namespace

std::unique_ptr<BatchReader> slice_reader(std::unique_ptr<BatchReader> inner, uint64_t start, uint64_t count) {
    if (start == 0 && count == kToTheEnd) return inner;
    return std::make_unique<RangeReader>(std::move(inner), start, count);
}

std::unique_ptr<BatchReader> Source::read_range(const CollectionInfo &c, size_t batch_size, uint64_t start,
                                                uint64_t count) {
    return slice_reader(read(c, batch_size), start, count);
}

std::unique_ptr<BatchReader> Source::read_ids(const CollectionInfo &, std::vector<std::string>, size_t) {
    throw std::logic_error("read_ids() on a source that is not live: " + describe());
}

} // namespace c2p
