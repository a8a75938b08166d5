#include "verify/report_writer.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/progress.hpp"

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

// The recall a throughput figure must reach to be a headline (bench has no --min-recall).
constexpr double kRecallTarget = 0.9;

std::string str(const json &j, const char *key, const std::string &dflt = "") {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return dflt;
    if (j[key].is_string()) return j[key].get<std::string>();
    return j[key].dump();
}
double num(const json &j, const char *key, double dflt = 0) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return dflt;
    return j[key].get<double>();
}
const json &sub(const json &j, const char *key) {
    static const json empty = json::object();
    return j.is_object() && j.contains(key) && !j[key].is_null() ? j[key] : empty;
}
std::string fmt_count(double v) {
    std::string s = fmt::format("{:.0f}", v), out;
    int n = 0;
    for (auto it = s.rbegin(); it != s.rend(); ++it) {
        if (n && n % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
        out.insert(out.begin(), *it);
        ++n;
    }
    return out;
}
std::string md_cell(const std::string &s) {
    std::string out;
    for (char c : s) {
        if (c == '|') out += "\\|";
        else if (c == '\n') out += ' ';
        else out += c;
    }
    return out;
}

// Horizontal bars: one per collection, with the --min-recall threshold as a dashed line.
std::string recall_svg(const std::vector<CollectionVerify> &cols, double threshold) {
    std::vector<std::pair<std::string, double>> bars;
    for (const auto &c : cols)
        if (auto r = c.recall_at_k()) bars.emplace_back(c.name, *r);
    if (bars.empty()) return "<p class=muted>No recall measured (no vector index or no records).</p>";
    const int label_w = 190, bar_w = 360, row_h = 24, top = 8;
    int h = top + int(bars.size()) * row_h + 22;
    std::string svg = fmt::format("<svg role=img aria-label='recall per collection' width='{}' height='{}' "
                                  "viewBox='0 0 {} {}' xmlns='http://www.w3.org/2000/svg'>",
                                  label_w + bar_w + 60, h, label_w + bar_w + 60, h);
    for (size_t i = 0; i < bars.size(); ++i) {
        int y = top + int(i) * row_h;
        double r = std::clamp(bars[i].second, 0.0, 1.0);
        const char *colour = r >= threshold ? "#2e7d32" : "#c62828";
        std::string label = bars[i].first.size() > 26 ? bars[i].first.substr(0, 25) + "…" : bars[i].first;
        svg += fmt::format("<text x='{}' y='{}' text-anchor='end' class=lbl>{}</text>", label_w - 6, y + 15,
                           html_escape(label));
        svg += fmt::format("<rect x='{}' y='{}' width='{}' height='16' fill='#eceff1'/>", label_w, y + 3, bar_w);
        svg += fmt::format("<rect x='{}' y='{}' width='{:.1f}' height='16' fill='{}'/>", label_w, y + 3, r * bar_w, colour);
        svg += fmt::format("<text x='{}' y='{}' class=val>{:.3f}</text>", label_w + bar_w + 6, y + 15, r);
    }
    if (threshold > 0) {
        double x = label_w + threshold * bar_w;
        svg += fmt::format("<line x1='{0:.1f}' x2='{0:.1f}' y1='{1}' y2='{2}' stroke='#37474f' stroke-dasharray='4 3'/>",
                           x, top, h - 18);
        svg += fmt::format("<text x='{:.1f}' y='{}' text-anchor='middle' class=val>min {:.2f}</text>", x, h - 4, threshold);
    }
    return svg + "</svg>";
}

// Grouped bars: p50 / p95 / p99 latency per client count, for one ef_search value.
std::string latency_svg(const std::vector<BenchRun> &runs, const std::string &caption) {
    if (runs.empty()) return "";
    double max_ms = 0;
    for (const auto &r : runs) max_ms = std::max(max_ms, r.latency.p99_ms);
    if (max_ms <= 0) max_ms = 1;
    const int left = 50, plot_h = 150, group_w = 90, top = 10;
    const std::string legend = fmt::format("ms — {} (blue p50, amber p95, red p99)", caption);
    // Wide enough for the legend line too (about 6.5 px per character at 11 px).
    int w = std::max(left + int(runs.size()) * group_w + 20, left + int(double(legend.size()) * 6.5) + 10);
    int h = top + plot_h + 44;
    std::string svg = fmt::format("<svg role=img aria-label='latency percentiles per client count' width='{}' "
                                  "height='{}' viewBox='0 0 {} {}' xmlns='http://www.w3.org/2000/svg'>",
                                  w, h, w, h);
    for (int t = 0; t <= 4; ++t) {
        double v = max_ms * t / 4;
        int y = top + plot_h - int(plot_h * t / 4);
        svg += fmt::format("<line x1='{}' x2='{}' y1='{}' y2='{}' stroke='#e0e0e0'/>", left, w - 10, y, y);
        svg += fmt::format("<text x='{}' y='{}' text-anchor='end' class=val>{:.2f}</text>", left - 4, y + 4, v);
    }
    const char *colours[] = {"#1565c0", "#f9a825", "#c62828"};
    const char *keys[] = {"p50_ms", "p95_ms", "p99_ms"};
    for (size_t g = 0; g < runs.size(); ++g) {
        int x0 = left + int(g) * group_w + 12;
        const LatencySummary &l = runs[g].latency;
        const double values[] = {l.p50_ms, l.p95_ms, l.p99_ms};
        for (int b = 0; b < 3; ++b) {
            double v = values[b];
            double bh = plot_h * v / max_ms;
            svg += fmt::format("<rect x='{}' y='{:.1f}' width='20' height='{:.1f}' fill='{}'><title>{} {:.3f} ms</title></rect>",
                               x0 + b * 22, top + plot_h - bh, bh, colours[b], keys[b], v);
        }
        svg += fmt::format("<text x='{}' y='{}' text-anchor='middle' class=lbl>{} client{}</text>", x0 + 32,
                           top + plot_h + 16, runs[g].clients, runs[g].clients == 1 ? "" : "s");
        svg += fmt::format("<text x='{}' y='{}' text-anchor='middle' class=val>{:.0f} q/s</text>", x0 + 32,
                           top + plot_h + 30, l.qps);
    }
    svg += fmt::format("<text x='{}' y='{}' class=val>{}</text>", left, h - 2, html_escape(legend));
    return svg + "</svg>";
}

const char *kCss = R"(
body{font:14px/1.4 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:18px 24px;color:#263238;background:#fff}
h1{font-size:20px;margin:0 0 6px}h2{font-size:15px;margin:16px 0 6px;border-bottom:1px solid #cfd8dc;padding-bottom:2px}
.verdict{display:flex;align-items:center;gap:18px;padding:12px 18px;border-radius:8px;margin:8px 0 10px}
.verdict .big{font-size:40px;font-weight:800;letter-spacing:2px}
.pass{background:#e8f5e9;border:2px solid #2e7d32;color:#1b5e20}.fail{background:#ffebee;border:2px solid #c62828;color:#b71c1c}
.info{background:#e3f2fd;border:2px solid #1565c0;color:#0d47a1}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #cfd8dc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eceff1}td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#2e7d32;font-weight:700}.bad{color:#c62828;font-weight:700}
.muted{color:#78909c}.grid{display:flex;flex-wrap:wrap;gap:24px}.grid>div{flex:1 1 420px}
svg .lbl{font-size:12px;fill:#37474f}svg .val{font-size:11px;fill:#546e7a}
ul{margin:4px 0;padding-left:20px}code{background:#eceff1;padding:0 3px;border-radius:3px}
)";

std::string kv_table(const std::vector<std::pair<std::string, std::string>> &rows) {
    std::string h = "<table>";
    for (const auto &[k, v] : rows) h += "<tr><th>" + html_escape(k) + "</th><td>" + html_escape(v) + "</td></tr>";
    return h + "</table>";
}

std::string environment_html(const json &env) {
    if (env.empty()) return "";
    std::string h = "<h2>PostgreSQL environment</h2>";
    std::vector<std::pair<std::string, std::string>> rows = {
        {"server", str(env, "server")},
        {"version", str(env, "server_version")},
        {"pgvector", str(env, "pgvector_version", "not installed")}};
    if (num(env, "vector_index_bytes") > 0) rows.emplace_back("vector indexes (size)", human_bytes(num(env, "vector_index_bytes")));
    if (!sub(env, "pgvector_policy").empty()) rows.emplace_back("pgvector verdict", str(sub(env, "pgvector_policy"), "verdict"));
    for (auto it = sub(env, "settings").begin(); it != sub(env, "settings").end(); ++it)
        rows.emplace_back(it.key(), str(it.value(), "value"));
    h += "<div class=grid><div>" + kv_table(rows) + "</div><div>";
    const json &adv = sub(env, "advice");
    if (adv.is_array() && !adv.empty()) {
        h += "<b>Advice</b><ul>";
        for (const auto &a : adv) h += "<li><code>" + html_escape(str(a, "setting")) + "</code>: " + html_escape(str(a, "advice")) + "</li>";
        h += "</ul>";
    } else {
        h += "<p class=muted>No setting needs attention.</p>";
    }
    return h + "</div></div>";
}

std::string list_html(const char *title, const std::vector<std::string> &items, const char *cls) {
    if (items.empty()) return "";
    std::string h = fmt::format("<b class={}>{}</b><ul>", cls, title);
    size_t n = 0;
    for (const auto &i : items) {
        if (++n > 30) {
            h += fmt::format("<li>… and {} more (report.json)</li>", items.size() - 30);
            break;
        }
        h += "<li>" + html_escape(i) + "</li>";
    }
    return h + "</ul>";
}

// Run options as "key: value; …" instead of raw JSON.
std::string plain_value(const json &v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string s;
        for (const auto &x : v) s += (s.empty() ? "" : ", ") + plain_value(x);
        return s;
    }
    if (v.is_object()) {
        std::string s;
        for (auto it = v.begin(); it != v.end(); ++it) s += (s.empty() ? "" : "; ") + it.key() + ": " + plain_value(it.value());
        return s;
    }
    return v.dump();
}

// Filtered search as the app runs it, and the search settings its sessions get.
std::string filtered_html(const std::vector<CollectionVerify> &cols) {
    std::string rows, settings;
    for (const auto &c : cols) {
        if (!c.search) continue;
        const SearchCheckResult &s = *c.search;
        for (const auto &f : s.filtered) {
            bool ok = f.queries_short == 0 && !(f.recall_verdict && f.recall_verdict->verdict == "FAIL");
            rows += fmt::format("<tr><td>{}</td><td><code>{}</code></td><td class=n>{:.1f}%</td><td class='n{}'>{} of {}</td>"
                                "<td class=n>{:.3f}</td><td class=n>{}</td><td class=n>{}</td><td class='{}'>{}</td></tr>",
                                html_escape(c.name), html_escape(f.sql), f.selectivity * 100,
                                f.queries_short > 0 ? " bad" : "", f.fewest_rows, f.expected_rows, f.recall_at_k,
                                fraction_text(f.chroma_recall_at_k), fraction_text(f.overlap_pgvector_vs_chroma),
                                ok ? "ok" : "bad", ok ? "PASS" : "FAIL");
        }
        const json &ss = s.session_settings;
        if (!ss.empty() && settings.empty()) {
            std::vector<std::pair<std::string, std::string>> kv;
            for (auto it = ss.begin(); it != ss.end(); ++it)
                kv.emplace_back(it.key(), str(it.value(), "value") + " (" + str(it.value(), "source") + ")");
            settings = "<h2>Search settings in a new session (what the app gets)</h2>" + kv_table(kv);
        }
    }
    std::string h = settings;
    if (!rows.empty())
        h += "<h2>Filtered search (metadata filters as LangChain / Mastra write them)</h2><table id=filtered><tr>"
             "<th>collection</th><th>filter</th><th>rows matching</th><th>fewest rows returned (of k)</th>"
             "<th>pgvector recall@k</th><th>Chroma recall@k</th><th>pgvector ∩ Chroma</th><th>result</th></tr>" +
             rows + "</table>";
    return h;
}

// "hnsw vector_cosine_ops", or `none` when the collection has no vector index.
std::string index_text(const CollectionVerify &c, const char *none) {
    const auto &sc = c.schema_check;
    return sc && sc->index ? sc->index->method + " " + sc->index->opclass : std::string(none);
}

// Missing, extra and different records, the first `most` of a collection (all of them: 0).
template <class Line>
void each_difference(const CollectionVerify &c, size_t most, Line line) {
    if (!c.completeness) return;
    const CompletenessResult &cr = *c.completeness;
    size_t shown = 0;
    auto more = [&] { return most == 0 || shown++ < most; };
    for (const auto &id : cr.missing_ids)
        if (more()) line("missing in target: ", id, std::string());
    for (const auto &id : cr.extra_ids)
        if (more()) line("extra in target: ", id, std::string());
    for (const auto &d : cr.different) {
        if (!more()) break;
        std::string det;
        for (const auto &x : d.details) det += (det.empty() ? "" : "; ") + x;
        line("different: ", d.id, det);
    }
}

std::string verify_html(const VerifyReport &r) {
    std::string h;
    const auto &cols = r.collections;
    const VerifyTotals tot = r.totals();
    h += "<h2>Collections</h2><table><tr><th>collection</th><th>space</th><th>dim</th><th>records source</th>"
         "<th>records target</th><th>missing</th><th>extra</th><th>different</th><th>schema &amp; index</th>"
         "<th>recall@k</th><th>result</th></tr>";
    for (const auto &c : cols) {
        const CompletenessCounts cp = c.counts();
        auto cell = [&](uint64_t v) { return fmt::format("<td class='n{}'>{}</td>", v > 0 ? " bad" : "", fmt_count(double(v))); };
        const bool schema_ok = !c.schema_check || c.schema_check->failures.empty();
        h += "<tr><td>" + html_escape(c.name) + "</td><td>" + html_escape(c.space) + "</td><td class=n>" +
             html_escape(c.dimension ? std::to_string(*c.dimension) : "") + "</td><td class=n>" +
             fmt_count(double(cp.source_records)) + "</td><td class=n>" + fmt_count(double(cp.target_records)) + "</td>" +
             cell(cp.missing) + cell(cp.extra) + cell(cp.different) + "<td class='" + (schema_ok ? "" : "bad") + "'>" +
             html_escape(index_text(c, "no index")) + "</td><td class=n>" + fraction_text(c.recall_at_k()) + "</td><td class='" +
             (c.ok() ? "ok" : "bad") + "'>" + (c.ok() ? "PASS" : "FAIL") + "</td></tr>";
    }
    h += fmt::format("<tr><th>total</th><th></th><th></th><th class=n>{}</th><th class=n>{}</th><th class=n>{}</th>"
                     "<th class=n>{}</th><th class=n>{}</th><th></th><th></th><th></th></tr></table>",
                     fmt_count(double(tot.source_records)), fmt_count(double(tot.target_records)),
                     fmt_count(double(tot.missing)), fmt_count(double(tot.extra)), fmt_count(double(tot.different)));
    h += "<div class=grid><div><h2>Search recall (pgvector index vs exact, k = " + std::to_string(r.k) +
         ", hnsw.ef_search = " + html_escape(r.ef_search > 0 ? std::to_string(r.ef_search) : "the database's default") +
         ")</h2>" + recall_svg(cols, r.min_recall) +
         "</div><div><h2>Agreement with the source's own search</h2><table>"
         "<tr><th>collection</th><th>Chroma recall vs exact</th><th>pgvector ∩ Chroma</th><th>distances agree</th></tr>";
    for (const auto &c : cols) {
        const SourceAgreement none{.reason = "not queried"};
        const SourceAgreement &s = c.search ? c.search->source : none;
        if (!s.queried) {
            h += "<tr><td>" + html_escape(c.name) + "</td><td colspan=3 class=muted>" +
                 html_escape(s.reason.value_or(s.error.value_or("not queried"))) + "</td></tr>";
            continue;
        }
        h += fmt::format("<tr><td>{}</td><td class=n>{:.3f}</td><td class=n>{}</td><td class='{}'>{} of {}</td></tr>",
                         html_escape(c.name), s.chroma_recall_vs_exact,
                         fraction_text(s.overlap_pgvector_index_vs_chroma),
                         s.distances_disagree > 0 ? "bad" : "ok",
                         fmt_count(double(s.distances_compared - s.distances_disagree)),
                         fmt_count(double(s.distances_compared)));
    }
    h += "</table></div></div>";
    h += filtered_html(cols);
    std::string diffs;
    for (const auto &c : cols) {
        std::string part;
        each_difference(c, 10, [&](const char *what, const std::string &id, const std::string &det) {
            part += "<li>" + std::string(what) + html_escape(id) + (det.empty() ? "" : " — " + html_escape(det)) + "</li>";
        });
        if (!part.empty()) diffs += "<b>" + html_escape(c.name) + "</b><ul>" + part + "</ul>";
    }
    if (!diffs.empty()) h += "<h2>Record differences (first 10 per collection; all in report.json)</h2>" + diffs;
    // The migration's own figures.
    h += "<h2>Migration</h2>";
    if (!r.registry.empty()) {
        h += "<table><tr><th>collection</th><th>migrated at (UTC)</th><th>records</th><th>index</th><th>from</th></tr>";
        for (const auto &g : r.registry)
            h += "<tr><td>" + html_escape(g.name) + "</td><td>" + html_escape(g.migrated_at) + "</td><td class=n>" +
                 fmt_count(double(g.record_count.value_or(0))) + "</td><td>" + html_escape(g.index_method) + "</td><td>" +
                 html_escape(g.source) + "</td></tr>";
        h += "</table>";
    }
    const json &runs = r.runs;
    if (runs.is_array() && !runs.empty()) {
        h += "<table><tr>";
        for (auto it = runs[0].begin(); it != runs[0].end(); ++it) h += "<th>" + html_escape(it.key()) + "</th>";
        h += "</tr>";
        for (const auto &row : runs) {
            h += "<tr>";
            for (auto it = row.begin(); it != row.end(); ++it)
                h += "<td>" + html_escape(plain_value(it.value())) + "</td>";
            h += "</tr>";
        }
        h += "</table>";
    } else {
        h += "<p class=muted>" + html_escape(r.runs_note.value_or("No run figures recorded.")) + "</p>";
    }
    h += fmt::format("<p class=muted>Verification read {} source records and the target side in parallel in {:.2f}s ({} records/s); "
                     "peak memory {}, CPU {:.2f}s.</p>",
                     fmt_count(double(tot.source_records)), r.seconds, fmt_count(r.records_per_second()),
                     human_bytes(double(r.resources.peak_rss_bytes)), r.resources.cpu_seconds);
    return h;
}

// The bench run with the highest throughput whose recall reaches `target`, and its ef_search; else null.
std::pair<const BenchRun *, const EfSearchBench *> headline_run(const BenchResult &b, double target) {
    std::pair<const BenchRun *, const EfSearchBench *> best{nullptr, nullptr};
    for (const auto &s : b.search)
        for (const auto &x : s.runs)
            if (s.recall_at_k && *s.recall_at_k >= target && (!best.first || x.latency.qps > best.first->latency.qps))
                best = {&x, &s};
    return best;
}

// "1,234 queries/s at recall 0.95 (ef_search 100, 4 clients)", or why there is no headline figure.
std::string bench_headline(const BenchResult &b, double target) {
    if (auto [x, s] = headline_run(b, target); x)
        return fmt::format("best {:.0f} queries/s at recall@k {:.3f} (hnsw.ef_search {}, {} client(s))", x->latency.qps,
                           *s->recall_at_k, s->ef_search, x->clients);
    double best_recall = 0;
    for (const auto &s : b.search) best_recall = std::max(best_recall, s.recall_at_k.value_or(0));
    return fmt::format("no throughput headline: no hnsw.ef_search reached recall@k {:.2f} (best {:.3f}); see the table",
                       target, best_recall);
}

std::string bench_html(const BenchResult &b, const ProcessResources &res) {
    std::string h;
    h += "<h2>Search</h2><p>" + html_escape(fmt::format("{} ({} records, {} dimensions, space {}), k = {}, {} s per run",
                                                        b.collection, fmt_count(double(b.rows)), b.dimension, b.space, b.k,
                                                        json(b.duration_seconds).dump())) +
         "</p><table><tr><th>hnsw.ef_search</th><th>recall@k</th><th>clients</th><th>queries/s</th><th>p50 ms</th>"
         "<th>p95 ms</th><th>p99 ms</th></tr>";
    const EfSearchBench *chart = nullptr;
    for (const auto &s : b.search) {
        bool first = true;
        for (const auto &r : s.runs) {
            const LatencySummary &l = r.latency;
            h += "<tr><td class=n>" + (first ? std::to_string(s.ef_search) : "") + "</td><td class=n>" +
                 (first ? fraction_text(s.recall_at_k) : "") +
                 fmt::format("</td><td class=n>{}</td><td class=n>{:.0f}</td><td class=n>{:.3f}</td><td class=n>{:.3f}</td>"
                             "<td class=n>{:.3f}</td></tr>",
                             r.clients, l.qps, l.p50_ms, l.p95_ms, l.p99_ms);
            first = false;
        }
        if (!chart || s.ef_search == 100) chart = &s;
    }
    h += "</table>";
    if (const auto &base = b.source_baseline) {
        const LatencySummary l = base->latency.value_or(LatencySummary{});
        h += "<h2>" + html_escape(base->source) + " baseline (the same queries through its own search, 1 client)</h2>" +
             (base->error ? "<p class=bad>" + html_escape(*base->error) + "</p>"
                          : kv_table({{"queries/s", fmt::format("{:.0f}", l.qps)},
                                      {"recall@k", fraction_text(base->recall_at_k)},
                                      {"p50 / p95 / p99 ms",
                                       fmt::format("{:.3f} / {:.3f} / {:.3f}", l.p50_ms, l.p95_ms, l.p99_ms)}}));
    }
    if (chart)
        h += "<h2>Latency per client count</h2>" + latency_svg(chart->runs, "hnsw.ef_search " + std::to_string(chart->ef_search));
    if (const auto &ins = b.insert) {
        h += "<h2>Insert</h2>" +
             kv_table({{"rows (binary COPY into a scratch table)", fmt_count(double(ins->rows))},
                       {"records/s", fmt_count(ins->records_per_second)},
                       {"MB/s", fmt::format("{:.1f}", ins->mb_per_second)},
                       {"records/s with an HNSW index maintained",
                        b.insert_with_hnsw_index ? fmt_count(b.insert_with_hnsw_index->records_per_second)
                                                 : std::string("n/a")}});
    }
    h += "<h2>This tool</h2>" + kv_table({{"peak RSS", human_bytes(double(res.peak_rss_bytes))},
                                         {"CPU time (user + system)", fmt::format("{:.2f} s", res.cpu_seconds)}});
    return h;
}

void write_file(const std::filesystem::path &p, const std::string &content) {
    auto tmp = p;
    tmp += ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) throw EnvError("cannot write the report file " + tmp.string());
        f.write(content.data(), static_cast<std::streamsize>(content.size()));
        if (!f) throw EnvError("cannot write the report file " + tmp.string());
    }
    std::error_code ec;
    std::filesystem::rename(tmp, p, ec);
    if (ec) throw EnvError("cannot write the report file " + p.string() + ": " + ec.message());
}

// The page around a report: title, what was checked, the verdict box, failures, warnings and notes.
std::string page_start(const std::string &title, const std::string &verdict, const std::string &subtitle,
                       const std::string &summary, const std::vector<std::string> &failures,
                       const std::vector<std::string> &warnings, const std::vector<std::string> &notes) {
    std::string h = "<!DOCTYPE html><html lang=en><head><meta charset='utf-8'><meta name=viewport "
                    "content='width=device-width,initial-scale=1'><title>" + html_escape(title) + " — " +
                    html_escape(verdict) + "</title><style>" + kCss + "</style></head><body>";
    h += "<h1>" + html_escape(title) + "</h1><div class=muted>" + html_escape(subtitle) + "</div>";
    std::string cls = verdict == "PASS" ? "pass" : verdict == "FAIL" ? "fail" : "info";
    h += "<div class='verdict " + cls + "'><div class=big>" + html_escape(verdict) + "</div><div>" + html_escape(summary) +
         "</div></div>";
    h += list_html("Failures", failures, "bad");
    h += list_html("Warnings", warnings, "muted");
    h += list_html("Notes", notes, "muted");
    return h;
}

std::string md_start(const char *kind, const std::string &verdict, const std::string &generated_at,
                     const std::string &tool_version, const std::vector<std::pair<const char *, std::vector<std::string>>> &lists) {
    std::string m = fmt::format("# chroma2pg {}: **{}**\n\n", kind, verdict);
    m += fmt::format("Generated {} by chroma2pg {}.\n\n", generated_at, tool_version);
    for (const auto &[title, items] : lists) {
        if (items.empty()) continue;
        m += fmt::format("## {}\n\n", title);
        for (const auto &x : items) m += "- " + md_cell(x) + "\n";
        m += "\n";
    }
    return m;
}

std::string bench_md(const BenchResult &b, const ProcessResources &res) {
    std::string s = fmt::format("## Search: {} ({} records, {} dims, {}), k = {}\n\n", b.collection,
                                fmt_count(double(b.rows)), b.dimension, b.space, b.k);
    s += "| hnsw.ef_search | recall@k | clients | queries/s | p50 ms | p95 ms | p99 ms |\n|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto &x : b.search)
        for (const auto &run : x.runs)
            s += fmt::format("| {} | {} | {} | {:.0f} | {:.3f} | {:.3f} | {:.3f} |\n", x.ef_search,
                             fraction_text(x.recall_at_k), run.clients, run.latency.qps, run.latency.p50_ms,
                             run.latency.p95_ms, run.latency.p99_ms);
    const InsertRate ins = b.insert.value_or(InsertRate{});
    s += fmt::format("\n## Insert\n\n{} rows by binary COPY into a scratch table: {} records/s ({:.1f} MB/s)",
                     fmt_count(double(ins.rows)), fmt_count(ins.records_per_second), ins.mb_per_second);
    if (b.insert_with_hnsw_index)
        s += fmt::format("; with an HNSW index maintained: {} records/s",
                         fmt_count(b.insert_with_hnsw_index->records_per_second));
    s += fmt::format("\n\nTool: peak RSS {}, CPU {:.2f} s.\n\n", human_bytes(double(res.peak_rss_bytes)), res.cpu_seconds);
    return s;
}

std::string environment_md(const json &env) {
    if (env.empty()) return "";
    std::string m = fmt::format("## PostgreSQL\n\n{} — PostgreSQL {}, pgvector {}\n\n| setting | value |\n|---|---|\n",
                                str(env, "server"), str(env, "server_version"), str(env, "pgvector_version", "not installed"));
    for (auto it = sub(env, "settings").begin(); it != sub(env, "settings").end(); ++it)
        m += "| " + it.key() + " | " + md_cell(str(it.value(), "value")) + " |\n";
    for (const auto &a : sub(env, "advice")) m += "\n- `" + str(a, "setting") + "`: " + md_cell(str(a, "advice"));
    return m + "\n";
}

void write_files(const std::string &dir, const std::string &json_text, const std::string &md, const std::string &html,
                 std::vector<std::string> &paths) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw EnvError("--report " + dir + ": cannot create the directory: " + ec.message());
    fs::path d(dir);
    write_file(d / "report.json", json_text);
    write_file(d / "report.md", md);
    write_file(d / "report.html", html);
    for (const char *n : {"report.json", "report.md", "report.html"}) paths.push_back(fs::absolute(d / n).string());
}

std::string json_file_text(const json &report) {
    return report.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string render_html(const VerifyReport &r) {
    const VerifyTotals t = r.totals();
    std::string verdict = r.passed() ? "PASS" : "FAIL";
    std::string summary = fmt::format("{} collection(s): {} records in the source, {} in PostgreSQL; {} missing, {} extra, {} "
                                      "different",
                                      fmt_count(double(t.collections)), fmt_count(double(t.source_records)),
                                      fmt_count(double(t.target_records)), fmt_count(double(t.missing)),
                                      fmt_count(double(t.extra)), fmt_count(double(t.different)));
    std::string h = page_start("chroma2pg migration verification", verdict,
                               fmt::format("{} · generated {} · chroma2pg {}", r.source_description + " → " + r.target_server,
                                           r.generated_at, r.tool_version),
                               summary, r.failures, r.warnings, r.notes);
    h += verify_html(r);
    if (r.bench)
        h += "<h1 style='margin-top:18px'>Benchmark</h1><p>" + html_escape(bench_headline(*r.bench, kRecallTarget)) +
             "</p>" + bench_html(*r.bench, r.resources);
    h += environment_html(r.environment);
    h += "</body></html>\n";
    return h;
}

std::string render_bench_html(const BenchReport &r) {
    std::string h = page_start("chroma2pg benchmark", "DONE",
                               fmt::format("{} · generated {} · chroma2pg {}", r.target_server, r.generated_at,
                                           r.tool_version),
                               fmt::format("{}; insert {} records/s", bench_headline(r.bench, kRecallTarget),
                                           fmt_count(r.bench.insert ? r.bench.insert->records_per_second : 0)),
                               {}, r.warnings, {});
    h += bench_html(r.bench, r.resources);
    h += environment_html(r.environment);
    h += "</body></html>\n";
    return h;
}

std::string render_markdown(const VerifyReport &r) {
    std::string m = md_start("verification", r.passed() ? "PASS" : "FAIL", r.generated_at, r.tool_version,
                             {{"Failures", r.failures}, {"Warnings", r.warnings}, {"Notes", r.notes}});
    m += "## Collections\n\n| collection | space | dim | source | target | missing | extra | different | index | recall@k | result |\n"
         "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|\n";
    for (const auto &c : r.collections) {
        const CompletenessCounts cp = c.counts();
        m += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", md_cell(c.name), c.space,
                         c.dimension ? std::to_string(*c.dimension) : "", fmt_count(double(cp.source_records)),
                         fmt_count(double(cp.target_records)), fmt_count(double(cp.missing)), fmt_count(double(cp.extra)),
                         fmt_count(double(cp.different)), index_text(c, "none"), fraction_text(c.recall_at_k()), c.ok() ? "PASS" : "FAIL");
    }
    m += "\n";
    std::string filtered;
    for (const auto &c : r.collections)
        if (c.search)
            for (const auto &f : c.search->filtered)
                filtered += fmt::format("| {} | `{}` | {:.1f}% | {} of {} | {:.3f} | {} |\n", md_cell(c.name),
                                        md_cell(f.sql), f.selectivity * 100, f.fewest_rows, f.expected_rows,
                                        f.recall_at_k,
                                        fraction_text(f.chroma_recall_at_k));
    if (!filtered.empty())
        m += "## Filtered search\n\n| collection | filter | rows matching | fewest rows returned | pgvector recall@k | "
             "Chroma recall@k |\n|---|---|---:|---:|---:|---:|\n" + filtered + "\n";
    for (const auto &c : r.collections) {
        std::string part;
        each_difference(c, 0, [&](const char *what, const std::string &id, const std::string &det) {
            part += "- " + std::string(what) + "`" + md_cell(id) + "`" + (det.empty() ? "" : " — " + md_cell(det)) + "\n";
        });
        if (!part.empty()) m += "### Differences in " + md_cell(c.name) + "\n\n" + part + "\n";
    }
    if (r.bench) m += bench_md(*r.bench, r.resources);
    return m + environment_md(r.environment);
}

std::string render_bench_markdown(const BenchReport &r) {
    std::string m = md_start("benchmark", "DONE", r.generated_at, r.tool_version, {{"Warnings", r.warnings}});
    return m + bench_md(r.bench, r.resources) + environment_md(r.environment);
}

std::vector<std::string> write_report(const std::string &dir, const VerifyReport &report) {
    std::vector<std::string> paths;
    write_files(dir, json_file_text(report.to_json()), render_markdown(report), render_html(report), paths);
    return paths;
}

std::vector<std::string> write_bench_report(const std::string &dir, const BenchReport &report) {
    std::vector<std::string> paths;
    write_files(dir, json_file_text(report.to_json()), render_bench_markdown(report), render_bench_html(report), paths);
    return paths;
}

json BenchReport::to_json() const {
    json j = {{"kind", "bench"},
              {"tool_version", tool_version},
              {"generated_at", generated_at},
              {"verdict", "DONE"},
              {"failures", json::array()},
              {"warnings", warnings},
              {"target", {{"server", target_server}, {"schema", schema}}}};
    j.update(bench.to_json());
    j["environment"] = environment;
    j["resources"] = resources.to_json();
    if (!report_files.empty()) j["report_files"] = report_files;
    return j;
}

} // namespace c2p
