#include "verify/verifier.hpp"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "sources/http/chroma_http_source.hpp"
#include "target/langchain_layout.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"
#include "target/target_layout.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/utc_time.hpp"
#include "util/version_info.hpp"
#include "verify/completeness.hpp"
#include "verify/environment.hpp"
#include "verify/layout_schema_check.hpp"
#include "verify/report_writer.hpp"
#include "verify/schema_check.hpp"

namespace c2p {

VerifyReport run_verify(Source &src, const std::vector<CollectionInfo> &cols, bool all_collections,
                        const VerifyOptions &o) {
    auto t_start = std::chrono::steady_clock::now();
    PgConnection pg(o.to);
    PgConnection::Patience long_statements(pg); // exact searches and whole-table digests may be silent for long
    VerifyReport rep;
    auto pgv = pg.scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'");
    if (!pgv)
        throw EnvError("postgresql " + pg.describe() + ": the pgvector extension is not installed in this database: "
                       "nothing can have been migrated here (wrong --to database?)");
    auto *chroma = dynamic_cast<ChromaHttpSource *>(&src);
    const TargetLayout &layout = target_layout(o.layout);
    EnvironmentFacts facts;
    facts.k = o.search.k;
    // Records and search, the same for every layout once the collection's rows are located.
    auto check_records = [&](const CollectionInfo &c, const TargetCollection &t, const SchemaCheck &sc,
                             CollectionVerify &cv) {
        auto &cf = cv.failures;
        CompletenessOptions co{o.batch_size, o.max_listed, o.queries, o.show_progress};
        const CompletenessResult &cr = cv.completeness.emplace(check_completeness(src, c, pg, t, co));
        const auto &d = cr.diff;
        rep.read_seconds += cr.read_seconds;
        if (cr.float16)
            rep.notes.push_back(fmt::format("collection '{}': {}.embedding is halfvec, so embeddings were compared at "
                                            "float16 precision (the source's float32 values rounded to nearest even, as "
                                            "pgvector converts them), bit for bit",
                                            c.name, t.schema + "." + t.table));
        if (d.source_count != d.target_count)
            cf.push_back(fmt::format("collection '{}': {} records in the source, {} in the target", c.name,
                                     d.source_count, d.target_count));
        auto name_some = [&](const std::vector<std::string> &ids) {
            std::string s;
            for (size_t i = 0; i < ids.size() && i < o.max_listed; ++i) s += (i ? ", '" : "'") + ids[i] + "'";
            if (ids.size() > o.max_listed) s += fmt::format(" and {} more", ids.size() - o.max_listed);
            return s;
        };
        if (!cr.missing_ids.empty())
            cf.push_back(fmt::format("collection '{}': {} record(s) missing in the target: {}", c.name,
                                     cr.missing_ids.size(), name_some(cr.missing_ids)));
        if (!cr.extra_ids.empty())
            cf.push_back(fmt::format("collection '{}': {} record(s) in the target that the source does not "
                                     "have: {}", c.name, cr.extra_ids.size(), name_some(cr.extra_ids)));
        for (size_t i = 0; i < cr.different.size(); ++i) {
            const auto &r = cr.different[i];
            if (i >= o.max_listed) {
                cf.push_back(fmt::format("collection '{}': {} more record(s) differ (all listed in the report)",
                                         c.name, cr.different.size() - o.max_listed));
                break;
            }
            std::string det;
            for (const auto &x : r.details) det += (det.empty() ? "" : "; ") + x;
            cf.push_back(fmt::format("collection '{}': record '{}' differs{}", c.name, r.id,
                                     det.empty() ? "" : ": " + det));
        }
        if (cr.nul_escaped > 0)
            rep.notes.push_back(fmt::format("collection '{}': {} source record(s) hold U+0000, which PostgreSQL cannot store; "
                                        "they were compared as `--escape-nul` stores them (U+2400 in its place){}",
                                        c.name, cr.nul_escaped,
                                        cr.nul_escaped_rows
                                            ? fmt::format(", and {} row(s) carry the digest of their original text, "
                                                          "escaped as intended (the originals are in the migration's "
                                                          "reject file)",
                                                          cr.nul_escaped_rows)
                                            : std::string()));
        if (cr.stored_digest_stale > 0)
            cv.warnings.push_back(fmt::format("collection '{}': {} row(s) have a stored digest that no longer matches "
                                     "their values (changed in PostgreSQL after the migration; `sync` would "
                                     "misjudge them)",
                                     c.name, cr.stored_digest_stale));
        // Ids that read back without the prefix they carry (or with one they lack) would all differ: say why.
        if (o.langchain_id_prefix || !d.clean())
            if (auto why = layout.id_mismatch(pg, t, c, o.langchain_id_prefix, "verify")) cf.push_back(*why);
        // Search check on the sample, as the framework's query reaches the rows.
        const SearchShape shape = layout.search_shape(t);
        SearchTarget st{t.schema, t.table, cr.dim, c.space, "", "", ""};
        st.filter = shape.filter;
        st.id_expr = shape.id_expr;
        st.embedding_column = shape.embedding_column;
        st.metadata_expr = shape.metadata_expr;
        st.index_space = shape.index_space;
        st.halfvec_column = t.column.halfvec;
        if (sc.index && sc.index->valid && sc.index->opclass == layout.index_opclass(t, c.space, cr.dim)) {
            st.index_name = sc.index->name;
            st.index_method = sc.index->method;
            st.index_options = sc.index->options;
        }
        SearchOptions so = o.search;
        so.fresh_session = true;
        so.session_target = o.to;
        cv.search = run_search_check(pg, st, c, cr.sample, so, chroma);
        for (const auto &f : cv.search->failures) cf.push_back(f);
        for (const auto &w : cv.search->warnings) cv.warnings.push_back(w);
    };
    auto not_migrated = [&](const CollectionInfo &c, CollectionVerify &cv, const std::string &where) {
        cv.failures.push_back(fmt::format("collection '{}': not migrated ({}); its {} source records are all missing",
                                          c.name, where, c.record_count));
        cv.unread = CompletenessCounts{c.record_count, 0, c.record_count, 0, 0, false};
    };

    for (const auto &c : cols) {
        CollectionVerify &cv = rep.collections.emplace_back();
        cv.name = c.name;
        cv.id = c.id;
        cv.space = space_name(c.space);
        cv.dimension = c.dimension;
        cv.layout = layout_name(o.layout);
        auto &cf = cv.failures;
        auto t = layout.locate(pg, o.schema, c, o.langchain_id_prefix);
        if (!t) {
            not_migrated(c, cv, layout.not_found(o.schema, c));
        } else if (t->table.empty()) {
            // Registered by LangChain's layout as an empty collection of unknown dimension: no embedding table.
            cv.registered_without_table = true;
            cv.unread = CompletenessCounts{c.record_count, 0, c.record_count, 0, 0, c.record_count == 0};
            if (c.record_count > 0)
                cf.push_back(fmt::format("collection '{}': registered in {}.{} but there is no {}.{} table: its {} "
                                         "source records are all missing",
                                         c.name, o.schema, kLangchainCollections, o.schema, kLangchainEmbeddings,
                                         c.record_count));
        } else {
            cv.located = *t;
            // The native layout's schema is its registry row's promise; a framework's, what its store reads.
            SchemaCheck &sc = cv.schema_check.emplace();
            if (layout.has_registry()) {
                auto reg = lookup_registry(pg, o.schema, c.id, c.name);
                if (!reg) throw EnvError(fmt::format("collection '{}': its row in {}.chroma_collections went away "
                                                     "while verify ran", c.name, o.schema));
                rep.registry.push_back({reg->name, reg->migrated_at, reg->index_method, reg->embedding_type,
                                        reg->source, reg->record_count});
                sc = check_schema(pg, o.schema, c, *reg);
            } else {
                sc = check_layout_schema(pg, *t, c);
            }
            for (auto &f : sc.failures) cf.push_back(f);
            for (auto &w : sc.warnings) cv.warnings.push_back(w);
            if (sc.index) facts.vector_index_bytes += sc.index->bytes;
            facts.table_bytes += sc.table_bytes;
            if (parse_vector_type(sc.column_type)) check_records(c, *t, sc, cv); // a table with vectors
        }
        for (auto &f : cf) rep.failures.push_back(f);
        for (auto &w : cv.warnings) rep.warnings.push_back(w);
        log::info("collection_verified",
                  fmt::format("{}: {}", c.name, cf.empty() ? "PASS" : fmt::format("FAIL ({} problem(s))", cf.size())),
                  {{"collection", c.name}, {"ok", cf.empty()}});
    }
    if (all_collections)
        for (auto &w : layout.unknown_collections(pg, o.schema, cols)) rep.warnings.push_back(w);

    rep.environment = collect_environment(pg, facts);
    if (!layout.has_registry())
        rep.layout_note = fmt::format("the {} layout has no chroma2pg registry: the collections were located by the "
                                      "framework's own tables",
                                      layout_name(o.layout));
    if (relation_exists(pg, o.schema, "chroma2pg_runs")) {
        auto r = pg.scalar("SELECT coalesce(json_agg(r), '[]') FROM (SELECT * FROM " + qualified(o.schema, "chroma2pg_runs") +
                           " ORDER BY 1 DESC LIMIT 20) r");
        rep.runs = nlohmann::ordered_json::parse(r.value_or("[]"));
    } else {
        rep.runs_note = "The migration's own throughput figures are not recorded in the database (no " + o.schema +
                        ".chroma2pg_runs table); see the output of `chroma2pg migrate --json`. The registry above "
                        "has when each collection was migrated and its record count.";
    }
    rep.tool_version = std::string(C2P_VERSION) + " (git " + C2P_GIT_REV + ")";
    rep.generated_at = utc_iso8601(std::time(nullptr));
    rep.source_description = src.describe();
    rep.source_details = src.details();
    rep.target_server = pg.describe();
    rep.schema = o.schema;
    rep.layout = layout_name(o.layout);
    rep.langchain_id_prefix = o.langchain_id_prefix;
    rep.queries = o.queries;
    rep.k = o.search.k;
    rep.ef_search = o.search.ef_search;
    rep.min_recall = o.search.min_recall;
    rep.max_listed = o.max_listed;
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    rep.resources = process_resources();
    return rep;
}

} // namespace c2p
