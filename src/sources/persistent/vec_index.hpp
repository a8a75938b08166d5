// Where each record's vector lives, by record id: an open-addressing table over a flat entry
// array. A collection has one entry per record, so the entry is kept small (~40 bytes) and ids
// read from index_metadata.pickle are views into its bytes instead of copies.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace c2p::persistent {

struct VecLoc {
    enum Kind : uint8_t { hnsw, wal } kind = hnsw;
    bool matched = false; // a live record refers to it
    uint64_t pos = 0;     // element index (hnsw) or embeddings_queue.seq_id (wal)
};

class VecIndex {
public:
    // Tries the entry after the last one found before hashing: records are read in the order they
    // were added, which is also the order of the pickle's labels, so most lookups cost one compare.
    VecLoc *find(std::string_view id);
    // The same for a reader with its own `cursor` (the entry after its last hit; start at 0): readers on
    // several threads share one index that no longer changes.
    const VecLoc *find(std::string_view id, size_t &cursor) const;
    // Sets the location of `id`, adding it when absent. `copy_id`: the id's bytes do not outlive
    // this call (ids that are views into the mapped pickle need no copy).
    void set(std::string_view id, VecLoc loc, bool copy_id);
    // Adds `id` only when absent; returns false (and changes nothing) when present.
    bool add(std::string_view id, VecLoc loc, bool copy_id);
    void erase(std::string_view id);
    size_t size() const { return live_; }
    void reserve(size_t n);

    template <class F> void for_each(F &&f) {
        for (auto &e : entries_)
            if (!e.erased) f(e.id, e.loc);
    }

private:
    struct Entry {
        std::string_view id;
        VecLoc loc;
        bool erased = false;
    };
    struct Slot {
        uint32_t entry = 0; // 0 = empty, else index into entries_ + 1
        uint32_t hash = 0;  // compared before the id bytes
    };
    std::vector<Entry> entries_;
    std::vector<Slot> slots_;
    std::deque<std::string> owned_;
    size_t live_ = 0;
    size_t next_ = 0; // entry after the last one found

    static uint32_t hash_of(std::string_view id);
    // The slot holding `id`, or the empty slot where it would go.
    size_t probe(std::string_view id, uint32_t h) const;
    void rehash(size_t nslots);
    void insert_at(size_t slot, uint32_t h, std::string_view id, VecLoc loc, bool copy_id);
};

} // namespace c2p::persistent
