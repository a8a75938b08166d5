#include "verify/search_check.hpp"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "core/json_text.hpp"
#include "sources/http/chroma_http_source.hpp"
#include "target/native_layout.hpp"
#include "util/error.hpp"
#include "verify/search_metrics.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

std::vector<std::vector<Neighbour>> chroma_query(ChromaHttpSource &src, const CollectionInfo &c, const QuerySample &q,
                                                 uint32_t dim, int k) {
    std::vector<std::vector<Neighbour>> out;
    const size_t per_call = 25;
    for (size_t start = 0; start < q.ids.size(); start += per_call) {
        std::string body = "{\"query_embeddings\":[";
        for (size_t i = start; i < std::min(q.ids.size(), start + per_call); ++i) {
            if (i > start) body += ',';
            body += '[';
            for (uint32_t d = 0; d < dim; ++d) {
                if (d) body += ',';
                json_text::append_float32(body, q.vectors[i * dim + d]);
            }
            body += ']';
        }
        body += fmt::format("],\"n_results\":{},\"include\":[\"distances\"]}}", k);
        auto r = src.client().post(src.collection_path(c) + "/query", body);
        if (r.status != 200) throw_http_error(src.describe(), "query collection '" + c.name + "'", r);
        auto j = json::parse(r.body);
        const auto &ids = j.at("ids");
        const auto &dists = j.at("distances");
        for (size_t i = 0; i < ids.size(); ++i) {
            std::vector<Neighbour> row;
            for (size_t m = 0; m < ids[i].size(); ++m)
                row.push_back({ids[i][m].get<std::string>(), dists[i][m].is_number() ? dists[i][m].get<double>() : NAN});
            out.push_back(std::move(row));
        }
    }
    return out;
}

} // namespace

std::vector<Neighbour> pg_knn(PgConnection &pg, const std::string &sql, const std::string &vector_param) {
    auto r = pg.exec_params(sql, {vector_param});
    std::vector<Neighbour> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), std::stod(r.text(i, 1))});
    return out;
}

std::string vector_text(const float *v, uint32_t dim) {
    std::string s = "[";
    for (uint32_t i = 0; i < dim; ++i) {
        if (i) s += ',';
        json_text::append_float32(s, v[i]);
    }
    return s + "]";
}

json run_search_check(PgConnection &pg, const SearchTarget &t, const CollectionInfo &c, const QuerySample &q,
                      const SearchOptions &o, ChromaHttpSource *chroma) {
    json out;
    std::vector<std::string> failures, warnings;
    size_t nq = q.ids.size();
    const uint32_t dim = t.dim;
    const size_t k = static_cast<size_t>(o.k);
    out["queries"] = nq;
    out["k"] = o.k;
    if (nq == 0 || dim == 0) {
        out["skipped"] = "no records to query";
        out["failures"] = json::array();
        out["warnings"] = json::array();
        return out;
    }
    const std::string tbl = qualified(t.schema, t.table);
    const std::string where = t.filter.empty() ? "" : " WHERE " + t.filter;
    const Space ispace = t.index_space.value_or(t.space);
    const std::string op = space_operator(t.space), iop = space_operator(ispace);
    // The query vector's type: the column's (a halfvec column has no operator with vector).
    const std::string param = t.halfvec_column ? fmt::format("halfvec({})", dim) : "vector";
    auto dist = [&](const std::string &oper) { return fmt::format("embedding {} $1::{}", oper, param); };
    // A vector column above 2,000 dimensions is indexed through a halfvec expression, which the query must repeat.
    const bool expr_index = !t.halfvec_column && dim > kMaxVectorIndexDims;
    const std::string ord =
        expr_index ? fmt::format("embedding::halfvec({0}) {1} $1::vector::halfvec({0})", dim, iop) : dist(iop);
    auto exact_sql = [&](const std::string &oper) {
        return fmt::format("SELECT {0}, {1} FROM {2}{3} ORDER BY {1}, {0} LIMIT {4}", t.id_expr, dist(oper), tbl, where, k);
    };
    std::vector<std::string> params;
    for (size_t i = 0; i < nq; ++i) params.push_back(vector_text(q.vectors.data() + i * dim, dim));

    // Exact ground truth: no index scans (a parallel sequential scan and a sort). `exact` is in the
    // index's operator (for recall); `exact_space` in the collection's (for Chroma's answers).
    std::vector<std::vector<Neighbour>> exact, exact_space_own;
    auto t0 = Clock::now();
    pg.exec("BEGIN");
    pg.exec("SET LOCAL enable_indexscan = off");
    pg.exec("SET LOCAL enable_bitmapscan = off");
    for (size_t i = 0; i < nq; ++i) exact.push_back(pg_knn(pg, exact_sql(iop), params[i]));
    if (iop != op)
        for (size_t i = 0; i < nq; ++i) exact_space_own.push_back(pg_knn(pg, exact_sql(op), params[i]));
    pg.exec("COMMIT");
    const auto &exact_space = iop != op ? exact_space_own : exact;
    double exact_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / double(nq);
    out["exact_ms_per_query"] = exact_ms;
    out["operator"] = iop;
    if (iop != op) out["note"] = fmt::format("the index serves {} (the layout's queries); recall is measured with it, "
                                             "the comparison with Chroma with the collection's {} ({})",
                                             iop, space_name(t.space), op);

    // Indexed: the plan must use the vector index, at the chosen ef_search (probes for IVFFlat).
    std::vector<double> recalls;
    std::vector<std::vector<Neighbour>> approx;
    if (!t.index_name.empty()) {
        pg.exec("BEGIN");
        pg.exec("SET LOCAL enable_seqscan = off");
        if (t.index_method == "hnsw") {
            pg.exec(fmt::format("SET LOCAL hnsw.ef_search = {}", o.ef_search));
            out["ef_search"] = o.ef_search;
        } else if (t.index_method == "ivfflat") {
            int lists = 100;
            if (auto p = t.index_options.find("lists="); p != std::string::npos) lists = std::atoi(t.index_options.c_str() + p + 6);
            int probes = std::max(1, static_cast<int>(std::lround(std::sqrt(double(std::max(1, lists))))));
            pg.exec(fmt::format("SET LOCAL ivfflat.probes = {}", probes));
            out["ivfflat_probes"] = probes;
        }
        std::string sql = fmt::format("SELECT {}, {} FROM {}{} ORDER BY {} LIMIT {}", t.id_expr, dist(iop), tbl, where, ord, k);
        auto plan = pg.exec_params("EXPLAIN " + sql, {params[0]});
        std::string plan_text;
        for (int i = 0; i < plan.rows(); ++i) plan_text += plan.text(i, 0) + "\n";
        bool used = plan_text.find(t.index_name) != std::string::npos;
        out["index_used"] = used;
        if (!used)
            failures.push_back(fmt::format("collection '{}': the planner does not use vector index {} for "
                                           "ORDER BY {} LIMIT k",
                                           c.name, t.index_name, ord));
        auto t1 = Clock::now();
        for (size_t i = 0; i < nq; ++i) approx.push_back(pg_knn(pg, sql, params[i]));
        pg.exec("COMMIT");
        out["indexed_ms_per_query"] = std::chrono::duration<double, std::milli>(Clock::now() - t1).count() / double(nq);
        for (size_t i = 0; i < nq; ++i) recalls.push_back(recall_at_k(exact[i], approx[i], k));
        double mean = 0;
        for (double r : recalls) mean += r;
        mean /= double(nq);
        out["recall_at_k"] = mean;
        out["recall_min"] = *std::min_element(recalls.begin(), recalls.end());
        out["recall_p10"] = percentile(recalls, 10);
    } else {
        out["index_used"] = false;
        out["recall_at_k"] = nullptr;
        warnings.push_back(fmt::format("collection '{}': no vector index, so no recall to measure (searches are exact)",
                                       c.name));
    }

    // Structure: the k-th neighbour's L2 distance against the median L2 distance between sample points.
    {
        size_t ns = std::min<size_t>(nq, 20);
        std::vector<double> pair;
        for (size_t a = 0; a < nq; ++a)
            for (size_t b = a + 1; b < nq; ++b)
                pair.push_back(pg_distance(Space::l2, q.vectors.data() + a * dim, q.vectors.data() + b * dim, dim));
        double med = median(pair);
        std::vector<double> kth;
        if (t.space == Space::l2) {
            for (size_t i = 0; i < ns; ++i)
                if (!exact_space[i].empty()) kth.push_back(exact_space[i].back().distance);
        } else {
            pg.exec("BEGIN");
            pg.exec("SET LOCAL enable_indexscan = off");
            for (size_t i = 0; i < ns; ++i) {
                auto r = pg_knn(pg, fmt::format("SELECT {}, {} FROM {}{} ORDER BY 2 LIMIT {}", t.id_expr, dist("<->"), tbl,
                                                where, k),
                                params[i]);
                if (!r.empty()) kth.push_back(r.back().distance);
            }
            pg.exec("COMMIT");
        }
        double contrast = med > 0 ? median(kth) / med : 1.0;
        bool unstructured = nq >= 5 && contrast >= kUnstructuredContrast;
        out["structure"] = {{"kth_neighbour_l2_median", median(kth)}, {"pairwise_l2_median", med},
                            {"contrast", contrast}, {"looks_unstructured", unstructured}};
        if (unstructured)
            warnings.push_back(fmt::format(
                "collection '{}': the data looks unstructured (the {}-th nearest neighbour is {:.0f}% as far as a "
                "typical point): on uniform noise every ANN index, Chroma's included, has low recall, so recall "
                "here says little about real search quality",
                c.name, k, contrast * 100));
    }
    if (!recalls.empty() && o.min_recall > 0 && out["recall_at_k"].get<double>() < o.min_recall)
        failures.push_back(fmt::format("collection '{}': recall@{} {:.3f} is below --min-recall {} (hnsw.ef_search {}){}",
                                       c.name, k, out["recall_at_k"].get<double>(), o.min_recall, o.ef_search,
                                       out["structure"]["looks_unstructured"].get<bool>()
                                           ? "; the data looks unstructured (see the warning)"
                                           : "; raise hnsw.ef_search or rebuild the index with larger m / ef_construction"));

    // The source's own answers (a Chroma server): overlap, and distances in Chroma's convention.
    if (chroma) {
        json s = {{"queried", true}};
        try {
            auto theirs = chroma_query(*chroma, c, q, dim, o.k);
            std::vector<double> chroma_recall, overlap_pg;
            size_t compared = 0, disagree = 0;
            double max_diff = 0;
            json examples = json::array();
            // float16 values on our side: distances agree only to about float16's precision.
            const double rel = t.halfvec_column ? 1e-2 : 1e-3, abs = t.halfvec_column ? 1e-3 : 1e-4;
            for (size_t i = 0; i < nq && i < theirs.size(); ++i) {
                std::vector<Neighbour> exact_conv = exact_space[i];
                for (auto &n : exact_conv) n.distance = pg_to_chroma_distance(t.space, n.distance);
                chroma_recall.push_back(recall_at_k(exact_conv, theirs[i], k));
                if (!approx.empty()) overlap_pg.push_back(id_overlap(theirs[i], approx[i], k));
                for (const auto &n : theirs[i])
                    for (const auto &e : exact_conv)
                        if (e.id == n.id) {
                            ++compared;
                            double diff = std::fabs(e.distance - n.distance);
                            max_diff = std::max(max_diff, diff);
                            if (!distances_agree(e.distance, n.distance, rel, abs)) {
                                ++disagree;
                                if (examples.size() < 5)
                                    examples.push_back({{"query_id", q.ids[i]}, {"id", n.id}, {"chroma", n.distance},
                                                        {"pgvector_converted", e.distance}});
                            }
                        }
            }
            auto mean = [](const std::vector<double> &v) {
                double s = 0;
                for (double x : v) s += x;
                return v.empty() ? 0.0 : s / double(v.size());
            };
            s["chroma_recall_vs_exact"] = mean(chroma_recall);
            s["overlap_pgvector_index_vs_chroma"] = overlap_pg.empty() ? json() : json(mean(overlap_pg));
            s["distances_compared"] = compared;
            s["distances_disagree"] = disagree;
            s["max_abs_distance_difference"] = max_diff;
            s["distance_convention"] = t.space == Space::l2   ? "chroma l2 = (a <-> b)^2"
                                       : t.space == Space::ip ? "chroma ip = 1 + (a <#> b) = 1 - dot"
                                                              : "chroma cosine = a <=> b";
            s["distance_tolerance"] = {{"relative", rel}, {"absolute", abs}};
            s["disagreements"] = examples;
            if (disagree > 0)
                failures.push_back(fmt::format("collection '{}': {} of {} distances differ between Chroma and pgvector "
                                               "(converted to Chroma's {} convention; largest difference {:.3g})",
                                               c.name, disagree, compared, space_name(t.space), max_diff));
        } catch (const std::exception &e) {
            s = {{"queried", false}, {"error", e.what()}};
            warnings.push_back(fmt::format("collection '{}': could not query the source: {}", c.name, e.what()));
        }
        out["source"] = s;
    } else {
        out["source"] = {{"queried", false}, {"reason", "the source cannot answer queries (not a Chroma server)"}};
    }
    out["failures"] = failures;
    out["warnings"] = warnings;
    return out;
}

} // namespace c2p
