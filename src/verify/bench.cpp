#include "verify/bench.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "target/copy_binary.hpp"
#include "target/layout_sink.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "verify/search_check.hpp"
#include "verify/search_metrics.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// One client: its own connection, a prepared statement, queries in a loop until the deadline.
void client_loop(const BenchTarget &t, const std::string &sql, int ef, const std::vector<std::string> &queries,
                 size_t offset, Clock::time_point start, Clock::time_point deadline, std::vector<double> &lat) {
    PgConnection pg(t.conninfo);
    if (ef > 0) pg.exec(fmt::format("SET hnsw.ef_search = {}", ef)); // 0: the database's default, as the app gets it
    pg.exec("SET enable_seqscan = off"); // measure the index path even where a small table would be scanned
    PGresult *p = PQprepare(pg.raw(), "knn", sql.c_str(), 1, nullptr);
    bool ok = PQresultStatus(p) == PGRES_COMMAND_OK;
    std::string err = PQresultErrorMessage(p);
    PQclear(p);
    if (!ok) throw DataError("bench: cannot prepare the search query: " + err);
    auto run = [&](size_t i) {
        const char *v = queries[i % queries.size()].c_str();
        PGresult *r = PQexecPrepared(pg.raw(), "knn", 1, &v, nullptr, nullptr, 0);
        bool good = PQresultStatus(r) == PGRES_TUPLES_OK;
        std::string e = good ? "" : PQresultErrorMessage(r);
        PQclear(r);
        if (!good) throw DataError("bench: search query failed: " + e);
    };
    for (size_t w = 0; w < 3; ++w) run(offset + w); // warm the connection and the plan
    std::this_thread::sleep_until(start);
    for (size_t i = offset; Clock::now() < deadline; i += 7) {
        auto q0 = Clock::now();
        run(i);
        lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - q0).count());
    }
}

InsertRate insert_bench(PgConnection &pg, const BenchTarget &t, size_t rows, bool with_index) {
    std::mt19937 rng(42);
    std::normal_distribution<float> g(0, 1);
    std::vector<float> v(t.dim);
    CopyBinaryBuffer buf;
    std::string table = with_index ? "c2p_bench_scratch_idx" : "c2p_bench_scratch";
    pg.exec("DROP TABLE IF EXISTS pg_temp." + table);
    pg.exec(fmt::format("CREATE TEMP TABLE {} (id text PRIMARY KEY, embedding vector({}), document text, metadata jsonb)",
                        table, t.dim));
    if (with_index)
        pg.exec(fmt::format("CREATE INDEX ON pg_temp.{} USING hnsw (embedding {})", table, space_opclass(t.space, false)));
    auto t0 = Clock::now();
    uint64_t bytes = 0;
    pg.copy_in_start("COPY pg_temp." + table + " (id, embedding, document, metadata) FROM STDIN WITH (FORMAT BINARY)");
    buf.header();
    for (size_t i = 0; i < rows; ++i) {
        for (auto &x : v) x = g(rng);
        buf.begin_tuple(4);
        buf.text_field(fmt::format("bench-{:08}", i));
        buf.vector_field(v.data(), t.dim);
        buf.text_field("synthetic benchmark document of a typical short length, about one hundred bytes or so.");
        buf.jsonb_field(fmt::format(R"({{"i":{},"source":"bench","score":{}.5}})", i, i % 100));
        if (buf.size() > (4 << 20)) {
            bytes += buf.size();
            pg.copy_in_send(buf);
        }
    }
    buf.trailer();
    bytes += buf.size();
    pg.copy_in_send(buf);
    pg.copy_in_end();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    pg.exec("DROP TABLE pg_temp." + table);
    return {rows, s, s > 0 ? double(rows) / s : 0, s > 0 ? double(bytes) / s / 1e6 : 0};
}

void put_latency(json &j, const LatencySummary &l) {
    j["queries"] = l.queries;
    j["qps"] = l.qps;
    j["mean_ms"] = l.mean_ms;
    j["p50_ms"] = l.p50_ms;
    j["p95_ms"] = l.p95_ms;
    j["p99_ms"] = l.p99_ms;
    j["max_ms"] = l.max_ms;
}

json insert_json(const InsertRate &r) {
    return {{"rows", r.rows}, {"seconds", r.seconds}, {"records_per_second", r.records_per_second},
            {"mb_per_second", r.mb_per_second}};
}

} // namespace

LatencySummary latency_summary(std::vector<double> lat, double seconds) {
    std::sort(lat.begin(), lat.end());
    double sum = 0;
    for (double x : lat) sum += x;
    return {lat.size(),
            seconds > 0 ? double(lat.size()) / seconds : 0,
            lat.empty() ? 0 : sum / double(lat.size()),
            percentile_sorted(lat, 50),
            percentile_sorted(lat, 95),
            percentile_sorted(lat, 99),
            lat.empty() ? 0 : lat.back()};
}

json BenchResult::to_json() const {
    json out = {{"collection", collection}, {"table", table},  {"dimension", dimension},
                {"space", space},           {"k", k},          {"duration_seconds", duration_seconds},
                {"rows", rows}};
    out["index"] = index ? json{{"name", index->name}, {"method", index->method}, {"bytes", index->bytes}} : json();
    json sj = json::array();
    for (const auto &e : search) {
        json s = {{"ef_search", e.ef_search}};
        if (e.database_default) s["ef_search_source"] = "the database's default";
        s["planner_prefers_index"] = e.planner_prefers_index;
        s["index_used"] = e.index_used;
        s["recall_at_k"] = e.recall_at_k ? json(*e.recall_at_k) : json();
        json runs = json::array();
        for (const auto &r : e.runs) {
            json rj = {{"clients", r.clients}};
            put_latency(rj, r.latency);
            runs.push_back(rj);
        }
        s["runs"] = runs;
        sj.push_back(s);
    }
    out["search"] = sj;
    if (source_baseline) {
        const SourceBaseline &b = *source_baseline;
        json bj = {{"source", b.source}, {"clients", 1}};
        if (b.recall_measured) bj["recall_at_k"] = b.recall_at_k ? json(*b.recall_at_k) : json();
        if (b.latency) put_latency(bj, *b.latency);
        if (b.error) bj["error"] = *b.error;
        out["source_baseline"] = bj;
    }
    if (insert) {
        json ij = insert_json(*insert);
        if (insert_with_hnsw_index) ij["with_hnsw_index"] = insert_json(*insert_with_hnsw_index);
        out["insert"] = ij;
    }
    return out;
}

// The same queries through the source's own search, one client, for the run's duration: its latency and recall.
SourceBaseline source_baseline(const BenchOptions &o, const std::vector<std::string> &queries,
                               const std::vector<std::vector<Neighbour>> &exact) {
    SourceBaseline b{.source = o.source_name};
    try {
        double rsum = 0;
        for (size_t i = 0; i < exact.size(); ++i) {
            std::vector<Neighbour> got;
            for (auto &id : o.source_search(queries[i])) got.push_back({id, INFINITY}); // ids only: no tie credit
            rsum += recall_at_k(exact[i], got, size_t(o.k));
        }
        b.recall_measured = true;
        if (!exact.empty()) b.recall_at_k = rsum / double(exact.size());
        std::vector<double> lat;
        auto start = Clock::now();
        auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
        for (size_t i = 0; Clock::now() < deadline; i += 7) {
            auto q0 = Clock::now();
            o.source_search(queries[i % queries.size()]);
            lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - q0).count());
        }
        const LatencySummary &l = b.latency.emplace(
            latency_summary(std::move(lat), std::chrono::duration<double>(Clock::now() - start).count()));
        log::info("bench_source", fmt::format("{} (same queries, 1 client): {:.0f} q/s, p50 {:.2f} ms, p95 {:.2f} ms, p99 "
                                              "{:.2f} ms, recall@{} {}",
                                              o.source_name, l.qps, l.p50_ms, l.p95_ms, l.p99_ms, o.k,
                                              fraction_text(b.recall_at_k)));
    } catch (const std::exception &e) {
        b.error = e.what();
    }
    return b;
}

BenchResult run_bench(const BenchTarget &t, const BenchOptions &o) {
    PgConnection pg(t.conninfo);
    PgConnection::Patience long_statements(pg); // building the comparison index may be silent for long
    const std::string tbl = qualified(t.schema, t.table);
    BenchResult out{.collection = t.collection,
                    .table = t.schema + "." + t.table,
                    .space = space_name(t.space),
                    .dimension = t.dim,
                    .k = o.k,
                    .duration_seconds = o.duration};
    const std::string where = t.filter.empty() ? "" : " WHERE " + t.filter;
    const std::string &ec = t.embedding_column, &id = t.id_expr;
    uint64_t rows = std::stoull(pg.scalar("SELECT count(*) FROM " + tbl + where).value_or("0"));
    out.rows = rows;
    if (rows == 0) throw DataError("bench: table " + tbl + where + " is empty: nothing to search");
    auto idx = pg.exec("SELECT c.relname, am.amname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am "
                       "ON am.oid = c.relam WHERE i.indrelid = " + quote_literal(tbl) +
                       "::regclass AND am.amname IN ('hnsw','ivfflat') AND i.indisvalid" +
                       (t.index_name.empty() ? "" : " AND c.relname = " + quote_literal(t.index_name)) +
                       " ORDER BY 1 LIMIT 1");
    std::string index_name = idx.rows() ? idx.text(0, 0) : "";
    if (idx.rows()) out.index = BenchResult::Index{idx.text(0, 0), idx.text(0, 1), std::stoull(idx.text(0, 2))};

    // Query vectors drawn from the data, in a fixed pseudo-random order (text form, sent as is).
    auto qr = pg.exec(fmt::format("SELECT {}::text FROM {}{} ORDER BY md5({}) LIMIT {}", ec, tbl, where, id, o.queries));
    std::vector<std::string> queries;
    for (int i = 0; i < qr.rows(); ++i) queries.push_back(qr.text(i, 0));
    const std::string op = space_operator(t.index_space.value_or(t.space));
    // A --halfvec table's column is halfvec: the query is cast to it (halfvec has no operator with vector).
    const bool half_column = existing_column_type(pg, t.schema, t.table, ec).value_or("").rfind("halfvec", 0) == 0;
    const bool half = !half_column && t.dim > kMaxVectorIndexDims;
    const std::string dist = ec + " " + op + (half_column ? fmt::format(" $1::halfvec({})", t.dim) : " $1::vector");
    const std::string ord = half ? fmt::format("{2}::halfvec({0}) {1} $1::vector::halfvec({0})", t.dim, op, ec) : dist;
    const std::string sql = fmt::format("SELECT {}, {} FROM {}{} ORDER BY {} LIMIT {}", id, dist, tbl, where, ord, o.k);

    size_t nr = std::min(o.recall_queries, queries.size());
    std::vector<std::vector<Neighbour>> exact;
    pg.exec("BEGIN");
    pg.exec("SET LOCAL enable_indexscan = off");
    pg.exec("SET LOCAL enable_bitmapscan = off");
    for (size_t i = 0; i < nr; ++i)
        exact.push_back(pg_knn(pg, fmt::format("SELECT {3}, {0} FROM {1}{4} ORDER BY {0}, {3} LIMIT {2}", dist, tbl, o.k, id, where),
                               queries[i]));
    pg.exec("COMMIT");

    for (int ef : o.ef_search) {
        pg.exec(ef > 0 ? fmt::format("SET hnsw.ef_search = {}", ef) : std::string("RESET hnsw.ef_search"));
        EfSearchBench &s = out.search.emplace_back();
        s.ef_search = ef > 0 ? ef : std::stoi(pg.scalar("SHOW hnsw.ef_search").value_or("40"));
        s.database_default = ef == 0;
        auto plan = pg.exec_params("EXPLAIN " + sql, {queries[0]});
        std::string plan_text;
        for (int i = 0; i < plan.rows(); ++i) plan_text += plan.text(i, 0) + "\n";
        // Whether the planner picks the index on its own (small tables are often scanned), then the measured
        // configuration: sequential scans off, so the figures are the index's.
        s.planner_prefers_index = !index_name.empty() && plan_text.find(index_name) != std::string::npos;
        pg.exec("SET enable_seqscan = off");
        plan = pg.exec_params("EXPLAIN " + sql, {queries[0]});
        plan_text.clear();
        for (int i = 0; i < plan.rows(); ++i) plan_text += plan.text(i, 0) + "\n";
        s.index_used = !index_name.empty() && plan_text.find(index_name) != std::string::npos;
        double rsum = 0;
        for (size_t i = 0; i < nr; ++i) rsum += recall_at_k(exact[i], pg_knn(pg, sql, queries[i]), size_t(o.k));
        if (nr) s.recall_at_k = rsum / double(nr);
        for (int nc : o.clients) {
            std::vector<std::vector<double>> lat(static_cast<size_t>(nc));
            std::vector<std::exception_ptr> errs(static_cast<size_t>(nc));
            // All clients connect and warm up first, then measure over the same window.
            auto start = Clock::now() + std::chrono::milliseconds(300 + 20 * nc);
            auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
            std::vector<std::thread> th;
            for (int c = 0; c < nc; ++c)
                th.emplace_back([&, c] {
                    try {
                        client_loop(t, sql, ef, queries, size_t(c) * 13, start, deadline, lat[size_t(c)]);
                    } catch (...) {
                        errs[size_t(c)] = std::current_exception();
                    }
                });
            for (auto &x : th) x.join();
            for (auto &e : errs)
                if (e) std::rethrow_exception(e);
            std::vector<double> all;
            for (auto &l : lat) all.insert(all.end(), l.begin(), l.end());
            const BenchRun &run = s.runs.emplace_back(BenchRun{nc, latency_summary(std::move(all), o.duration)});
            const LatencySummary &l = run.latency;
            log::info("bench_run", fmt::format("ef_search {} (recall@{} {}) clients {}: {:.0f} q/s, p50 {:.2f} ms, p95 {:.2f} "
                                               "ms, p99 {:.2f} ms",
                                               s.ef_search, o.k, fraction_text(s.recall_at_k), nc, l.qps, l.p50_ms,
                                               l.p95_ms, l.p99_ms));
        }
    }
    pg.exec("RESET hnsw.ef_search");
    pg.exec("RESET enable_seqscan");
    if (o.source_search) out.source_baseline = source_baseline(o, queries, exact);

    if (o.insert_rows > 0) {
        out.insert = insert_bench(pg, t, o.insert_rows, false);
        if (t.dim <= kMaxVectorIndexDims)
            out.insert_with_hnsw_index = insert_bench(pg, t, std::max<size_t>(1, o.insert_rows / 5), true);
        log::info("bench_insert", fmt::format("insert: {:.0f} records/s by binary COPY", out.insert->records_per_second));
    }
    return out;
}

} // namespace c2p
