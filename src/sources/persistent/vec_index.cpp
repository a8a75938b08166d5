#include "sources/persistent/vec_index.hpp"

#include <stdexcept>
#include <utility>

#include <xxhash.h>

namespace c2p::persistent {

uint32_t VecIndex::hash_of(std::string_view id) { return uint32_t(XXH3_64bits(id.data(), id.size())); }

size_t VecIndex::probe(std::string_view id, uint32_t h) const {
    size_t mask = slots_.size() - 1;
    size_t i = h & mask;
    while (slots_[i].entry != 0 && (slots_[i].hash != h || entries_[slots_[i].entry - 1].id != id)) i = (i + 1) & mask;
    return i;
}

void VecIndex::rehash(size_t nslots) {
    size_t n = 16;
    while (n < nslots) n <<= 1;
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(n, Slot{});
    // Ids are unique: each old slot only needs an empty place.
    for (const Slot &s : old) {
        if (s.entry == 0) continue;
        size_t i = s.hash & (n - 1);
        while (slots_[i].entry != 0) i = (i + 1) & (n - 1);
        slots_[i] = s;
    }
}

void VecIndex::reserve(size_t n) {
    entries_.reserve(n);
    if (slots_.size() < 2 * n) rehash(2 * n);
}

const VecLoc *VecIndex::find(std::string_view id, size_t &cursor) const {
    if (cursor < entries_.size() && entries_[cursor].id == id) {
        const Entry &e = entries_[cursor++];
        return e.erased ? nullptr : &e.loc;
    }
    if (slots_.empty()) return nullptr;
    const Slot &s = slots_[probe(id, hash_of(id))];
    if (s.entry == 0 || entries_[s.entry - 1].erased) return nullptr;
    cursor = s.entry;
    return &entries_[s.entry - 1].loc;
}

VecLoc *VecIndex::find(std::string_view id) { return const_cast<VecLoc *>(std::as_const(*this).find(id, next_)); }

void VecIndex::insert_at(size_t slot, uint32_t h, std::string_view id, VecLoc loc, bool copy_id) {
    if (entries_.size() >= UINT32_MAX - 1) throw std::length_error("more than 4 billion records in one collection");
    if (copy_id) id = owned_.emplace_back(id);
    entries_.push_back(Entry{id, loc, false});
    slots_[slot] = Slot{uint32_t(entries_.size()), h};
    ++live_;
}

void VecIndex::set(std::string_view id, VecLoc loc, bool copy_id) {
    if (slots_.empty() || 2 * (entries_.size() + 1) > slots_.size()) rehash(2 * slots_.size());
    uint32_t h = hash_of(id);
    size_t i = probe(id, h);
    if (slots_[i].entry == 0) return insert_at(i, h, id, loc, copy_id);
    Entry &e = entries_[slots_[i].entry - 1];
    if (e.erased) ++live_;
    e.erased = false;
    e.loc = loc;
}

bool VecIndex::add(std::string_view id, VecLoc loc, bool copy_id) {
    if (slots_.empty() || 2 * (entries_.size() + 1) > slots_.size()) rehash(2 * slots_.size());
    uint32_t h = hash_of(id);
    size_t i = probe(id, h);
    if (slots_[i].entry != 0) {
        Entry &e = entries_[slots_[i].entry - 1];
        if (!e.erased) return false;
        e.erased = false;
        e.loc = loc;
        ++live_;
        return true;
    }
    insert_at(i, h, id, loc, copy_id);
    return true;
}

void VecIndex::erase(std::string_view id) {
    if (slots_.empty()) return;
    const Slot &s = slots_[probe(id, hash_of(id))];
    if (s.entry == 0 || entries_[s.entry - 1].erased) return;
    entries_[s.entry - 1].erased = true; // stays in its probe chain; set() revives it
    --live_;
}

} // namespace c2p::persistent
