#include "verify/digest_compare.hpp"

#include <algorithm>

#include <xxhash.h>

namespace c2p {


DigestDiff compare_digests(std::vector<DigestEntry> &s, std::vector<DigestEntry> &t) {
    auto less = [](const DigestEntry &a, const DigestEntry &b) {
        return a.key != b.key ? a.key < b.key : a.digest < b.digest;
    };
    std::sort(s.begin(), s.end(), less);
    std::sort(t.begin(), t.end(), less);
    DigestDiff d;
    d.source_count = s.size();
    d.target_count = t.size();
    size_t i = 0, j = 0;
    while (i < s.size() || j < t.size()) {
        if (j == t.size() || (i < s.size() && s[i].key < t[j].key)) {
            d.missing.push_back(s[i].key);
            for (uint64_t k = s[i].key; i < s.size() && s[i].key == k;) ++i;
            continue;
        }
        if (i == s.size() || t[j].key < s[i].key) {
            d.extra.push_back(t[j].key);
            for (uint64_t k = t[j].key; j < t.size() && t[j].key == k;) ++j;
            continue;
        }
        // Same key: compare the groups (almost always one record each).
        uint64_t k = s[i].key;
        size_t i2 = i, j2 = j;
        while (i2 < s.size() && s[i2].key == k) ++i2;
        while (j2 < t.size() && t[j2].key == k) ++j2;
        size_t only_s = 0, only_t = 0, same = 0;
        for (size_t a = i, b = j; a < i2 || b < j2;) {
            if (b == j2 || (a < i2 && s[a].digest < t[b].digest)) ++only_s, ++a;
            else if (a == i2 || t[b].digest < s[a].digest) ++only_t, ++b;
            else ++same, ++a, ++b;
        }
        d.matching += same;
        if (only_s && only_t) d.different.push_back(k);
        else if (only_s) d.missing.push_back(k);
        else if (only_t) d.extra.push_back(k);
        i = i2;
        j = j2;
    }
    return d;
}

} // namespace c2p
