"""--layout langchain|llamaindex against a real Chroma server and real PostgreSQL: the framework's own
similarity-search SQL (transcribed from langchain-postgres PGVector and LlamaIndex PGVectorStore) must
return Chroma's top-k, rows must hold exact ids/documents/metadata, and 3,072 dimensions index via halfvec."""
import json
import math
import random
import shutil
import struct
import tempfile
import unittest
import uuid

import support as s

NULL_KEY = "_chroma_document_null"
URI_KEY = "_chroma_uri"
API = s.API


def vec_text(v):
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def chroma_query(chroma, cid, q, k, where):
    r = chroma.call("POST", API + "/collections/%s/query" % cid,
                    {"query_embeddings": [q], "n_results": k, "where": where, "include": ["distances"]})
    return r["ids"][0]


def normalised(vs):
    out = []
    for v in vs:
        n = math.sqrt(sum(x * x for x in v))
        out.append([s.f32(x / n) for x in v])
    return out


def split_meta(meta_text):
    """(chroma metadata or None, document_was_null, uri) from a framework metadata column."""
    m = None if meta_text is None else json.loads(meta_text)
    was_null, uri = False, None
    if m is not None and NULL_KEY in m:
        was_null = m.pop(NULL_KEY) is True
    if m is not None and URI_KEY in m:
        uri = m.pop(URI_KEY)
    return m or None, was_null, uri


class LayoutBase(unittest.TestCase):
    layout = None
    specs = []  # (name, space, dim, n, normalise)

    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        cls.tag = uuid.uuid4().hex[:8]
        cls.cols = {}
        for i, (name, space, dim, n, norm) in enumerate(cls.specs):
            name = name + "-" + cls.tag
            col = cls.chroma.create_collection(name, metadata={"team": "lay", "v": 2, "r": 0.5}, space=space)
            ids, embs, docs, metas, uris = s.varied_records(n, dim, seed=31 + i, prefix="k%d" % i)
            if norm:
                embs = normalised(embs)
            cls.chroma.add(col["id"], ids, embs, docs, metas, uris)
            cls.cols[name] = (col, space, embs, ids, metas)
        cls.url, cls.drop = s.new_database(cls.layout[:5])
        cls.result = s.run_json("migrate", "--from", s.CHROMA_URL, "--to", cls.url, "--layout", cls.layout,
                                "--collections", ",".join(cls.cols))

    @classmethod
    def tearDownClass(cls):
        for name in getattr(cls, "cols", {}):
            cls.chroma.delete_collection(name)
        if hasattr(cls, "drop"):
            cls.drop()

    def check_rows(self, name, got):
        """got: {id: (embedding floats, text, metadata json text)}."""
        want = s.as_records(self.chroma.get_all(self.cols[name][0]["id"]))
        self.assertEqual(set(got), set(want))
        nulls = uris = 0
        for rid, (emb, doc, uri, meta) in want.items():
            g_emb, g_doc, g_meta = got[rid]
            s.assert_f32_equal(self, g_emb, emb, rid)
            m, was_null, g_uri = split_meta(g_meta)
            self.assertEqual(was_null, doc is None, rid)
            self.assertEqual(g_doc, "" if doc is None else doc, rid)
            self.assertEqual(g_uri, uri, rid)
            nulls += was_null
            uris += uri is not None
            self.assertTrue(s.json_types_equal(m, meta or None), "%s: %r != %r" % (rid, m, meta))
        self.assertGreater(nulls, 0)
        self.assertGreater(uris, 0)

    def queries(self, name, want_meta):
        """A few stored vectors (slightly moved) whose record passes the filter."""
        col, space, embs, ids, metas = self.cols[name]
        rng = random.Random(5)
        picks = [i for i, m in enumerate(metas) if m and want_meta(m)][:40:8]
        out = []
        for i in picks:
            q = [s.f32(x + rng.gauss(0, 0.01)) for x in embs[i]]
            out.append(normalised([q])[0] if self.cols[name][1] != "cosine" and self.specs_norm(name) else q)
        return out

    def specs_norm(self, name):
        return any(name.startswith(n + "-") and norm for n, _, _, _, norm in self.specs)

    def check_verify_bench(self, table):
        """verify --bench benchmarks the layout's own table as its client queries it: the largest
        collection's rows only (a shared table holds the others too), through the vector index."""
        p = s.run("--json", "verify", "--from", s.CHROMA_URL, "--to", self.url, "--layout", self.layout,
                  "--collections", ",".join(self.cols), "--queries", "20", "--bench", check=0)
        r = json.loads(p.stdout)
        largest = max(self.cols, key=lambda n: len(self.cols[n][3]))
        b = r["bench"]
        self.assertEqual(b["collection"], largest)
        self.assertEqual(b["table"], "public." + table(largest))
        self.assertEqual(b["rows"], len(self.cols[largest][3]))
        self.assertEqual(len(b["search"]), 1)
        self.assertTrue(b["search"][0]["index_used"], b["search"][0])
        self.assertGreater(b["search"][0]["recall_at_k"], 0.8)
        self.assertTrue(all(run["queries"] > 0 for run in b["search"][0]["runs"]), b["search"][0]["runs"])
        self.assertFalse([w for w in r["warnings"] if "bench" in w], r["warnings"])


class LangchainLayout(LayoutBase):
    layout = "langchain"
    specs = [("lc-cos", "cosine", 32, 400, False), ("lc-l2", "l2", 32, 300, False)]  # one dimension per table

    def test_rows_exact(self):
        for name, (col, *_rest) in self.cols.items():
            rows = s.pg_query(self.url, "SELECT e.id, e.embedding::real[], e.document, e.cmetadata::text FROM "
                                        "langchain_pg_embedding e JOIN langchain_pg_collection c ON "
                                        "c.uuid = e.collection_id WHERE c.name = %s", (name,))
            self.check_rows(name, {r[0]: (list(r[1]), r[2], r[3]) for r in rows})
            c = s.pg_query(self.url, "SELECT uuid::text, cmetadata::text FROM langchain_pg_collection WHERE name = %s",
                           (name,))
            self.assertEqual(c[0][0], col["id"])
            self.assertTrue(s.json_types_equal(json.loads(c[0][1]), {"team": "lay", "v": 2, "r": 0.5}))

    def test_verify_bench(self):
        self.check_verify_bench(lambda name: "langchain_pg_embedding")

    def test_schema_as_langchain_creates_it(self):
        cols = s.pg_query(self.url, "SELECT table_name, column_name, data_type, is_nullable FROM "
                                    "information_schema.columns WHERE table_name LIKE 'langchain_pg_%' "
                                    "ORDER BY table_name, ordinal_position")
        self.assertEqual([(t, c, n) for t, c, _, n in cols], [
            ("langchain_pg_collection", "uuid", "NO"), ("langchain_pg_collection", "name", "NO"),
            ("langchain_pg_collection", "cmetadata", "YES"),
            ("langchain_pg_embedding", "id", "NO"), ("langchain_pg_embedding", "collection_id", "YES"),
            ("langchain_pg_embedding", "embedding", "YES"), ("langchain_pg_embedding", "document", "YES"),
            ("langchain_pg_embedding", "cmetadata", "YES")])
        idx = dict(s.pg_query(self.url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                                        "'langchain_pg_embedding'"))
        self.assertIn("gin (cmetadata jsonb_path_ops)", idx["ix_cmetadata_gin"])
        for name, (col, space, *_r) in self.cols.items():
            d = idx["ix_c2p_%s_embedding" % col["id"].replace("-", "")]
            self.assertIn("hnsw (embedding vector_%s_ops)" % space, d)
            self.assertIn(col["id"], d)

    def test_framework_query_matches_chroma(self):
        # PGVector.__query_collection with filter {"b": {"$eq": True}} (jsonb mode), as SQLAlchemy renders it.
        for name, (col, space, *_r) in self.cols.items():
            op = {"cosine": "<=>", "l2": "<->"}[space]
            sql = ("SELECT langchain_pg_embedding.id, langchain_pg_embedding.collection_id, "
                   "langchain_pg_embedding.embedding, langchain_pg_embedding.document, langchain_pg_embedding.cmetadata, "
                   "langchain_pg_embedding.embedding " + op + " %(q)s AS distance FROM langchain_pg_embedding "
                   "JOIN langchain_pg_collection ON langchain_pg_embedding.collection_id = langchain_pg_collection.uuid "
                   "WHERE langchain_pg_embedding.collection_id = %(c)s::UUID AND "
                   "jsonb_path_match(langchain_pg_embedding.cmetadata, CAST('$.b == $value' AS JSONPATH), "
                   "CAST(%(v)s AS JSONB)) ORDER BY distance ASC LIMIT %(k)s")
            qs = self.queries(name, lambda m: m.get("b") is True)
            self.assertGreaterEqual(len(qs), 3)
            for q in qs:
                got = [r[0] for r in s.pg_query(self.url, sql, {"q": vec_text(q), "c": col["id"],
                                                               "v": json.dumps({"value": True}), "k": 5})]
                self.assertEqual(got, chroma_query(self.chroma, col["id"], q, 5, {"b": True}), name)
            # The partial HNSW index serves the framework's query as written (seq scans off: the tables are small).
            plan = "\n".join(r[0] for r in s.pg_query(self.url, "SET enable_seqscan = off; EXPLAIN " + sql, {
                "q": vec_text(qs[0]), "c": col["id"], "v": json.dumps({"value": True}), "k": 5}))
            self.assertIn("ix_c2p_", plan)


class LangchainCollisions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        tag = uuid.uuid4().hex[:8]
        cls.names = ["dup-a-" + tag, "dup-b-" + tag]
        for j, name in enumerate(cls.names):
            col = cls.chroma.create_collection(name, space="cosine")
            ids = ["same-%02d" % i for i in range(7)] + ["own%d-%02d" % (j, i) for i in range(20)]
            embs = s.clustered_vectors(len(ids), 8, centres=3, seed=j)
            cls.chroma.add(col["id"], ids, embs, ["d%d" % i for i in range(len(ids))])
        cls.url, cls.drop = s.new_database("lcdup")

    @classmethod
    def tearDownClass(cls):
        for n in getattr(cls, "names", []):
            cls.chroma.delete_collection(n)
        if hasattr(cls, "drop"):
            cls.drop()

    def test_collision_is_refused_then_prefix_is_lossless(self):
        p = s.run("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--layout", "langchain",
                  "--collections", ",".join(self.names))
        self.assertEqual(p.returncode, 1, p.stderr)
        for n in self.names:
            self.assertIn(n, p.stderr)
        self.assertIn("7 id(s)", p.stderr)
        self.assertIn("'same-00'", p.stderr)
        self.assertIn("--langchain-id-prefix", p.stderr)
        # The colliding collection wrote nothing: the run can be redone with the prefix.
        per = dict(s.pg_query(self.url, "SELECT c.name, count(e.id) FROM langchain_pg_collection c LEFT JOIN "
                                        "langchain_pg_embedding e ON e.collection_id = c.uuid GROUP BY c.name"))
        self.assertEqual(len(per), 1)
        self.assertEqual(list(per.values()), [27])
        self.assertIn("--langchain-id-prefix --restart --replace", p.stderr)
        # The run stopped there, resumable: --restart discards it, --replace reloads the one that was done.
        s.run("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--layout", "langchain", "--langchain-id-prefix",
              "--restart", "--replace", "--collections", ",".join(self.names), check=0)
        rows = s.pg_query(self.url, "SELECT c.name, e.id FROM langchain_pg_embedding e JOIN langchain_pg_collection c "
                                    "ON c.uuid = e.collection_id")
        self.assertEqual(len(rows), 54)
        for name, rid in rows:
            coll, _, orig = rid.partition(":")
            self.assertEqual(coll, name)
            self.assertTrue(orig.startswith("same-") or orig.startswith("own"))


class LlamaindexLayout(LayoutBase):
    layout = "llamaindex"
    specs = [("li-cos", "cosine", 48, 400, False), ("li-l2", "l2", 24, 300, True)]

    def table(self, name):
        return "data_" + name.lower()

    def test_rows_exact(self):
        for name in self.cols:
            rows = s.pg_query(self.url, 'SELECT node_id, embedding::real[], text, metadata_::text FROM "%s"' %
                              self.table(name))
            self.check_rows(name, {r[0]: (list(r[1]), r[2], r[3]) for r in rows})

    def test_schema_as_llamaindex_creates_it(self):
        for name in self.cols:
            t = self.table(name)
            cols = s.pg_query(self.url, "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
                                        "WHERE table_name = %s ORDER BY ordinal_position", (t,))
            self.assertEqual([c[0] for c in cols], ["id", "text", "metadata_", "node_id", "embedding"])
            self.assertEqual(cols[1][1], "NO")
            self.assertIn("nextval", cols[0][2])
            idx = dict(s.pg_query(self.url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", (t,)))
            self.assertIn("hnsw (embedding vector_cosine_ops)", idx[t + "_embedding_idx"])
            self.assertIn("ref_doc_id", idx[name.lower() + "_idx_1"])

    def test_verify_bench(self):
        self.check_verify_bench(self.table)

    def test_framework_query_matches_chroma(self):
        # PGVectorStore._build_query + a MetadataFilter(key="s", value=<str>, operator=EQ): a string value
        # is not a float, so it renders `metadata_->>'s' = '<value>'`; cosine distance always.
        for name, (col, space, embs, ids, metas) in self.cols.items():
            target = metas[[i for i, m in enumerate(metas) if m][0]]["s"]
            sql = ('SELECT "%s".id, "%s".node_id, "%s".text, "%s".metadata_, "%s".embedding <=> %%(q)s AS distance '
                   'FROM "%s" WHERE metadata_->>\'s\' = %%(v)s ORDER BY distance asc LIMIT %%(k)s') % ((self.table(name),) * 6)
            qs = self.queries(name, lambda m: m.get("s") == target)
            self.assertGreaterEqual(len(qs), 3)
            for q in qs:
                # PGVectorStore runs SET hnsw.ef_search first when hnsw_kwargs are given.
                got = [r[1] for r in s.pg_query(self.url, "SET hnsw.ef_search = 100; " + sql,
                                                {"q": vec_text(q), "v": target, "k": 5})]
                self.assertEqual(got, chroma_query(self.chroma, col["id"], q, 5, {"s": target}), name)


class HalfvecBeyond2000(unittest.TestCase):
    """3,072 dimensions: full-precision vector column, HNSW expression index through halfvec, recall >= 0.95."""
    dim, n = 3072, 2000

    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        # Written by a private server, then read from its directory: wide vectors through the server's JSON
        # cost seconds per migration and verify, and what is tested here is the target's halfvec index.
        cls.server = s.ChromaServer()
        chroma = s.Chroma(cls.server.url)
        cls.name = "wide3072-" + uuid.uuid4().hex[:8]
        col = chroma.create_collection(cls.name, space="cosine")
        cls.cid = col["id"]
        rng = random.Random(3)
        centres = [[rng.gauss(0, 1) for _ in range(cls.dim)] for _ in range(100)]
        cls.embs = [[s.f32(x + rng.gauss(0, 0.3)) for x in centres[i % 100]] for i in range(cls.n)]
        ids = ["w%05d" % i for i in range(cls.n)]
        chroma.add(cls.cid, ids, cls.embs, ["doc %d" % i for i in range(cls.n)],
                   [{"i": i, "even": i % 2 == 0} for i in range(cls.n)])
        cls.server.stop()
        cls.source = cls.server.dir
        cls.dbs = {}
        for layout in ("native", "langchain", "llamaindex"):
            url, drop = s.new_database("hv" + layout[:4])
            cls.dbs[layout] = (url, drop)
            s.run("migrate", "--from", cls.source, "--to", url, "--layout", layout, "--collections", cls.name,
                  check=0)

    @classmethod
    def tearDownClass(cls):
        for _, drop in getattr(cls, "dbs", {}).values():
            drop()
        if hasattr(cls, "server"):
            cls.server.stop()
            shutil.rmtree(cls.server.tmp, ignore_errors=True)

    def where(self, layout):
        url = self.dbs[layout][0]
        if layout == "native":
            t = s.pg_query(url, "SELECT table_name FROM chroma_collections WHERE name = %s", (self.name,))[0][0]
            return url, t, "id", ""
        if layout == "langchain":
            return url, "langchain_pg_embedding", "id", "collection_id = '%s'::uuid" % self.cid
        return url, "data_" + self.name.lower(), "node_id", ""

    def test_indexed_through_halfvec_with_recall(self):
        rng = random.Random(9)
        qs = [[s.f32(x + rng.gauss(0, 0.1)) for x in self.embs[rng.randrange(self.n)]] for _ in range(25)]
        cast = "halfvec(%d)" % self.dim
        # The exact top 10 once, from the native table (every layout holds the same vectors; an exact scan
        # detoasts all 2,000 of 12 KB each): each layout's index is measured against it.
        url, table, idcol, _ = self.where("native")
        exact = 'SET enable_indexscan = off; SELECT %s FROM "%s" ORDER BY embedding <=> %%(q)s::vector LIMIT 10' % (
            idcol, table)
        want = [{r[0] for r in s.pg_query(url, exact, {"q": vec_text(q)})} for q in qs]
        self.assertEqual([len(e) for e in want], [10] * len(qs))
        for layout in self.dbs:
            with self.subTest(layout=layout):
                url, table, idcol, filt = self.where(layout)
                coltype = s.pg_query(url, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                                          "%s::regclass AND attname = 'embedding'", ('"%s"' % table,))[0][0]
                self.assertEqual(coltype, "vector(%d)" % self.dim)  # full precision kept
                defs = [r[0] for r in s.pg_query(url, "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (table,))]
                self.assertTrue(any("hnsw" in d and "::halfvec(%d)" % self.dim in d and "halfvec_cosine_ops" in d
                                    for d in defs), defs)
                w = (" WHERE " + filt) if filt else ""
                ann = ('SELECT %s FROM "%s"%s ORDER BY (embedding::%s) <=> %%(q)s::%s LIMIT 10' %
                       (idcol, table, w, cast, cast))
                # Seq scans off: the recall measured is the index's, not an exact scan's.
                ann = "SET enable_seqscan = off; " + ann
                plan = "\n".join(r[0] for r in s.pg_query(url, ann.replace("; SELECT", "; EXPLAIN SELECT"),
                                                          {"q": vec_text(qs[0])}))
                self.assertIn("Index Scan", plan)
                hits = 0
                for q, e in zip(qs, want):
                    a = {r[0] for r in s.pg_query(url, ann, {"q": vec_text(q)})}
                    hits += len(a & e)
                recall = hits / (10.0 * len(qs))
                self.assertGreaterEqual(recall, 0.95, "%s recall@10 %.3f" % (layout, recall))

    def test_verify_passes_through_the_expression_index(self):
        for layout, (url, _) in self.dbs.items():
            with self.subTest(layout=layout):
                p, r = verify_layout(url, layout, [self.name], check=0, queries=10, source=self.source)
                c = r["collections"][0]
                self.assertEqual(c["completeness"]["matching"], self.n)
                self.assertIn("::halfvec(%d)" % self.dim, c["schema"]["index"]["definition"])
                self.assertEqual(c["schema"]["index"]["opclass"], "halfvec_cosine_ops")
                self.assertTrue(c["search"]["index_used"], c["search"])


# ---------------------------------------------------------------- verify and sync of the framework layouts
LAYOUT_SQL = {
    # table SQL (for one collection's rows), id column, document column, metadata column, row filter
    "langchain": ("langchain_pg_embedding", "id", "document", "cmetadata"),
    "llamaindex": (None, "node_id", "text", "metadata_"),
}


def verify_layout(url, layout, names, *extra, check=0, queries=20, source=None):
    p = s.run("--json", "verify", "--from", source or s.CHROMA_URL, "--to", url, "--layout", layout, "--collections",
              ",".join(names), "--queries", str(queries), *extra, check=check)
    return p, json.loads(p.stdout)


class LayoutTarget:
    """SQL names of one collection's rows under a layout."""

    def __init__(self, layout, url, name, cid, id_prefix=False):
        self.layout, self.url, self.name, self.cid = layout, url, name, cid
        table, self.idc, self.docc, self.metac = LAYOUT_SQL[layout]
        # The Chroma id of a row: with --langchain-id-prefix the stored id is "<collection>:<id>".
        self.chroma_id = "substr(id, %d)" % (len(name) + 2) if id_prefix else self.idc
        self.table = '"%s"' % (table or "data_" + name.lower())
        self.filt = "collection_id = '%s'::uuid" % cid if layout == "langchain" else "true"

    def q(self, sql, params=None):
        return s.pg_query(self.url, sql.format(t=self.table, id=self.idc, doc=self.docc, meta=self.metac,
                                               f=self.filt), params)

    def rows(self):
        """{chroma id: (embedding floats, text, metadata json text)}."""
        return {r[0]: (list(r[1]), r[2], r[3]) for r in
                self.q("SELECT %s, embedding::real[], {doc}, {meta}::text FROM {t} WHERE {f}" % self.chroma_id)}

    def xmins(self):
        return dict(self.q("SELECT %s, xmin::text FROM {t} WHERE {f}" % self.chroma_id))


class LayoutVerifyTampering:
    """Mixin: after a real migration `verify --layout X` passes; each tampering is caught and named (exit 1)."""
    layout = None

    @classmethod
    def setUpClass(cls):
        s.own_collection(cls, "vt" + cls.layout[:4], "vt-%s-" % cls.layout[:5], metadata={"k": 1}, space="cosine")
        ids, embs, docs, metas, uris = s.varied_records(300, 16, seed=41, prefix="t")
        cls.chroma.add(cls.cid, ids, embs, docs, metas, uris)
        cls.t = LayoutTarget(cls.layout, cls.url, cls.name, cls.cid)

    @classmethod
    def tearDownClass(cls):
        s.release_own(cls)

    def setUp(self):
        s.run("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--layout", self.layout, "--collections", self.name,
              "--replace", check=0)

    def tampered(self):
        p, r = verify_layout(self.url, self.layout, [self.name], check=1)
        self.assertEqual(r["verdict"], "FAIL")
        c = r["collections"][0]
        self.assertFalse(c["ok"])
        return p, r, c["completeness"]

    def test_untampered_passes_with_full_parity(self):
        p, r = verify_layout(self.url, self.layout, [self.name], check=0, queries=40)
        self.assertEqual(r["verdict"], "PASS", r["failures"])
        c = r["collections"][0]
        cp = c["completeness"]
        self.assertTrue(cp["digest_parity"])
        self.assertEqual((cp["source_records"], cp["target_records"], cp["matching"]), (300, 300, 300))
        self.assertEqual((cp["missing"], cp["extra"], cp["different"]), (0, 0, 0))
        self.assertIn("float32", cp["embedding_precision"])
        self.assertTrue(c["schema"]["ok"], c["schema"])
        self.assertEqual(c["schema"]["column_type"], "vector(16)")
        self.assertEqual(c["schema"]["index"]["opclass"], "vector_cosine_ops")
        self.assertTrue(c["search"]["index_used"], c["search"])
        self.assertGreaterEqual(c["search"]["recall_at_k"], 0.9)
        src = c["search"]["source"]
        self.assertTrue(src["queried"])
        self.assertGreater(src["distances_compared"], 100)
        self.assertEqual(src["distances_disagree"], 0, src)
        self.assertEqual(r["target"]["layout"], self.layout)

    def test_one_float_one_ulp(self):
        rid = "t-000010"
        emb = self.t.q("SELECT embedding::real[] FROM {t} WHERE {id} = %s", (rid,))[0][0]
        emb[3] = struct.unpack("<f", struct.pack("<I", s.f32_bits(emb[3]) + 1))[0]
        self.t.q("UPDATE {t} SET embedding = %s::vector WHERE {id} = %s", (vec_text(emb), rid))
        p, r, cp = self.tampered()
        self.assertEqual((cp["missing"], cp["extra"], cp["different"]), (0, 0, 1))
        d = cp["different_records"][0]
        self.assertEqual((d["id"], d["fields"]), (rid, ["embedding"]))
        self.assertIn("first at [3]", d["details"][0])
        self.assertIn(rid, p.stderr)

    def test_document_one_character(self):
        rid = "t-000004"
        doc = self.t.q("SELECT {doc} FROM {t} WHERE {id} = %s", (rid,))[0][0]
        self.t.q("UPDATE {t} SET {doc} = %s WHERE {id} = %s", (doc[:-1] + ("Y" if doc[-1] != "Y" else "Z"), rid))
        p, r, cp = self.tampered()
        d = cp["different_records"]
        self.assertEqual([(x["id"], x["fields"]) for x in d], [(rid, ["document"])])
        self.assertIn("first difference at character %d" % (len(doc) - 1), d[0]["details"][0])

    def test_null_document_became_empty_text(self):
        rid = "t-000003"  # varied_records: no document, stored as '' + the marker
        self.t.q("UPDATE {t} SET {meta} = {meta} - '_chroma_document_null' WHERE {id} = %s", (rid,))
        p, r, cp = self.tampered()
        d = cp["different_records"]
        self.assertEqual([(x["id"], x["fields"]) for x in d], [(rid, ["document"])])
        self.assertIn('source null, target ""', d[0]["details"][0])

    def test_int_became_float(self):
        rid = "t-000001"
        self.t.q("UPDATE {t} SET {meta} = jsonb_set({meta}, '{{i}}', '1.0'::jsonb) WHERE {id} = %s", (rid,))
        p, r, cp = self.tampered()
        d = cp["different_records"]
        self.assertEqual([(x["id"], x["fields"]) for x in d], [(rid, ["metadata"])])
        self.assertTrue(any("type changed from int to float" in x for x in d[0]["details"]), d[0])

    def test_null_valued_metadata_key(self):
        rid = "t-000008"
        self.t.q("UPDATE {t} SET {meta} = {meta} || '{{\"ghost\": null}}'::jsonb WHERE {id} = %s", (rid,))
        p, r, cp = self.tampered()
        d = cp["different_records"]
        self.assertEqual([(x["id"], x["fields"]) for x in d], [(rid, ["metadata"])])
        self.assertTrue(any('"ghost": null in the target' in x for x in d[0]["details"]), d[0])

    def test_uri_changed(self):
        rid = "t-000006"  # i % 3 == 0: has a uri
        self.t.q("UPDATE {t} SET {meta} = jsonb_set({meta}, '{{_chroma_uri}}', '\"s3://elsewhere\"'::jsonb) "
                 "WHERE {id} = %s", (rid,))
        p, r, cp = self.tampered()
        d = cp["different_records"]
        self.assertEqual([(x["id"], x["fields"]) for x in d], [(rid, ["uri"])])
        self.assertIn("s3://elsewhere", d[0]["details"][0])

    def test_deleted_row(self):
        rid = "t-000123"
        self.t.q("DELETE FROM {t} WHERE {id} = %s", (rid,))
        p, r, cp = self.tampered()
        self.assertEqual(cp["missing_ids"], [rid])
        self.assertEqual((cp["extra"], cp["different"], cp["target_records"]), (0, 0, 299))
        self.assertTrue(any(rid in f and "missing" in f for f in r["failures"]), r["failures"])

    def test_extra_row(self):
        if self.layout == "langchain":
            self.t.q("INSERT INTO {t} (id, collection_id, embedding, document, cmetadata) SELECT 'intruder-1', "
                     "collection_id, embedding, document, cmetadata FROM {t} WHERE id = 't-000005'")
        else:
            self.t.q("INSERT INTO {t} (text, metadata_, node_id, embedding) SELECT text, metadata_, 'intruder-1', "
                     "embedding FROM {t} WHERE node_id = 't-000005'")
        p, r, cp = self.tampered()
        self.assertEqual(cp["extra_ids"], ["intruder-1"])
        self.assertEqual((cp["missing"], cp["different"]), (0, 0))
        self.assertTrue(any("intruder-1" in f for f in r["failures"]))

    def test_wrong_operator_class(self):
        idx = self.t.q("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON "
                       "am.oid = c.relam WHERE i.indrelid = '{t}'::regclass AND am.amname = 'hnsw'")
        self.assertEqual(len(idx), 1)
        self.t.q('DROP INDEX "%s"' % idx[0][0])
        self.t.q("CREATE INDEX wrong_ops ON {t} USING hnsw (embedding vector_l2_ops)")
        p, r, cp = self.tampered()
        self.assertTrue(cp["digest_parity"])
        self.assertTrue(any("vector_l2_ops" in f and "vector_cosine_ops" in f for f in r["failures"]), r["failures"])


class LangchainVerifyTampering(LayoutVerifyTampering, unittest.TestCase):
    layout = "langchain"

    def collection_row_tampered(self, sql, params, field):
        s.pg_query(self.url, "UPDATE langchain_pg_collection SET " + sql + " WHERE uuid = %s::uuid",
                   params + (self.cid,))
        p, r, cp = self.tampered()
        self.assertTrue(cp["digest_parity"], "the records are untouched")
        named = [f for f in r["failures"] if ("'%s'" % self.name) in f and field in f]
        self.assertEqual(len(named), 1, r["failures"])
        return named[0]

    def test_collection_cmetadata_int_became_float(self):
        f = self.collection_row_tampered("cmetadata = '{\"k\": 1.0}'", (), "langchain_pg_collection cmetadata")
        self.assertIn('at ["k"]: source int 1, target float 1.0', f)

    def test_collection_cmetadata_gained_a_null_valued_key(self):
        f = self.collection_row_tampered("cmetadata = '{\"k\": 1, \"ghost\": null}'", (),
                                         "langchain_pg_collection cmetadata")
        self.assertIn('key "ghost" (null) is in the target but not in the source', f)

    def test_collection_renamed(self):
        f = self.collection_row_tampered("name = %s", (self.name + "-renamed",), "has it under the name")
        self.assertIn(self.name + "-renamed", f)


class LlamaindexVerifyTampering(LayoutVerifyTampering, unittest.TestCase):
    layout = "llamaindex"


class LayoutSync:
    """Mixin: `sync --layout X` after adds, updates, upserts and deletes in Chroma: the rows equal Chroma's,
    only the changed rows were written, verify is at parity, a second sync changes nothing."""
    layout = None
    space = "l2"
    extra_args = ()

    def test_sync_applies_exactly_the_changes(self):
        s.require_env(self)
        chroma = s.Chroma(s.CHROMA_URL)
        name = "sy-%s-%s" % (self.layout[:5], uuid.uuid4().hex[:8])
        col = chroma.create_collection(name, space=self.space)
        self.addCleanup(chroma.delete_collection, name)
        cid = col["id"]
        ids, embs, docs, metas, uris = s.varied_records(400, 12, seed=51, prefix="y")
        chroma.add(cid, ids, embs, docs, metas, uris)
        url, drop = s.new_database("sy" + self.layout[:4])
        self.addCleanup(drop)
        args = ("--to", url, "--layout", self.layout, "--collections", name) + tuple(self.extra_args)
        s.run("migrate", "--from", s.CHROMA_URL, *args, check=0)
        t = LayoutTarget(self.layout, url, name, cid, "--langchain-id-prefix" in self.extra_args)
        if self.extra_args:
            self.assertEqual(len(s.pg_query(url, "SELECT id FROM langchain_pg_embedding WHERE id LIKE %s",
                                            (name + ":%",))), 400)
        before = t.xmins()
        self.assertEqual(len(before), 400)

        emb_only, meta_only, doc_only = ids[0:4], ids[10:13], ids[20:22]
        ups_existing, deleted = ids[30:32], ids[40:46]
        new_ids = ["new-%d" % i for i in range(5)]
        ups_new = ["ups-new-%d" % i for i in range(2)]
        chroma.add(cid, new_ids, [[0.25 * i + 0.1] * 12 for i in range(5)], ["new doc %d" % i for i in range(4)] + [None],
                   [{"n": i, "f": 1.0} for i in range(5)], ["file://new/%d" % i for i in range(5)])
        chroma.add(cid, emb_only, [[9.5 + i] * 12 for i in range(len(emb_only))], op="update")
        chroma.call("POST", API + "/collections/%s/update" % cid,
                    {"ids": meta_only, "metadatas": [{"changed": True, "i": 1000 + i} for i in range(len(meta_only))]})
        chroma.call("POST", API + "/collections/%s/update" % cid,
                    {"ids": doc_only, "documents": ["rewritten %d" % i for i in range(len(doc_only))]})
        up = ups_existing + ups_new
        chroma.add(cid, up, [[-1.0 - i] * 12 for i in range(len(up))], ["upserted %d" % i for i in range(len(up))],
                   [{"u": i} for i in range(len(up))], op="upsert")
        chroma.call("POST", API + "/collections/%s/delete" % cid, {"ids": deleted})

        want_new = len(new_ids) + len(ups_new)
        want_changed = len(emb_only) + len(meta_only) + len(doc_only) + len(ups_existing)
        dry = s.run_json("sync", "--from", s.CHROMA_URL, *args, "--dry-run")
        c = dry["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"]), (want_new, want_changed, len(deleted)), c)
        self.assertEqual(t.xmins(), before, "dry run wrote")

        res = s.run_json("sync", "--from", s.CHROMA_URL, *args)
        self.assertEqual(res["layout"], self.layout)
        c = res["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"]), (want_new, want_changed, len(deleted)), c)
        self.assertEqual(c["unchanged"], 400 - want_changed - len(deleted))
        after = t.xmins()
        written = {i for i in after if before.get(i) != after[i]}
        self.assertEqual(written, set(emb_only + meta_only + doc_only + ups_existing + new_ids + ups_new))
        self.assertFalse(set(deleted) & set(after))
        self.check_exact(chroma, cid, t)

        p, r = verify_layout(url, self.layout, [name], *self.extra_args, check=0)
        self.assertEqual(r["verdict"], "PASS", r["failures"])
        self.assertEqual(r["collections"][0]["completeness"]["matching"], 400 - len(deleted) + want_new)

        again = s.run_json("sync", "--from", s.CHROMA_URL, *args)
        c = again["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"], c["unchanged"]),
                         (0, 0, 0, 400 - len(deleted) + want_new))
        self.assertEqual(t.xmins(), after)

    def check_exact(self, chroma, cid, t):
        want = s.as_records(chroma.get_all(cid))
        got = t.rows()
        self.assertEqual(set(got), set(want))
        for rid, (emb, doc, uri, meta) in want.items():
            g_emb, g_doc, g_meta = got[rid]
            s.assert_f32_equal(self, g_emb, emb, rid)
            m, was_null, g_uri = split_meta(g_meta)
            self.assertEqual((g_doc, was_null, g_uri), ("" if doc is None else doc, doc is None, uri), rid)
            self.assertTrue(s.json_types_equal(m, meta or None), "%s: %r != %r" % (rid, m, meta))


class LangchainSync(LayoutSync, unittest.TestCase):
    layout = "langchain"
    space = "l2"


class LangchainSyncWithIdPrefix(LayoutSync, unittest.TestCase):
    layout = "langchain"
    space = "ip"
    extra_args = ("--langchain-id-prefix",)

    def test_prefix_flag_must_match_the_migration(self):
        s.require_env(self)
        chroma = s.Chroma(s.CHROMA_URL)
        name = "sypx-" + uuid.uuid4().hex[:8]
        col = chroma.create_collection(name)
        self.addCleanup(chroma.delete_collection, name)
        chroma.add(col["id"], ["a", "b"], [[0.0, 1.0], [1.0, 0.0]], ["x", "y"])
        url, drop = s.new_database("sypx")
        self.addCleanup(drop)
        s.run("migrate", "--from", s.CHROMA_URL, "--to", url, "--layout", "langchain", "--langchain-id-prefix",
              "--collections", name, check=0)
        p = s.run("sync", "--from", s.CHROMA_URL, "--to", url, "--layout", "langchain", "--collections", name, check=2)
        self.assertIn("--langchain-id-prefix", p.stderr)
        p, r = verify_layout(url, "langchain", [name], check=1)
        self.assertTrue(any("--langchain-id-prefix" in f for f in r["failures"]), r["failures"])
        verify_layout(url, "langchain", [name], "--langchain-id-prefix", check=0)


class LlamaindexSync(LayoutSync, unittest.TestCase):
    layout = "llamaindex"
    space = "cosine"


class LlamaindexHalfvec(unittest.TestCase):
    """--halfvec: the column is halfvec(dim); verify compares at float16 and says so; sync keeps it exact."""

    def test_halfvec_verify_and_sync(self):
        s.require_env(self)
        chroma = s.Chroma(s.CHROMA_URL)
        name = "syhv-" + uuid.uuid4().hex[:8]
        col = chroma.create_collection(name, space="cosine")
        self.addCleanup(chroma.delete_collection, name)
        cid = col["id"]
        ids, embs, docs, metas, uris = s.varied_records(300, 16, seed=61, prefix="h")
        chroma.add(cid, ids, embs, docs, metas, uris)
        url, drop = s.new_database("syhv")
        self.addCleanup(drop)
        s.run("migrate", "--from", s.CHROMA_URL, "--to", url, "--layout", "llamaindex", "--halfvec", "--collections",
              name, check=0)
        t = LayoutTarget("llamaindex", url, name, cid)
        self.assertEqual(t.q("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                             "'{t}'::regclass AND attname = 'embedding'")[0][0], "halfvec(16)")
        p, r = verify_layout(url, "llamaindex", [name], check=0)
        c = r["collections"][0]
        self.assertIn("float16", c["completeness"]["embedding_precision"])
        self.assertTrue(any("float16" in n for n in r["notes"]), r["notes"])
        self.assertEqual(c["schema"]["index"]["opclass"], "halfvec_cosine_ops")
        # One float16 step in one component is caught.
        rid = "h-000007"
        e = t.q("SELECT embedding::real[] FROM {t} WHERE node_id = %s", (rid,))[0][0]
        t.q("UPDATE {t} SET embedding = %s::halfvec WHERE node_id = %s",
            (vec_text(e[:2] + [e[2] * (1 + 2 ** -9)] + e[3:]), rid))
        p, r = verify_layout(url, "llamaindex", [name], check=1)
        d = r["collections"][0]["completeness"]["different_records"]
        self.assertEqual([(x["id"], x["fields"]) for x in d], [(rid, ["embedding"])])
        self.assertIn("float16", d[0]["details"][0])
        # sync repairs it and applies a change made in Chroma.
        chroma.add(cid, ["h-000008"], [[0.5] * 16], op="update")
        res = s.run_json("sync", "--from", s.CHROMA_URL, "--to", url, "--layout", "llamaindex", "--collections", name)
        c = res["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"]), (0, 2, 0), c)
        verify_layout(url, "llamaindex", [name], check=0)


class NativeHalfvec(unittest.TestCase):
    """Native --halfvec: halfvec(dim) column with the halfvec operator class, registry says so, every stored value
    is exactly pgvector's own float32 -> float16 conversion; verify passes at float16 precision and says so,
    still catches one float16 step; sync keeps it exact."""

    def migrate(self, n, dim, space, seed):
        chroma = s.Chroma(s.CHROMA_URL)
        name = "nhv-" + uuid.uuid4().hex[:8]
        col = chroma.create_collection(name, space=space)
        self.addCleanup(chroma.delete_collection, name)
        ids, embs, docs, metas, uris = s.varied_records(n, dim, seed=seed, prefix="n")
        chroma.add(col["id"], ids, embs, docs, metas, uris)
        url, drop = s.new_database("nhv")
        self.addCleanup(drop)
        s.run("migrate", "--from", s.CHROMA_URL, "--to", url, "--halfvec", "--collections", name, check=0)
        table = s.pg_query(url, "SELECT table_name FROM chroma_collections WHERE name = %s", (name,))[0][0]
        return chroma, col["id"], name, url, '"%s"' % table

    def assert_as_pgvector_converts(self, chroma, cid, url, table, dim):
        want = s.as_records(chroma.get_all(cid))
        s.pg_query(url, "DROP TABLE IF EXISTS src_f32; CREATE TABLE src_f32 (id text, e vector(%d))" % dim)
        conn = s.psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO src_f32 VALUES (%s, %s::vector)",
                            [(k, vec_text(v[0])) for k, v in want.items()])
        conn.close()
        same = s.pg_query(url, "SELECT count(*) FROM %s t JOIN src_f32 v ON v.id = t.id WHERE t.embedding = "
                               "v.e::halfvec AND t.embedding::text = v.e::halfvec::text" % table)[0][0]
        self.assertEqual(same, len(want))
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM %s" % table)[0][0], len(want))
        # Documents, uris and typed metadata stay exact.
        rows = {r[0]: r[1:] for r in s.pg_query(url, "SELECT id, document, uri, metadata::text FROM %s" % table)}
        for k, (_e, doc, uri, meta) in want.items():
            self.assertEqual(rows[k][:2], (doc, uri), k)
            self.assertTrue(s.json_types_equal(None if rows[k][2] is None else json.loads(rows[k][2]), meta or None), k)

    def test_migrated_as_halfvec_and_verified_at_float16(self):
        s.require_env(self)
        chroma, cid, name, url, table = self.migrate(300, 24, "cosine", 71)
        self.assertEqual(s.pg_query(url, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                                         "%s::regclass AND attname = 'embedding'", (table,))[0][0], "halfvec(24)")
        self.assertEqual(s.pg_query(url, "SELECT embedding_type FROM chroma_collections WHERE name = %s",
                                    (name,))[0][0], "halfvec")
        defs = [r[0] for r in s.pg_query(url, "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (table.strip('"'),))]
        self.assertTrue(any("hnsw (embedding halfvec_cosine_ops)" in d for d in defs), defs)
        self.assert_as_pgvector_converts(chroma, cid, url, table, 24)
        p, r = verify_layout(url, "native", [name], check=0, queries=40)
        c = r["collections"][0]
        cp = c["completeness"]
        self.assertEqual((cp["matching"], cp["stored_digest_stale"]), (300, 0))
        self.assertIn("float16", cp["embedding_precision"])
        self.assertTrue(any("float16" in n and name in n for n in r["notes"]), r["notes"])
        self.assertEqual(c["schema"]["column_type"], "halfvec(24)")
        self.assertTrue(c["schema"]["ok"], c["schema"])
        self.assertTrue(c["search"]["index_used"])
        self.assertEqual(c["search"]["source"]["distances_disagree"], 0, c["search"]["source"])
        h = s.run("verify", "--from", s.CHROMA_URL, "--to", url, "--collections", name, "--queries", "10", check=0)
        self.assertIn("float16", h.stdout)

    def test_tampering_caught_and_sync_keeps_it_exact(self):
        s.require_env(self)
        chroma, cid, name, url, table = self.migrate(200, 8, "l2", 73)
        rid = "n-000011"
        e = s.pg_query(url, "SELECT embedding::real[] FROM %s WHERE id = %%s" % table, (rid,))[0][0]
        e[5] = e[5] * (1 + 2 ** -9)  # about one float16 step
        s.pg_query(url, "UPDATE %s SET embedding = %%s::halfvec WHERE id = %%s" % table, (vec_text(e), rid))
        p, r = verify_layout(url, "native", [name], check=1)
        cp = r["collections"][0]["completeness"]
        self.assertEqual([(x["id"], x["fields"]) for x in cp["different_records"]], [(rid, ["embedding"])])
        self.assertIn("float16", cp["different_records"][0]["details"][0])
        self.assertEqual(cp["stored_digest_stale"], 1)
        # Put it back the way pgvector itself converts Chroma's float32 value: parity again, stored digest included.
        s.pg_query(url, "UPDATE %s SET embedding = %%s::vector::halfvec WHERE id = %%s" % table,
                   (vec_text(s.as_records(chroma.get_all(cid))[rid][0]), rid))
        p, r = verify_layout(url, "native", [name], check=0)
        self.assertEqual(r["collections"][0]["completeness"]["stored_digest_stale"], 0)
        # Changes in Chroma, one of them a value no float16 can hold (rejected, like any unstorable record).
        chroma.add(cid, ["n-000001", "n-000002"], [[0.5] * 8, [1.5] * 8], op="update")
        chroma.add(cid, ["new-1", "new-2"], [[0.1] * 8, [70000.0] + [0.0] * 7], ["a", "b"])
        chroma.call("POST", API + "/collections/%s/delete" % cid, {"ids": ["n-000003"]})
        rejects = tempfile.mkdtemp(prefix="c2p-nhv-")
        p = s.run("--json", "sync", "--from", s.CHROMA_URL, "--to", url, "--collections", name, "--on-bad-record", "skip",
                  "--reject-dir", rejects, check=1)
        c = json.loads(p.stdout)["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"], c["rejected"]), (1, 2, 1, 1), c)
        with open(c["reject_file"]) as f:
            line = json.loads(f.readline())
        self.assertIn("new-2", json.dumps(line))
        self.assertIn("halfvec", json.dumps(line))
        chroma.call("POST", API + "/collections/%s/delete" % cid, {"ids": ["new-2"]})
        p, r = verify_layout(url, "native", [name], check=0)
        self.assertEqual(r["collections"][0]["completeness"]["matching"], 200)
        self.assert_as_pgvector_converts(chroma, cid, url, table, 8)


LAYOUTS = ["native", "langchain", "llamaindex", "langchainjs", "llamaindex-ts", "mastra", "pgvectorstore"]


class JobsInLayouts(unittest.TestCase):
    """--jobs 2 with every framework layout: three collections loaded by two workers (each its own session
    and source handle, a collection still one transaction) end exactly as the source, in source order."""

    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        cls.names = ["jobs-%s-%d" % (uuid.uuid4().hex[:6], i) for i in range(3)]
        for i, name in enumerate(cls.names):
            col = cls.chroma.create_collection(name, space=("cosine", "l2", "ip")[i])
            ids, embs, docs, metas, uris = s.varied_records(300, 8, seed=30 + i, prefix="j%d" % i)
            cls.chroma.add(col["id"], ids, embs, docs, metas, uris)

    @classmethod
    def tearDownClass(cls):
        for name in cls.names:
            cls.chroma.delete_collection(name)

    def test_two_jobs_every_layout(self):
        for layout in LAYOUTS[1:]:
            with self.subTest(layout=layout):
                url, drop = s.new_database("jobs")
                self.addCleanup(drop)
                args = ["--from", s.CHROMA_URL, "--to", url, "--layout", layout, "--collections", ",".join(self.names)]
                p = s.run("--json", "migrate", *args, "--jobs", "2", check=0)
                self.assertEqual(p.returncode, 0, p.stderr[-3000:])
                got = json.loads(p.stdout)["collections"]
                self.assertEqual([c["name"] for c in got], self.names)
                self.assertEqual([c["records_written"] for c in got], [300, 300, 300])
                v = s.run("--json", "verify", *args, check=0)
                self.assertEqual(v.returncode, 0, v.stdout[-2000:] + v.stderr[-2000:])
                self.assertEqual([c["completeness"]["matching"] for c in json.loads(v.stdout)["collections"]],
                                 [300, 300, 300])


class LayoutOptionsEverywhere(unittest.TestCase):
    """verify and sync take --layout / --langchain-id-prefix like migrate: same env vars, completed in bash."""

    def test_help_env_and_completion(self):
        for cmd in ("migrate", "verify", "sync"):
            h = s.run(cmd, "--help", check=0).stdout
            self.assertIn("--layout TEXT:{%s}=native (Env:CHROMA2PG_LAYOUT)" % ",".join(LAYOUTS), h, cmd)
            self.assertIn("--langchain-id-prefix (Env:CHROMA2PG_LANGCHAIN_ID_PREFIX)", h, cmd)
        p = s.run("verify", "--from", "http://127.0.0.1:9", "--to", "postgresql://x@127.0.0.1:9/x",
                  check=2, env={"CHROMA2PG_LAYOUT": "nope"})
        self.assertIn("nope", p.stderr)
        p = s.run("sync", "--from", "http://127.0.0.1:9", "--to", "postgresql://x@127.0.0.1:9/x",
                  "--langchain-id-prefix", check=2, env={"CHROMA2PG_LAYOUT": "llamaindex"})
        self.assertIn("--layout langchain only", p.stderr)
        import test_completion as tc  # the completion driver, without collecting its tests here
        tc.CompletionTest.setUpClass()
        try:
            c = tc.CompletionTest("test_commands")
            for cmd in ("verify", "sync"):
                self.assertEqual(c.complete(cmd, "--layout", ""), LAYOUTS)
                self.assertEqual(c.complete(cmd, "--langchain-i"), ["--langchain-id-prefix"])
        finally:
            tc.CompletionTest.tearDownClass()


if __name__ == "__main__":
    unittest.main()
