#include "verify/search_check.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "core/json_text.hpp"
#include "sources/http/chroma_http_source.hpp"
#include "target/native_layout.hpp"
#include "target/search_settings.hpp"
#include "util/error.hpp"
#include "verify/search_filters.hpp"
#include "verify/search_metrics.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
constexpr int kMaxEfSearch = 1000; // pgvector's upper bound for hnsw.ef_search

std::vector<std::vector<Neighbour>> chroma_query(ChromaHttpSource &src, const CollectionInfo &c, const QuerySample &q,
                                                 uint32_t dim, int k, size_t n, const json &where = nullptr) {
    std::vector<std::vector<Neighbour>> out;
    const size_t per_call = 25;
    n = std::min(n, q.ids.size());
    for (size_t start = 0; start < n; start += per_call) {
        std::string body = "{\"query_embeddings\":[";
        for (size_t i = start; i < std::min(n, start + per_call); ++i) {
            if (i > start) body += ',';
            body += '[';
            for (uint32_t d = 0; d < dim; ++d) {
                if (d) body += ',';
                json_text::append_float32(body, q.vectors[i * dim + d]);
            }
            body += ']';
        }
        body += fmt::format("],\"n_results\":{},\"include\":[\"distances\"]", k);
        if (!where.is_null()) body += ",\"where\":" + where.dump();
        body += "}";
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

std::string setting_of(const json &settings, const char *name, const char *absent) {
    return settings.contains(name) ? settings[name]["value"].get<std::string>() : absent;
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

SearchCheckResult run_search_check(PgConnection &pg, const SearchTarget &t, const CollectionInfo &c,
                                   const QuerySample &q, const SearchOptions &o, ChromaHttpSource *chroma) {
    SearchCheckResult out;
    std::vector<std::string> &failures = out.failures, &warnings = out.warnings;
    size_t nq = q.ids.size();
    const uint32_t dim = t.dim;
    const size_t k = static_cast<size_t>(o.k);
    out.queries = nq;
    out.k = o.k;
    if (nq == 0 || dim == 0) {
        out.skipped = "no records to query";
        return out;
    }
    const std::string tbl = qualified(t.schema, t.table);
    const Space ispace = t.index_space.value_or(t.space);
    const std::string op = space_operator(t.space), iop = space_operator(ispace);
    // The query vector's type: the column's (a halfvec column has no operator with vector).
    const std::string param = t.halfvec_column ? fmt::format("halfvec({})", dim) : "vector";
    const std::string &ec = t.embedding_column;
    auto dist = [&](const std::string &oper) { return fmt::format("{} {} $1::{}", ec, oper, param); };
    // A vector column above 2,000 dimensions is indexed through a halfvec expression, which the query must repeat.
    const bool expr_index = !t.halfvec_column && dim > kMaxVectorIndexDims;
    const std::string ord =
        expr_index ? fmt::format("{2}::halfvec({0}) {1} $1::vector::halfvec({0})", dim, iop, ec) : dist(iop);
    // WHERE for the collection's rows (a shared table) and an optional metadata filter.
    auto where_of = [&](const std::string &filter) {
        std::string w = t.filter;
        if (!filter.empty()) w = w.empty() ? filter : "(" + w + ") AND (" + filter + ")";
        return w.empty() ? std::string() : " WHERE " + w;
    };
    auto exact_sql = [&](const std::string &oper, const std::string &filter) {
        return fmt::format("SELECT {0}, {1} FROM {2}{3} ORDER BY {1}, {0} LIMIT {4}", t.id_expr, dist(oper), tbl,
                           where_of(filter), k);
    };
    auto app_sql = [&](const std::string &filter) {
        return fmt::format("SELECT {}, {} FROM {}{} ORDER BY {} LIMIT {}", t.id_expr, dist(iop), tbl, where_of(filter), ord, k);
    };
    std::vector<std::string> params;
    for (size_t i = 0; i < nq; ++i) params.push_back(vector_text(q.vectors.data() + i * dim, dim));
    // Exact ground truth: no index scans (a parallel sequential scan and a sort).
    auto exact_run = [&](const std::string &oper, const std::string &filter, size_t n) {
        std::vector<std::vector<Neighbour>> res;
        pg.exec("BEGIN");
        pg.exec("SET LOCAL enable_indexscan = off");
        pg.exec("SET LOCAL enable_bitmapscan = off");
        for (size_t i = 0; i < n; ++i) res.push_back(pg_knn(pg, exact_sql(oper, filter), params[i]));
        pg.exec("COMMIT");
        return res;
    };
    // `exact` is in the index's operator (for recall); `exact_space` in the collection's (for Chroma's answers).
    auto t0 = Clock::now();
    std::vector<std::vector<Neighbour>> exact = exact_run(iop, "", nq), exact_space_own;
    if (iop != op) exact_space_own = exact_run(op, "", nq);
    const auto &exact_space = iop != op ? exact_space_own : exact;
    out.exact_ms_per_query = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / double(nq);
    out.operator_sql = iop;
    if (iop != op) out.note = fmt::format("the index serves {} (the layout's queries); recall is measured with it, "
                                             "the comparison with Chroma with the collection's {} ({})",
                                             iop, space_name(t.space), op);

    // The app's view: a new session with the database's (or role's) defaults and none of ours.
    std::unique_ptr<PgConnection> own_session;
    if (o.fresh_session) own_session = std::make_unique<PgConnection>(o.session_target);
    PgConnection &app = own_session ? *own_session : pg;
    const std::string db = pg.scalar("SELECT current_database()").value_or("");
    // The scope the app's defaults are set for: the database, or the app's role in it.
    const std::string scope = o.app_role.empty() ? "ALTER DATABASE " + quote_ident(db)
                                                 : "ALTER ROLE " + quote_ident(o.app_role) + " IN DATABASE " + quote_ident(db);
    std::vector<std::pair<std::string, std::string>> role_defaults;
    if (!o.app_role.empty()) {
        // We are not logged in as the app: take on what its logins get.
        role_defaults = role_search_defaults(app, o.app_role);
        for (const auto &[name, value] : role_defaults) app.exec("SET " + name + " = " + quote_literal(value));
    }
    json settings = session_search_settings(app);
    for (const auto &[name, value] : role_defaults)
        if (settings.contains(name)) settings[name]["source"] = "role " + o.app_role;
    out.session_settings = settings;
    if (!o.app_role.empty()) out.app_role = o.app_role;
    if (o.ef_search > 0) {
        app.exec(fmt::format("SET hnsw.ef_search = {}", o.ef_search));
        out.ef_search_override = o.ef_search;
    }
    const std::string ef_now = o.ef_search > 0 ? std::to_string(o.ef_search) : setting_of(settings, "hnsw.ef_search", "40");
    const std::string iterative = setting_of(settings, "hnsw.iterative_scan", "off");
    out.ef_search = std::stoi(ef_now);
    const ChromaHnswParams chroma_params = chroma_hnsw_params(c);
    const bool hnsw = t.index_method == "hnsw";
    if (hnsw && o.ef_search == 0 && std::stoi(ef_now) < chroma_params.ef_search)
        warnings.push_back(fmt::format("collection '{}': the app's sessions search with hnsw.ef_search {}, Chroma "
                                       "searched this collection with {}: {} SET hnsw.ef_search = {} "
                                       "(chroma2pg migrate sets it)",
                                       c.name, ef_now, chroma_params.ef_search, scope, chroma_params.ef_search));

    // The app's session on the index path: its own hnsw/ivfflat settings, only sequential scans off. A small
    // table is scanned exactly (the planner's choice below a few ten thousand rows); the app gets the index
    // path once the table grows, so that is the path whose rows and recall count. `ef_search` > 0: that
    // hnsw.ef_search instead of the session's.
    auto index_path = [&](const std::string &sql, size_t n, int ef_search = 0) {
        std::vector<std::vector<Neighbour>> res;
        app.exec("BEGIN");
        app.exec("SET LOCAL enable_seqscan = off");
        if (ef_search > 0) app.exec(fmt::format("SET LOCAL hnsw.ef_search = {}", ef_search));
        for (size_t i = 0; i < n; ++i) res.push_back(pg_knn(app, sql, params[i]));
        app.exec("COMMIT");
        return res;
    };
    out.index_path = "the app's session settings with enable_seqscan = off, so the vector index answers as it "
                        "does once the table is large enough for the planner to choose it";
    // Which hnsw.ef_search closes a recall gap: the same queries on the same path at doubling values, up to
    // pgvector's largest, until their recall reaches `want` (so the warning can name a value, not a knob).
    auto ef_search_trials = [&](const std::string &sql, const std::vector<std::vector<Neighbour>> &truth, size_t n,
                                double want) {
        std::vector<EfSearchTrial> trials;
        for (int ef = std::max(1, std::stoi(ef_now)); ef < kMaxEfSearch;) {
            ef = std::min(ef * 2, kMaxEfSearch);
            const auto got = index_path(sql, n, ef);
            std::vector<double> r;
            for (size_t i = 0; i < n; ++i) r.push_back(recall_at_k(truth[i], got[i], k));
            trials.push_back({ef, mean_of(r)});
            if (trials.back().recall >= want) break;
        }
        return trials;
    };

    // Indexed: the plan must be able to use the vector index; the recall is what the app's session gets.
    std::vector<double> recalls;
    std::vector<std::vector<Neighbour>> approx;
    if (!t.index_name.empty()) {
        pg.exec("BEGIN");
        pg.exec("SET LOCAL enable_seqscan = off");
        auto plan = pg.exec_params("EXPLAIN " + app_sql(""), {params[0]});
        pg.exec("COMMIT");
        std::string plan_text;
        for (int i = 0; i < plan.rows(); ++i) plan_text += plan.text(i, 0) + "\n";
        bool used = plan_text.find(t.index_name) != std::string::npos;
        out.index_used = used;
        if (!used)
            failures.push_back(fmt::format("collection '{}': the planner does not use vector index {} for "
                                           "ORDER BY {} LIMIT k",
                                           c.name, t.index_name, ord));
        if (t.index_method == "ivfflat") out.ivfflat_probes = setting_of(settings, "ivfflat.probes", "1");
        auto t1 = Clock::now();
        approx = index_path(app_sql(""), nq);
        out.indexed_ms_per_query = std::chrono::duration<double, std::milli>(Clock::now() - t1).count() / double(nq);
        for (size_t i = 0; i < nq; ++i) recalls.push_back(recall_at_k(exact[i], approx[i], k));
        out.recall_at_k = mean_of(recalls);
        out.recall_min = *std::min_element(recalls.begin(), recalls.end());
        out.recall_p10 = percentile(recalls, 10);
    } else {
        warnings.push_back(fmt::format("collection '{}': no vector index, so no recall to measure (searches are exact)",
                                       c.name));
    }

    // Structure: the k-th neighbour's L2 distance against the median L2 distance between sample points.
    bool unstructured = false;
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
            for (const auto &r : exact_run("<->", "", ns))
                if (!r.empty()) kth.push_back(r.back().distance);
        }
        double contrast = med > 0 ? median(kth) / med : 1.0;
        unstructured = nq >= 5 && contrast >= kUnstructuredContrast;
        out.structure = {median(kth), med, contrast, unstructured};
        if (unstructured)
            warnings.push_back(fmt::format(
                "collection '{}': the data looks unstructured (the {}-th nearest neighbour is {:.0f}% as far as a "
                "typical point): on uniform noise every ANN index, Chroma's included, has low recall, so recall "
                "here says little about real search quality",
                c.name, k, contrast * 100));
    }

    // Filtered queries built from the collection's own metadata, as LangChain and Mastra write them.
    std::vector<MetadataFilter> filters;
    if (!t.index_name.empty()) {
        try {
            filters = find_metadata_filters(pg, tbl, t.filter, t.metadata_expr);
        } catch (const DataError &e) {
            warnings.push_back(fmt::format("collection '{}': no filtered-search check: {}", c.name, e.what()));
        }
    }
    const size_t nf = std::min(nq, o.filtered_queries);
    std::vector<std::vector<std::vector<Neighbour>>> filtered_truth; // per filter: its exact answers
    for (const auto &f : filters) {
        auto ex = exact_run(iop, f.sql, nf);
        std::vector<double> rec;
        size_t short_queries = 0, short_planner = 0, fewest = k;
        const size_t expected = std::min<uint64_t>(k, f.matching);
        // The index path, and the plan the planner picks for the app today (often a scan on a small table).
        std::vector<std::vector<Neighbour>> got = index_path(app_sql(f.sql), nf);
        for (size_t i = 0; i < nf; ++i) {
            rec.push_back(recall_at_k(ex[i], got[i], k));
            fewest = std::min(fewest, got[i].size());
            if (got[i].size() < expected) ++short_queries;
            if (pg_knn(app, app_sql(f.sql), params[i]).size() < expected) ++short_planner;
        }
        FilteredSearch fj{.kind = f.kind,
                          .key = f.key,
                          .sql = f.sql,
                          .chroma_where = f.where,
                          .matching_rows = f.matching,
                          .selectivity = f.selectivity,
                          .queries = nf,
                          .expected_rows = expected,
                          .fewest_rows = fewest,
                          .queries_short = short_queries,
                          .queries_short_planner_choice = short_planner,
                          .recall_at_k = mean_of(rec)};
        short_queries = std::max(short_queries, short_planner);
        const std::string what = fmt::format("collection '{}': filtered search ({}, {:.1f}% of rows)", c.name, f.sql,
                                             f.selectivity * 100);
        if (short_queries > 0) {
            std::string fix = iterative == "off"
                                  ? fmt::format("hnsw.iterative_scan is off in the app's sessions: {} SET "
                                                "hnsw.iterative_scan = relaxed_order (chroma2pg migrate sets it)",
                                                scope)
                                  : fmt::format("hnsw.iterative_scan is {}; raise hnsw.max_scan_tuples ({}) or "
                                                "hnsw.ef_search ({})",
                                                iterative, setting_of(settings, "hnsw.max_scan_tuples", "20000"), ef_now);
            if (t.index_method == "ivfflat")
                fix = fmt::format("ivfflat.iterative_scan is {} and ivfflat.probes {} in the app's sessions: {} SET "
                                  "ivfflat.iterative_scan = relaxed_order",
                                  setting_of(settings, "ivfflat.iterative_scan", "off"),
                                  setting_of(settings, "ivfflat.probes", "1"), scope);
            failures.push_back(fmt::format("{} returned fewer than {} rows for {} of {} queries (as few as {}) although "
                                           "{} rows match: {}",
                                           what, expected, short_queries, nf, fewest, f.matching, fix));
        }
        if (chroma) {
            try {
                auto theirs = chroma_query(*chroma, c, q, dim, o.k, nf, f.where);
                auto ex_space = iop != op ? exact_run(op, f.sql, nf) : ex;
                std::vector<double> crec, agree;
                for (size_t i = 0; i < nf && i < theirs.size(); ++i) {
                    for (auto &n : ex_space[i]) n.distance = pg_to_chroma_distance(t.space, n.distance);
                    crec.push_back(recall_at_k(ex_space[i], theirs[i], k));
                    agree.push_back(id_overlap(theirs[i], got[i], k));
                }
                fj.chroma_recall_at_k = mean_of(crec);
                fj.recall_gap_noise = gap_noise(rec, crec);
                fj.overlap_pgvector_vs_chroma = mean_of(agree);
            } catch (const std::exception &e) {
                fj.chroma_error = e.what();
                warnings.push_back(fmt::format("{}: could not query the source with where {}: {}", what, f.where.dump(),
                                               e.what()));
            }
        }
        out.filtered.push_back(std::move(fj));
        filtered_truth.push_back(std::move(ex));
    }
    if (filters.empty() && !t.index_name.empty())
        out.filtered_note = "no metadata key with a value on 1-20% of the rows: no filtered queries to check";

    // The source's own answers (a Chroma server): overlap, and distances in Chroma's convention.
    std::optional<double> chroma_recall;
    if (chroma) {
        SourceAgreement &s = out.source;
        s.queried = true;
        try {
            auto theirs = chroma_query(*chroma, c, q, dim, o.k, nq);
            std::vector<double> crec, overlap_pg;
            size_t compared = 0, disagree = 0;
            double max_diff = 0;
            json examples = json::array();
            // float16 values on our side: distances agree only to about float16's precision.
            const double rel = t.halfvec_column ? 1e-2 : 1e-3, abs = t.halfvec_column ? 1e-3 : 1e-4;
            for (size_t i = 0; i < nq && i < theirs.size(); ++i) {
                std::vector<Neighbour> exact_conv = exact_space[i];
                for (auto &n : exact_conv) n.distance = pg_to_chroma_distance(t.space, n.distance);
                crec.push_back(recall_at_k(exact_conv, theirs[i], k));
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
            chroma_recall = mean_of(crec);
            out.recall_gap_noise = gap_noise(recalls, crec);
            s.chroma_recall_vs_exact = *chroma_recall;
            s.chroma_ef_search = chroma_params.ef_search;
            if (!overlap_pg.empty()) s.overlap_pgvector_index_vs_chroma = mean_of(overlap_pg);
            s.distances_compared = compared;
            s.distances_disagree = disagree;
            s.max_abs_distance_difference = max_diff;
            s.distance_convention = t.space == Space::l2   ? "chroma l2 = (a <-> b)^2"
                                       : t.space == Space::ip ? "chroma ip = 1 + (a <#> b) = 1 - dot"
                                                              : "chroma cosine = a <=> b";
            s.tolerance_relative = rel;
            s.tolerance_absolute = abs;
            s.disagreements = examples;
            if (disagree > 0)
                failures.push_back(fmt::format("collection '{}': {} of {} distances differ between Chroma and pgvector "
                                               "(converted to Chroma's {} convention; largest difference {:.3g})",
                                               c.name, disagree, compared, space_name(t.space), max_diff));
        } catch (const std::exception &e) {
            s = SourceAgreement{.queried = false, .error = e.what()};
            warnings.push_back(fmt::format("collection '{}': could not query the source: {}", c.name, e.what()));
        }
    } else {
        out.source.reason = "the source cannot answer queries (not a Chroma server)";
    }

    // The verdict on recall: relative to Chroma's own on the same queries; an absolute floor only when given.
    // Filtered searches (strict = false) only warn: pgvector filters the index scan's candidates where
    // Chroma searches the matching records alone, so at a few percent selectivity its recall can be
    // lower on a perfect copy (0.88 against 0.96 measured); their rows-returned check fails instead.
    // A gap fails only when it exceeds the margin by more than the queries' own sampling noise (a paired test on
    // the per-query gaps): 5 queries on random vectors can miss 2 of 50 neighbours by chance.
    // `sql`, `truth`, `n`: the queries, for trying larger ef_search values on a gap.
    auto judge = [&](const std::string &what, double recall, std::optional<double> theirs, double noise,
                     const std::string &sql, const std::vector<std::vector<Neighbour>> &truth, size_t n,
                     bool strict = true) {
        RecallVerdict v{.pgvector = recall, .chroma = theirs, .gap_noise = noise};
        const bool gap = theirs && recall < *theirs - o.max_recall_gap;
        const bool beyond_noise = gap && recall < *theirs - o.max_recall_gap - noise;
        const bool below_floor = o.min_recall > 0 && recall < o.min_recall;
        std::string knob = hnsw ? fmt::format("hnsw.ef_search is {} in the app's sessions (Chroma's: {})", ef_now,
                                              chroma_params.ef_search)
                                : "raise ivfflat.probes";
        if (hnsw && (beyond_noise || below_floor)) {
            const double want = beyond_noise ? *theirs - o.max_recall_gap : o.min_recall;
            v.ef_search_trials = ef_search_trials(sql, truth, n, want);
            std::string tried;
            for (const auto &t : v.ef_search_trials)
                tried += fmt::format("{}{} -> {:.3f}", tried.empty() ? "" : ", ", t.ef_search, t.recall);
            if (!v.ef_search_trials.empty() && v.ef_search_trials.back().recall >= want) {
                const int ef = v.ef_search_trials.back().ef_search;
                v.ef_search_closing_gap = ef;
                knob += fmt::format("; on the same queries hnsw.ef_search {} reaches {:.3f} (tried: {}): SET "
                                    "hnsw.ef_search = {} in the sessions that run these searches, or {} SET "
                                    "hnsw.ef_search = {} for all of them",
                                    ef, v.ef_search_trials.back().recall, tried, ef, scope, ef);
            } else if (!v.ef_search_trials.empty()) {
                knob += fmt::format("; even hnsw.ef_search {} (pgvector's largest) does not reach {:.3f} on the same "
                                    "queries (tried: {}){}",
                                    kMaxEfSearch, want, tried,
                                    strict ? "" : "; an exact scan answers them exactly, and an index on what they "
                                                  "filter by lets the planner choose one where the filter is selective");
            }
        }
        if (beyond_noise) {
            v.verdict = strict ? "FAIL" : "WARN";
            (strict ? failures : warnings).push_back(fmt::format("{}: pgvector's recall@{} {:.3f} is below Chroma's own {:.3f} on the same "
                                           "queries (more than {}); {}",
                                           what, k, recall, *theirs, o.max_recall_gap, knob));
        } else if (below_floor) {
            v.verdict = "FAIL";
            failures.push_back(fmt::format("{}: recall@{} {:.3f} is below --min-recall {} ({}){}", what, k, recall,
                                           o.min_recall, knob,
                                           unstructured ? "; the data looks unstructured (see the warning)"
                                                        : "; or rebuild the index with larger m / ef_construction"));
        } else if (gap) {
            v.verdict = "WARN";
            warnings.push_back(fmt::format("{}: pgvector's recall@{} {:.3f} is below Chroma's own {:.3f} on the same "
                                           "queries, but within the sampling noise of these queries (+-{:.3f}); verify "
                                           "with more --queries to settle it",
                                           what, k, recall, *theirs, noise));
        } else {
            v.verdict = "PASS";
            if (!theirs && o.min_recall == 0 && recall < 0.9 && !unstructured)
                warnings.push_back(fmt::format("{}: recall@{} {:.3f} (no Chroma server to compare with; pass --min-recall "
                                               "to make a floor a failure); {}",
                                               what, k, recall, knob));
        }
        return v;
    };
    if (!recalls.empty())
        out.recall_verdict = judge(fmt::format("collection '{}'", c.name), *out.recall_at_k, chroma_recall,
                                   out.recall_gap_noise.value_or(0.0), app_sql(""), exact, nq);
    for (size_t i = 0; i < out.filtered.size(); ++i) {
        FilteredSearch &fj = out.filtered[i];
        fj.recall_verdict = judge(fmt::format("collection '{}': filtered search ({})", c.name, fj.sql), fj.recall_at_k,
                                  fj.chroma_recall_at_k, fj.recall_gap_noise.value_or(0.0), app_sql(fj.sql),
                                  filtered_truth[i], fj.queries, false);
    }
    return out;
}

} // namespace c2p
