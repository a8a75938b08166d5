#include "sources/persistent/vec_index.hpp"

#include <functional>
#include <stdexcept>

namespace c2p::persistent {

size_t VecIndex::probe(std::string_view id) const {
    size_t mask = slots_.size() - 1;
    size_t i = std::hash<std::string_view>{}(id) & mask;
    while (slots_[i] != 0 && entries_[slots_[i] - 1].id != id) i = (i + 1) & mask;
    return i;
}

void VecIndex::rehash(size_t nslots) {
    size_t n = 16;
    while (n < nslots) n <<= 1;
    slots_.assign(n, 0);
    for (size_t e = 0; e < entries_.size(); ++e) slots_[probe(entries_[e].id)] = uint32_t(e + 1);
}

void VecIndex::reserve(size_t n) {
    entries_.reserve(n);
    if (slots_.size() < 2 * n) rehash(2 * n);
}

VecLoc *VecIndex::find(std::string_view id) {
    if (slots_.empty()) return nullptr;
    uint32_t s = slots_[probe(id)];
    if (s == 0 || entries_[s - 1].erased) return nullptr;
    return &entries_[s - 1].loc;
}

void VecIndex::set(std::string_view id, VecLoc loc, bool copy_id) {
    if (slots_.empty() || 2 * (entries_.size() + 1) > slots_.size()) rehash(2 * slots_.size());
    size_t i = probe(id);
    if (slots_[i] != 0) {
        Entry &e = entries_[slots_[i] - 1];
        if (e.erased) ++live_;
        e.erased = false;
        e.loc = loc;
        return;
    }
    if (entries_.size() >= UINT32_MAX - 1) throw std::length_error("more than 4 billion records in one collection");
    if (copy_id) id = owned_.emplace_back(id);
    entries_.push_back(Entry{id, loc, false});
    slots_[i] = uint32_t(entries_.size());
    ++live_;
}

bool VecIndex::add(std::string_view id, VecLoc loc, bool copy_id) {
    if (find(id)) return false;
    set(id, loc, copy_id);
    return true;
}

void VecIndex::erase(std::string_view id) {
    if (slots_.empty()) return;
    uint32_t s = slots_[probe(id)];
    if (s == 0 || entries_[s - 1].erased) return;
    entries_[s - 1].erased = true; // stays in its probe chain; set() revives it
    --live_;
}

} // namespace c2p::persistent
