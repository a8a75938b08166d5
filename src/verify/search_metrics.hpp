// Pure arithmetic of the search checks and benchmarks: distance conventions, recall, percentiles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/record.hpp"

namespace c2p {

// pgvector's distance for a space (<->: l2, <#>: negative dot, <=>: 1 - cos) converted to Chroma's
// convention: l2 = squared L2, ip = 1 - dot = 1 + (a <#> b), cosine = 1 - cos (unchanged).
double pg_to_chroma_distance(Space s, double pg_distance);
// pgvector's own distance computed here (for the sample statistics), in double.
double pg_distance(Space s, const float *a, const float *b, uint32_t dim);

struct Neighbour {
    std::string id;
    double distance; // same convention on both sides
};

// Recall of an approximate top-k against the exact top-k. Tie-aware: an approximate hit counts when
// its id is in the exact list or its distance is within `tie_eps` of the exact k-th distance (equal
// distances make the exact set itself ambiguous). 1.0 when the exact list is empty.
double recall_at_k(const std::vector<Neighbour> &exact, const std::vector<Neighbour> &approx, size_t k,
                   double tie_eps = 1e-6);
// |a ∩ b| / max(1, min(k, |b|)) by id only.
double id_overlap(const std::vector<Neighbour> &a, const std::vector<Neighbour> &b, size_t k);

// Nearest-rank percentile of unsorted values (p in [0, 100]); monotone in p. 0 for no values.
double percentile(std::vector<double> values, double p);
double percentile_sorted(const std::vector<double> &sorted, double p);
double median(std::vector<double> values);
// The arithmetic mean; 0 for no values.
double mean_of(const std::vector<double> &values);
// Twice the standard error of the mean per-query gap (theirs minus ours, paired by query): a recall gap
// within it is the sampling noise of the few queries asked, not a worse index. 1 with fewer than 2 pairs.
double gap_noise(const std::vector<double> &ours, const std::vector<double> &theirs);

// Whether two distances agree within a relative-and-absolute tolerance (float32 arithmetic on each side).
bool distances_agree(double a, double b, double rel = 1e-3, double abs = 1e-4);

// How far the k-th nearest neighbour is, relative to a typical (median) distance. Real embeddings
// have close neighbours (ratios well below 0.5); on uniform noise in many dimensions every point is
// about equally far from every other (ratio near 1) and no ANN index has meaningful recall.
constexpr double kUnstructuredContrast = 0.6;

} // namespace c2p
