#include <gtest/gtest.h>

#include "target/index_build.hpp"
#include "target/search_settings.hpp"
#include "verify/search_filters.hpp"

using namespace c2p;
using json = nlohmann::ordered_json;

TEST(PgvectorPolicy, ParallelBuildOnlyFrom082) {
    for (const char *v : {"0.5.1", "0.7.4", "0.8.0", "0.8.1"}) {
        auto p = pgvector_policy(v);
        EXPECT_TRUE(p.known) << v;
        EXPECT_FALSE(p.parallel_build_safe) << v;
        EXPECT_FALSE(p.vacuum_safe) << v;
        EXPECT_NE(p.verdict.find("0.8.2"), std::string::npos) << p.verdict;
        EXPECT_NE(p.verdict.find("issue 959"), std::string::npos) << p.verdict;
    }
    auto at = pgvector_policy("0.8.2");
    EXPECT_TRUE(at.parallel_build_safe);
    EXPECT_FALSE(at.vacuum_safe);
    EXPECT_NE(at.verdict.find("0.8.3"), std::string::npos) << at.verdict;
    EXPECT_EQ(at.verdict.find("issue 959"), std::string::npos) << at.verdict;
    for (const char *v : {"0.8.3", "0.8.6", "0.9.0", "1.0.0", "0.10.1"}) {
        auto p = pgvector_policy(v);
        EXPECT_TRUE(p.parallel_build_safe && p.vacuum_safe && p.iterative_scan) << v;
        EXPECT_TRUE(p.to_json()["ok"].get<bool>()) << v;
    }
    EXPECT_FALSE(pgvector_policy("0.7.4").iterative_scan);
    EXPECT_TRUE(pgvector_policy("0.8.0").iterative_scan);
    auto odd = pgvector_policy("dev");
    EXPECT_FALSE(odd.known);
    EXPECT_TRUE(odd.parallel_build_safe);
}

TEST(PgvectorPolicy, BuildWithoutWorkersBelow082) {
    IndexOptions idx;
    apply_pgvector_policy("0.8.1", idx);
    EXPECT_FALSE(idx.parallel_build);
    IndexOptions ok;
    apply_pgvector_policy("0.8.2", ok);
    EXPECT_TRUE(ok.parallel_build);
    IndexOptions ivf;
    ivf.method = IndexMethod::ivfflat; // the overflow is in HNSW builds
    apply_pgvector_policy("0.7.0", ivf);
    EXPECT_TRUE(ivf.parallel_build);
}

TEST(IndexBuilds, OneAtATimeWhereParallelBuildsAreSafe) {
    IndexOptions idx; // parallel_build: the policy allowed it
    EXPECT_EQ(choose_index_builds(0, idx, "0.8.7", 2, 4).builds, 1);
    EXPECT_TRUE(choose_index_builds(0, idx, "0.8.7", 2, 4).why.empty());
}

TEST(IndexBuilds, SideBySideBelow082) {
    IndexOptions idx;
    apply_pgvector_policy("0.8.0", idx);
    auto b = choose_index_builds(0, idx, "0.8.0", 2, 4);
    EXPECT_EQ(b.builds, 3); // a parallel build's processes: leader + 2 workers
    EXPECT_NE(b.why.find("pgvector 0.8.0"), std::string::npos) << b.why;
    EXPECT_EQ(choose_index_builds(0, idx, "0.8.0", 2, 2).builds, 2);   // no more than the collections left
    EXPECT_EQ(choose_index_builds(0, idx, "0.8.0", 2, 4, 2).builds, 2); // nor than a local server's cores
    EXPECT_NE(choose_index_builds(0, idx, "0.8.0", 2, 4, 2).why.find("at most its 2 cores"), std::string::npos);
    EXPECT_EQ(choose_index_builds(0, idx, "0.8.0", 2, 4, 1).builds, 1); // one core: one at a time
    EXPECT_EQ(choose_index_builds(0, idx, "0.8.0", 8, 4, 16).builds, 4);
    EXPECT_EQ(choose_index_builds(0, idx, "0.8.0", 2, 1).builds, 1);   // one collection: nothing beside it
    EXPECT_EQ(choose_index_builds(0, idx, "0.8.0", 0, 4).builds, 1);   // the server allows no parallelism
    idx.method = IndexMethod::ivfflat;                                  // builds in parallel safely
    EXPECT_EQ(choose_index_builds(0, idx, "0.8.0", 2, 4).builds, 1);
}

TEST(IndexBuilds, RequestedWins) {
    IndexOptions idx;
    EXPECT_EQ(choose_index_builds(2, idx, "0.8.7", 2, 4).builds, 2);
    EXPECT_EQ(choose_index_builds(8, idx, "0.8.7", 2, 3).builds, 3);
    EXPECT_EQ(choose_index_builds(1, idx, "0.8.0", 2, 4).builds, 1);
    EXPECT_NE(choose_index_builds(2, idx, "0.8.7", 2, 4).why.find("--index-builds 2"), std::string::npos);
}

TEST(SearchSettings, ChromaParamsFromEveryEra) {
    CollectionInfo v1;
    v1.configuration = json::parse(R"({"hnsw":{"space":"cosine","ef_search":250,"max_neighbors":32,"ef_construction":200}})");
    auto p = chroma_hnsw_params(v1);
    EXPECT_EQ(p.ef_search, 250);
    EXPECT_EQ(p.m, 32);
    EXPECT_EQ(p.ef_construction, 200);
    EXPECT_TRUE(p.ef_search_given);
    CollectionInfo v05;
    v05.configuration = json::parse(R"({"hnsw_configuration":{"ef_search":60,"M":8}})");
    EXPECT_EQ(chroma_hnsw_params(v05).ef_search, 60);
    EXPECT_EQ(chroma_hnsw_params(v05).m, 8);
    CollectionInfo legacy;
    legacy.metadata = json::parse(R"({"hnsw:search_ef":150,"hnsw:space":"l2"})");
    EXPECT_EQ(chroma_hnsw_params(legacy).ef_search, 150);
    CollectionInfo none;
    auto d = chroma_hnsw_params(none);
    EXPECT_EQ(d.ef_search, 100);
    EXPECT_EQ(d.m, 16);
    EXPECT_EQ(d.ef_construction, 100);
    EXPECT_FALSE(d.ef_search_given);
}

TEST(SearchSettings, LargestEfSearchWinsAndIsNamed) {
    CollectionInfo a, b, c;
    a.name = "a";
    b.name = "b";
    b.configuration = json::parse(R"({"hnsw":{"ef_search":300}})");
    c.name = "c";
    c.configuration = json::parse(R"({"hnsw":{"ef_search":50}})");
    auto s = choose_search_settings({a, b, c}, false, 0);
    EXPECT_EQ(s.hnsw_ef_search, 300);
    EXPECT_EQ(s.ef_search_from, "collection 'b'");
    EXPECT_EQ(choose_search_settings({a, c}, false, 0).ef_search_from, "Chroma's default");
    EXPECT_EQ(choose_search_settings({a, c}, false, 0).hnsw_ef_search, 100);
    auto sql = search_settings_sql("rag", "", s);
    ASSERT_EQ(sql.size(), 2u);
    EXPECT_EQ(sql[0], "ALTER DATABASE \"rag\" SET hnsw.ef_search = '300'");
    EXPECT_EQ(sql[1], "ALTER DATABASE \"rag\" SET hnsw.iterative_scan = 'relaxed_order'");
    auto ivf = choose_search_settings({a}, true, 100);
    EXPECT_EQ(ivf.ivfflat_probes, 10);
    auto role_sql = search_settings_sql("rag", "app", ivf);
    ASSERT_EQ(role_sql.size(), 4u);
    EXPECT_EQ(role_sql[2], "ALTER ROLE \"app\" IN DATABASE \"rag\" SET ivfflat.probes = '10'");
    EXPECT_EQ(role_sql[3], "ALTER ROLE \"app\" IN DATABASE \"rag\" SET ivfflat.iterative_scan = 'relaxed_order'");
}

TEST(SearchFilters, PicksValuesNearFivePercent) {
    std::vector<MetadataValueCount> counts = {
        {"bucket", "number", "3", 50},     {"bucket", "number", "4", 50},   {"lang", "string", "\"en\"", 700},
        {"lang", "string", "\"de\"", 40},  {"lang", "string", "\"fr\"", 5}, {"flag", "boolean", "true", 300},
        {"flag", "boolean", "false", 700}, {"_chroma_uri", "string", "\"x\"", 50},
    };
    auto f = pick_equality_filters(counts, 1000, "metadata");
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[0].kind, "string equality");
    EXPECT_EQ(f[0].sql, "metadata->>'lang' = 'de'");
    EXPECT_EQ(f[0].where, json::parse(R"({"lang":"de"})"));
    EXPECT_EQ(f[1].kind, "numeric equality");
    EXPECT_EQ(f[1].where, json::parse(R"({"bucket":3})"));
    EXPECT_EQ(f[1].sql, "metadata->>'bucket' = '3'");
    EXPECT_EQ(f[2].kind, "bool equality");
    EXPECT_EQ(f[2].where, json::parse(R"({"flag":true})"));
    EXPECT_DOUBLE_EQ(f[2].selectivity, 0.3);
    EXPECT_TRUE(pick_equality_filters(counts, 0, "metadata").empty());
}

TEST(IndexBuild, ProgressLine) {
    EXPECT_EQ(describe_index_progress("building index: loading tuples", 25000, 50000, 10.0),
              "building index: loading tuples, 25000 of 50000 tuples (50%), ETA 10 s");
    EXPECT_EQ(describe_index_progress("", 0, 0, 1.0), "starting");
}

TEST(IndexOptions, ChromaHnswParamsUnlessGiven) {
    CollectionInfo c;
    c.name = "c";
    c.space = Space::cosine;
    c.dimension = 8;
    c.configuration = json::parse(R"({"hnsw":{"max_neighbors":32,"ef_construction":200,"ef_search":100}})");
    IndexOptions o;
    EXPECT_NE(create_vector_index_sql("public", "t", "i", c, o, 10).find("WITH (m = 32, ef_construction = 200)"),
              std::string::npos);
    o.hnsw_m = 8;
    o.hnsw_m_given = true;
    auto r = o.for_collection(c);
    EXPECT_EQ(r.hnsw_m, 8);
    EXPECT_EQ(r.hnsw_ef_construction, 200);
    CollectionInfo plain;
    auto d = IndexOptions{}.for_collection(plain);
    EXPECT_EQ(d.hnsw_m, 16);
    EXPECT_EQ(d.hnsw_ef_construction, 100);
}
