#include "verify/search_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace c2p {

double pg_to_chroma_distance(Space s, double d) {
    switch (s) {
    case Space::l2: return d * d;
    case Space::ip: return 1.0 + d;
    case Space::cosine: return d;
    }
    return d;
}

double pg_distance(Space s, const float *a, const float *b, uint32_t dim) {
    double dot = 0, na = 0, nb = 0, l2 = 0;
    for (uint32_t i = 0; i < dim; ++i) {
        double x = a[i], y = b[i];
        dot += x * y;
        na += x * x;
        nb += y * y;
        l2 += (x - y) * (x - y);
    }
    switch (s) {
    case Space::l2: return std::sqrt(l2);
    case Space::ip: return -dot;
    case Space::cosine: return (na == 0 || nb == 0) ? std::nan("") : 1.0 - dot / std::sqrt(na * nb);
    }
    return 0;
}

double recall_at_k(const std::vector<Neighbour> &exact, const std::vector<Neighbour> &approx, size_t k,
                   double tie_eps) {
    size_t n = std::min(k, exact.size());
    if (n == 0) return 1.0;
    std::unordered_set<std::string> truth;
    for (size_t i = 0; i < n; ++i) truth.insert(exact[i].id);
    double kth = exact[n - 1].distance;
    double eps = tie_eps * std::max(1.0, std::fabs(kth));
    size_t hits = 0;
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < approx.size() && i < k; ++i) {
        if (!seen.insert(approx[i].id).second) continue;
        if (truth.count(approx[i].id) || approx[i].distance <= kth + eps) ++hits;
    }
    return std::min(1.0, double(hits) / double(n));
}

double id_overlap(const std::vector<Neighbour> &a, const std::vector<Neighbour> &b, size_t k) {
    std::unordered_set<std::string> ids;
    for (size_t i = 0; i < a.size() && i < k; ++i) ids.insert(a[i].id);
    size_t hits = 0, n = std::min(k, b.size());
    for (size_t i = 0; i < n; ++i) hits += ids.count(b[i].id);
    return n == 0 ? 1.0 : double(hits) / double(n);
}

double percentile_sorted(const std::vector<double> &v, double p) {
    if (v.empty()) return 0;
    p = std::clamp(p, 0.0, 100.0);
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * double(v.size())));
    return v[rank == 0 ? 0 : rank - 1];
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return percentile_sorted(v, p);
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool distances_agree(double a, double b, double rel, double abs) {
    return std::fabs(a - b) <= abs + rel * std::max(std::fabs(a), std::fabs(b));
}

double mean_of(const std::vector<double> &v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / double(v.size());
}

double gap_noise(const std::vector<double> &ours, const std::vector<double> &theirs) {
    const size_t n = std::min(ours.size(), theirs.size());
    if (n < 2) return 1.0;
    std::vector<double> d(n);
    for (size_t i = 0; i < n; ++i) d[i] = theirs[i] - ours[i];
    const double m = mean_of(d);
    double ss = 0;
    for (double x : d) ss += (x - m) * (x - m);
    return 2.0 * std::sqrt(ss / double(n - 1) / double(n));
}

} // namespace c2p
