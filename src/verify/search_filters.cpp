#include "verify/search_filters.hpp"

#include <cmath>
#include <map>

#include <fmt/format.h>

namespace c2p {
namespace {

using json = nlohmann::ordered_json;

// Above this many rows the value counts come from a Bernoulli sample of about this many.
constexpr uint64_t kStatsRows = 50000;
constexpr double kTargetSelectivity = 0.05;

std::string key_text(const std::string &m, const std::string &key) { return m + "->>" + quote_literal(key); }

// How far a selectivity is from the target, on a log scale (2 % and 12.5 % are equally far from 5 %).
double distance_to_target(double sel) { return std::fabs(std::log(sel / kTargetSelectivity)); }

} // namespace

std::vector<MetadataFilter> pick_equality_filters(const std::vector<MetadataValueCount> &counts, uint64_t rows,
                                                  const std::string &m) {
    std::map<std::string, const MetadataValueCount *> best; // JSON type -> value
    if (rows == 0) return {};
    for (const auto &c : counts) {
        if (c.key.rfind("_chroma", 0) == 0) continue; // chroma2pg's own keys (uri, null document)
        if (c.type != "string" && c.type != "number" && c.type != "boolean") continue;
        double sel = double(c.count) / double(rows);
        double hi = c.type == "boolean" ? 0.5 : 0.2; // a bool's rarer value may be common
        if (sel < 0.01 || sel > hi) continue;
        auto &b = best[c.type];
        if (!b || distance_to_target(sel) < distance_to_target(double(b->count) / double(rows))) b = &c;
    }
    std::vector<MetadataFilter> out;
    for (const char *type : {"string", "number", "boolean"}) {
        auto it = best.find(type);
        if (it == best.end()) continue;
        const auto &c = *it->second;
        json v = json::parse(c.json_value);
        MetadataFilter f;
        f.kind = std::string(type == std::string("boolean") ? "bool" : type == std::string("number") ? "numeric" : "string") +
                 " equality";
        f.key = c.key;
        std::string text = v.is_string() ? v.get<std::string>() : c.json_value;
        f.sql = key_text(m, c.key) + " = " + quote_literal(text);
        f.where = {{c.key, v}};
        f.matching = c.count;
        f.selectivity = double(c.count) / double(rows);
        out.push_back(std::move(f));
    }
    return out;
}

std::vector<MetadataFilter> find_metadata_filters(PgConnection &pg, const std::string &tbl, const std::string &w,
                                                  const std::string &m) {
    const std::string where = w.empty() ? "" : " WHERE " + w;
    const std::string and_w = w.empty() ? "" : "(" + w + ") AND ";
    uint64_t rows = std::stoull(pg.scalar("SELECT count(*) FROM " + tbl + where).value_or("0"));
    if (rows == 0) return {};
    std::string sample = rows > kStatsRows ? fmt::format(" TABLESAMPLE BERNOULLI ({:.4f}) REPEATABLE (1)",
                                                         100.0 * double(kStatsRows) / double(rows))
                                           : "";
    uint64_t sampled = std::min(rows, kStatsRows);
    std::string entries = fmt::format("(SELECT ({})::jsonb AS m FROM {}{}{}) s, jsonb_each(CASE WHEN jsonb_typeof(s.m) "
                                      "= 'object' THEN s.m ELSE '{{}}'::jsonb END) e",
                                      m, tbl, sample, where);
    auto r = pg.exec(fmt::format("SELECT e.key, jsonb_typeof(e.value), e.value::text, count(*) FROM {} GROUP BY 1, 2, 3 "
                                 "HAVING count(*) >= {}",
                                 entries, std::max<uint64_t>(2, sampled / 200)));
    std::vector<MetadataValueCount> counts;
    for (int i = 0; i < r.rows(); ++i)
        counts.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), std::stoull(r.text(i, 3))});
    auto filters = pick_equality_filters(counts, sampled, m);

    // A numeric key with many values: a range holding about 5 % of its rows replaces numeric equality.
    auto nk = pg.exec(fmt::format("SELECT e.key FROM {} WHERE jsonb_typeof(e.value) = 'number' AND e.key NOT LIKE "
                                  "'\\_chroma%' GROUP BY 1 HAVING count(DISTINCT e.value) >= 20 AND count(*) >= {} "
                                  "ORDER BY count(*) DESC, 1 LIMIT 1",
                                  entries, sampled / 2));
    if (nk.rows() > 0) {
        std::string key = nk.text(0, 0);
        std::string num = fmt::format("CASE WHEN jsonb_typeof(({})::jsonb -> {}) = 'number' THEN ({})::float8 END", m,
                                      quote_literal(key), key_text(m, key));
        auto b = pg.exec(fmt::format("SELECT percentile_disc(0.40) WITHIN GROUP (ORDER BY v), percentile_disc(0.45) "
                                     "WITHIN GROUP (ORDER BY v), bool_and(v = trunc(v)) FROM (SELECT {} AS v FROM {}{}{}) "
                                     "x WHERE v IS NOT NULL",
                                     num, tbl, sample, where));
        if (b.rows() == 1 && !b.is_null(0, 0)) {
            bool ints = b.text(0, 2) == "t";
            auto bound = [&](const std::string &t) { return ints ? json(std::llround(std::stod(t))) : json(std::stod(t)); };
            json lo = bound(b.text(0, 0)), hi = bound(b.text(0, 1));
            MetadataFilter f;
            f.kind = "numeric range";
            f.key = key;
            f.sql = fmt::format("{} BETWEEN {} AND {}", num, lo.dump(), hi.dump());
            f.where = {{"$and", json::array({json{{key, {{"$gte", lo}}}}, json{{key, {{"$lte", hi}}}}})}};
            std::erase_if(filters, [](const MetadataFilter &x) { return x.kind == "numeric equality"; });
            filters.push_back(std::move(f));
        }
    }
    for (auto &f : filters) {
        f.matching = std::stoull(pg.scalar("SELECT count(*) FROM " + tbl + " WHERE " + and_w + "(" + f.sql + ")").value_or("0"));
        f.selectivity = double(f.matching) / double(rows);
    }
    std::erase_if(filters, [](const MetadataFilter &f) { return f.matching == 0; });
    return filters;
}

} // namespace c2p
