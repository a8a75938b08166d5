"""The frameworks' real JS clients (LangChain.js, LlamaIndex TS, Mastra), run through tests/js/query.mjs
against the real PostgreSQL of C2P_PG_URL:

- each client's own round trip: records added through the client come back from its query in the
  order of an exact search computed here, with the distances the client's convention gives;
- each proposed framework layout (tests/js/fixtures/<layout>.sql, written as chroma2pg would write it)
  is read by the client configured only with the client_config of docs/layouts.md, through a role
  that may only SELECT: ids, order, distances, metadata filters (string equality, numeric
  comparison, bool), NULL documents, and the client changes nothing in the tables;
- each store's own nearest-neighbour SQL can use the layout's vector index;
- the Python PGVectorStore layout (pgvectorstore), by replaying the SQL the store issues.

The clients are installed by scripts/install-js-clients.sh (pinned; scripts/setup.sh runs it). A missing
client, node or database fails the test, never skips it."""
import atexit
import json
import math
import os
import random
import re
import select
import subprocess
import tempfile
import unittest
import uuid

import psycopg2

import support as s

JS = os.path.join(s.REPO, "tests", "js")
FIXTURES = os.path.join(JS, "fixtures")
HARNESS = os.path.join(JS, "query.mjs")
NODE = None


def setUpModule():
    global NODE
    if not s.PG_URL:
        raise RuntimeError("test_js_clients needs C2P_PG_URL (run scripts/test.sh)")
    out = subprocess.run([os.path.join(s.REPO, "scripts", "install-js-clients.sh"), "--node"],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError("scripts/install-js-clients.sh failed:\n" + out.stderr)
    NODE = out.stdout.strip().splitlines()[-1]


class _Server:
    """One `query.mjs serve` for the whole module: node and the clients load once (a start costs ~1 s,
    Mastra's most), and every request still opens and closes its own store."""

    def __init__(self):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.p = subprocess.Popen([NODE, HARNESS, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err, text=True)

    def ask(self, request, timeout=300):
        self.p.stdin.write(json.dumps(request) + "\n")
        self.p.stdin.flush()
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        line = self.p.stdout.readline() if ready else ""
        if not line:
            self.close()
            self.err.seek(0)
            raise AssertionError("query.mjs serve %s (exit %s):\n%s"
                                 % ("answered nothing in %d s" % timeout if not ready else "ended", self.p.returncode,
                                    self.err.read()[-5000:]))
        return json.loads(line)

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


_server = None


def harness(mode, client, url, config, **opts):
    """Runs one request through query.mjs serve; returns its output. A failing client fails the test with
    its error."""
    global _server
    if _server is None or _server.p.poll() is not None:
        _server = _Server()
        atexit.register(_server.close)
    answer = _server.ask(dict(opts, mode=mode, client=client, pg=url, config=config))
    if "error" in answer:
        raise AssertionError("query.mjs %s --client %s failed:\n%s" % (mode, client, answer["error"]))
    return answer["ok"]


# Distances as pgvector computes them (float32 storage, double arithmetic).
def cosine(a, b):
    return 1 - sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def euclidean(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def exact(records, query, dist, k, keep=lambda r: True):
    """[(id, distance)] of the k nearest records under dist (ties are avoided by the data)."""
    scored = sorted((dist([s.f32(x) for x in r["embedding"]], query), r["id"]) for r in records if keep(r))
    return [(rid, d) for d, rid in scored[:k]]


def reader_url(testcase, url):
    """A role that may only read the database's tables (what an app's query role needs), as a URL."""
    role = "jsreader_" + uuid.uuid4().hex[:10]
    db = url.rpartition("/")[2]
    s.pg_query(s.PG_URL, "CREATE ROLE %s LOGIN PASSWORD 'reader-pw'" % role)
    s.pg_query(url, "GRANT USAGE ON SCHEMA public TO %s; GRANT SELECT ON ALL TABLES IN SCHEMA public TO %s"
               % (role, role))

    def drop():
        s.pg_query(url, "DROP OWNED BY %s" % role)
        s.pg_query(s.PG_URL, "DROP ROLE %s" % role)
    testcase.addCleanup(drop)
    host = url.partition("@")[2].rpartition("/")[0]
    return "postgresql://%s:reader-pw@%s/%s" % (role, host, db)


def schema_snapshot(url):
    """Columns (name, type, default, nullability) and index definitions of every table of public."""
    conn = psycopg2.connect(url)
    cur = conn.cursor()
    cur.execute("SELECT table_name, column_name, data_type, column_default, is_nullable FROM "
                "information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2")
    cols = cur.fetchall()
    cur.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
    idx = cur.fetchall()
    conn.close()
    return cols, idx


class JsClientCase(unittest.TestCase):
    def assertRanking(self, got, want, score, msg):
        """got: the client's hits; want: [(id, distance)]; score(hit) -> the hit's distance."""
        self.assertEqual([h["id"] for h in got], [rid for rid, _ in want], msg)
        for h, (rid, d) in zip(got, want):
            self.assertAlmostEqual(score(h), d, delta=1e-6, msg="%s: distance of %r" % (msg, rid))


# Each client's score back to a distance (docs/layouts.md, "What each JS client creates and queries").
LANGCHAIN_DISTANCE = lambda h: h["distance"]            # raw pgvector distance, scoreNormalization "distance"
LLAMAINDEX_DISTANCE = lambda h: 1 - h["score"]          # similarity = 1 - (embeddings <=> q)
MASTRA_COSINE_DISTANCE = lambda h: 1 - h["score"]       # score = 1 - (embedding <=> q)
MASTRA_L2_DISTANCE = lambda h: 1 / h["score"] - 1       # score = 1 / (1 + (embedding <-> q))


class ClientRoundTrip(JsClientCase):
    """What each client writes it reads back in exact-search order: the harness drives the real store."""

    @classmethod
    def setUpClass(cls):
        rnd = random.Random(18)
        cls.dim = 8
        cls.records = []
        for i in range(40):
            cls.records.append({
                # LangChain.js and LlamaIndex TS create a uuid id column; Mastra's vector_id is text.
                "id": "00000000-0000-4000-8000-%012d" % i,
                "embedding": [round(rnd.uniform(-1, 1), 4) for _ in range(cls.dim)],
                "document": None if i == 7 else "document %d" % i,
                "metadata": {"lang": ["en", "fr", "de"][i % 3], "n": i, "b": i % 2 == 0},
            })
        cls.queries = [[round(rnd.uniform(-1, 1), 4) for _ in range(cls.dim)] for _ in range(3)]
        cls.url, cls.drop = s.new_database("jsrt")

    @classmethod
    def tearDownClass(cls):
        cls.drop()

    def round_trip(self, client, config, distance, records):
        added = harness("add", client, self.url, config, records=records)
        self.assertEqual(len(added["ids"]), len(records))
        got = harness("query", client, self.url, config, query_vectors=self.queries, k=10)["results"]
        self.assertEqual(len(got), len(self.queries))
        for q, hits in zip(self.queries, got):
            self.assertRanking(hits, exact(records, q, cosine, 10), distance, "%s top-10" % client)
        # The record added without a document is there (a query that finds it first).
        null_doc = [r for r in records if r["document"] is None][0]
        first = harness("query", client, self.url, config, query_vectors=[null_doc["embedding"]], k=1)
        self.assertEqual(first["results"][0][0]["id"], null_doc["id"])
        return first["results"][0][0]

    def test_langchainjs(self):
        hit = self.round_trip("langchainjs", {"tableName": "lc_round_trip", "dimensions": self.dim},
                              LANGCHAIN_DISTANCE, self.records)
        self.assertEqual(hit["document"], "")   # LangChain's Document needs a string: null is given as ""

    def test_llamaindex_ts(self):
        self.round_trip("llamaindex-ts", {"tableName": "li_round_trip", "dimensions": self.dim},
                        LLAMAINDEX_DISTANCE, self.records)

    def test_mastra(self):
        config = {"indexName": "ma_round_trip"}
        harness("create", "mastra", self.url, config, dimension=str(self.dim), metric="cosine")
        # Mastra's ids are text: Chroma ids as they are.
        records = [dict(r, id="chroma id %d/ü" % i) for i, r in enumerate(self.records)]
        self.round_trip("mastra", config, MASTRA_COSINE_DISTANCE, records)
        desc = harness("describe", "mastra", self.url, config)
        self.assertIn("ma_round_trip", desc["indexes"])
        self.assertEqual((desc["describe"]["metric"], desc["describe"]["dimension"], desc["describe"]["count"]),
                         ("cosine", self.dim, len(records)))


def load_fixture(layout):
    path = os.path.join(FIXTURES, layout + ".sql")
    if not os.path.isfile(path):
        raise AssertionError("fixture %s is missing" % path)
    url, drop = s.new_database("jsfx")
    try:
        conn = psycopg2.connect(url)
        conn.autocommit = True
        with open(path) as f:
            conn.cursor().execute(f.read())
        conn.close()
    except Exception:
        drop()
        raise
    return url, drop


with open(os.path.join(FIXTURES, "records.json")) as _f:
    FIXTURE = json.load(_f)
RECORDS = FIXTURE["records"]
QUERIES = FIXTURE["queries"]
NULL_DOC_ID = "doc-3"
# The filters of the issue, as a predicate on the Chroma metadata and as each client spells them.
FILTERS = [
    ("string equality", lambda m: m.get("lang") == "en",
     {"langchainjs": {"lang": "en"},
      "llamaindex-ts": {"filters": [{"key": "lang", "value": "en", "operator": "=="}]},
      "mastra": {"lang": {"$eq": "en"}}}),
    ("numeric comparison", lambda m: isinstance(m.get("n"), int) and m["n"] > 2,
     {"langchainjs": {"n": {"gt": 2}},
      "llamaindex-ts": {"filters": [{"key": "n", "value": 2, "operator": ">"}]},
      "mastra": {"n": {"$gt": 2}}}),
    ("bool", lambda m: m.get("b") is True,
     {"langchainjs": {"b": True},
      "llamaindex-ts": {"filters": [{"key": "b", "value": True, "operator": "=="}]},
      "mastra": {"b": {"$eq": True}}}),
]


def stored_metadata(r, null_marker=False, text_key=None):
    """The metadata a proposed layout stores for the Chroma record r: its own, the uri as
    "_chroma_uri", and the document as the null marker or under text_key, as the layout does."""
    meta = dict(r["metadata"] or {})
    if null_marker and r["document"] is None:
        meta["_chroma_document_null"] = True
    if text_key and r["document"] is not None:
        meta[text_key] = r["document"]
    if r["uri"]:
        meta["_chroma_uri"] = r["uri"]
    return meta


class ProposedLayouts(JsClientCase):
    """The hand-written fixtures of the proposed layouts, read by the real clients with only client_config."""

    def read(self, layout, config, dist, distance, expect_hit, names_only):
        """Reads the fixture through a role that may only SELECT, with the proposed client_config
        `config`; then once as the owner with `names_only` (the client's DDL runs and changes nothing)."""
        owner_url, drop = load_fixture(layout)
        self.addCleanup(drop)
        before = schema_snapshot(owner_url)
        owner = harness("query", layout, owner_url, names_only, query_vectors=QUERIES, k=10)["results"]
        url = reader_url(self, owner_url)
        got = harness("query", layout, url, config, query_vectors=QUERIES, k=10)["results"]
        self.assertEqual(owner, got, "%s: the names-only config reads otherwise" % layout)
        for q, hits in zip(QUERIES, got):
            self.assertRanking(hits, exact(RECORDS, q, dist, 10), distance, "%s unfiltered" % layout)
            by_id = {h["id"]: h for h in hits}
            for r in RECORDS:
                expect_hit(r, by_id[r["id"]])
        for what, keep, spelled in FILTERS:
            hits = harness("query", layout, url, config, query_vectors=QUERIES[:1], k=10,
                           filter=spelled[layout])["results"][0]
            want = exact(RECORDS, QUERIES[0], dist, 10, keep=lambda r: keep(r["metadata"] or {}))
            self.assertTrue(want)
            self.assertRanking(hits, want, distance, "%s filter %s" % (layout, what))
        self.assertEqual(schema_snapshot(owner_url), before, "%s: the client changed the tables" % layout)
        return url

    def test_langchainjs(self):
        def expect(r, hit):
            self.assertEqual(hit["document"], r["document"] or "", r["id"])
            # JSON numbers: 1.0 reads as 1 in JS
            self.assertEqual(hit["metadata"], stored_metadata(r, null_marker=True), r["id"])
        names = {"tableName": "Support.FAQ-v2", "schemaName": "public", "distanceStrategy": "cosine"}
        config = dict(names, skipInitializationCheck=True)
        url = self.read("langchainjs", config, cosine, LANGCHAIN_DISTANCE, expect, dict(names, dimensions=4))
        l2 = dict(config, tableName="Support.FAQ-l2", distanceStrategy="euclidean")
        got = harness("query", "langchainjs", url, l2, query_vectors=QUERIES, k=10)["results"]
        for q, hits in zip(QUERIES, got):
            self.assertRanking(hits, exact(RECORDS, q, euclidean, 10), LANGCHAIN_DISTANCE, "langchainjs l2")

    def test_llamaindex_ts(self):
        def expect(r, hit):
            self.assertEqual(hit["document"], r["document"] or "", r["id"])   # NULL comes back as ""
            self.assertEqual(hit["metadata"], stored_metadata(r), r["id"])
        names = {"schemaName": "public", "tableName": "support_faq_v2", "dimensions": 4}
        url = self.read("llamaindex-ts", dict(names, performSetup=False), cosine, LLAMAINDEX_DISTANCE, expect, names)
        self.assertEqual(s.pg_query(url, "SELECT document IS NULL FROM support_faq_v2 WHERE id = %s",
                                    (NULL_DOC_ID,)), [(True,)])

    def test_mastra(self):
        def expect(r, hit):
            self.assertEqual(hit["metadata"], stored_metadata(r, text_key="text"), r["id"])
        config = {"indexName": "support_faq_v2"}
        url = self.read("mastra", config, cosine, MASTRA_COSINE_DISTANCE, expect, config)
        desc = harness("describe", "mastra", url, {"indexName": "support_faq_v2"})
        self.assertEqual(sorted(desc["indexes"]), ["support_faq_l2", "support_faq_v2"])
        self.assertEqual({k: desc["describe"][k] for k in ("metric", "type", "dimension", "count")},
                         {"metric": "cosine", "type": "hnsw", "dimension": 4, "count": len(RECORDS)})
        l2 = harness("describe", "mastra", url, {"indexName": "support_faq_l2"})["describe"]
        self.assertEqual((l2["metric"], l2["type"]), ("euclidean", "hnsw"))
        got = harness("query", "mastra", url, {"indexName": "support_faq_l2"}, query_vectors=QUERIES, k=10)["results"]
        for q, hits in zip(QUERIES, got):
            self.assertRanking(hits, exact(RECORDS, q, euclidean, 10), MASTRA_L2_DISTANCE, "mastra l2")


# The nearest-neighbour SQL each store issues (JS: captured with log_statement = all; Python
# PGVectorStore: langchain_postgres/v2/async_vectorstore.py at 0.0.17, commit 2948fbe), and the index
# of the proposed layout it must be able to use.
INDEX_USE = {
    "langchainjs": ('SELECT *, "embedding" <=> %(q)s as "_distance" FROM "public"."Support.FAQ-v2" '
                    'ORDER BY "_distance" ASC LIMIT 10', "Support.FAQ-v2_embedding_idx"),
    "llamaindex-ts": ("SELECT v.*, embeddings <=> %(q)s s FROM public.support_faq_v2 v "
                      "WHERE collection = 'data' ORDER BY s LIMIT 10", "support_faq_v2_embeddings_idx"),
    "mastra": ("SELECT vector_id as id, 1 - (embedding <=> %(q)s::public.vector) as score, metadata "
               "FROM \"support_faq_v2\" WHERE namespace = 'default' "
               "ORDER BY embedding <=> %(q)s::public.vector LIMIT 10", "support_faq_v2_vector_idx"),
    "pgvectorstore": ('SELECT "langchain_id", "content", "embedding", "langchain_metadata", '
                      'cosine_distance("embedding", %(q)s) as distance FROM "public"."Support.FAQ-v2" '
                      'ORDER BY "embedding" <=> %(q)s LIMIT 10', "Support.FAQ-v2langchainvectorindex"),
}


class IndexUse(unittest.TestCase):
    """Each store's own query can use the vector index of its proposed layout (the planner is told
    not to scan: 6 rows would not otherwise show it)."""

    def test_each_layout(self):
        for layout, (sql, index) in INDEX_USE.items():
            with self.subTest(layout=layout):
                url, drop = load_fixture(layout)
                self.addCleanup(drop)
                conn = psycopg2.connect(url)
                cur = conn.cursor()
                cur.execute("SET enable_seqscan = off")
                cur.execute("EXPLAIN (COSTS OFF) " + sql, {"q": str(QUERIES[0])})
                plan = "\n".join(r[0] for r in cur.fetchall())
                conn.close()
                self.assertRegex(plan, 'Index Scan using "?%s"? ' % re.escape(index))


class PgVectorStoreReplay(JsClientCase):
    """Python langchain-postgres PGVectorStore (no Python registry here): the SQL it issues for
    similarity_search_with_score_by_vector(q, k, filter), replayed from its source (0.0.17, commit
    2948fbe: __query_collection and _handle_field_filter), on the proposed pgvectorstore fixture."""
    SQL = ('SELECT "langchain_id", "content", "embedding", "langchain_metadata", '
           'cosine_distance("embedding", %(q)s) as distance FROM "public"."Support.FAQ-v2" {where} '
           'ORDER BY "embedding" <=> %(q)s LIMIT %(k)s;')
    # filter → WHERE as the store writes it: a str value compares ->> as text, others cast to the
    # value's Python type (int → INTEGER, float → FLOAT, bool → BOOLEAN).
    FILTERS = {
        "string equality": ("WHERE langchain_metadata->>'lang' = %(v)s", "en"),
        "numeric comparison": ("WHERE (langchain_metadata->>'n')::INTEGER > %(v)s", 2),
        "bool": ("WHERE (langchain_metadata->>'b')::BOOLEAN = %(v)s", True),
    }

    def search(self, url, query, where="", value=None):
        conn = psycopg2.connect(url)
        cur = conn.cursor()
        # The store passes the vector as str([float(x) for x in embedding]).
        cur.execute(self.SQL.format(where=where), {"q": str([float(x) for x in query]), "k": 10, "v": value})
        rows = cur.fetchall()
        conn.close()
        # Document(page_content=content, metadata=langchain_metadata or {}, id=str(langchain_id))
        return [{"id": str(r[0]), "document": r[1], "metadata": r[3] or {}, "distance": r[4]} for r in rows]

    def test_replay(self):
        url, drop = load_fixture("pgvectorstore")
        self.addCleanup(drop)
        for q in QUERIES:
            hits = self.search(url, q)
            self.assertRanking(hits, exact(RECORDS, q, cosine, 10), LANGCHAIN_DISTANCE, "pgvectorstore")
            for r in RECORDS:
                hit = [h for h in hits if h["id"] == r["id"]][0]
                self.assertEqual(hit["document"], r["document"] or "", r["id"])
                # 1.0 stays a float
                self.assertTrue(s.json_types_equal(hit["metadata"], stored_metadata(r, null_marker=True)), r["id"])
        for what, keep, _ in FILTERS:
            where, value = self.FILTERS[what]
            want = exact(RECORDS, QUERIES[0], cosine, 10, keep=lambda r: keep(r["metadata"] or {}))
            self.assertRanking(self.search(url, QUERIES[0], where, value), want, LANGCHAIN_DISTANCE,
                               "pgvectorstore filter %s" % what)


if __name__ == "__main__":
    unittest.main()
