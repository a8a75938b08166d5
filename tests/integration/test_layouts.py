"""--layout langchain|llamaindex against a real Chroma server and real PostgreSQL: the framework's own
similarity-search SQL (transcribed from langchain-postgres PGVector and LlamaIndex PGVectorStore) must
return Chroma's top-k, rows must hold exact ids/documents/metadata, and 3,072 dimensions index via halfvec."""
import json
import math
import random
import unittest
import uuid

import support as s

NULL_KEY = "_chroma_document_null"
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
    """(chroma metadata or None, document_was_null) from a framework metadata column."""
    m = None if meta_text is None else json.loads(meta_text)
    was_null = False
    if m is not None and NULL_KEY in m:
        was_null = m.pop(NULL_KEY) is True
        m = m or None
    return m, was_null


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
        nulls = 0
        for rid, (emb, doc, _uri, meta) in want.items():
            g_emb, g_doc, g_meta = got[rid]
            self.assertEqual([s.f32_bits(x) for x in g_emb], [s.f32_bits(x) for x in emb], rid)
            m, was_null = split_meta(g_meta)
            self.assertEqual(was_null, doc is None, rid)
            self.assertEqual(g_doc, "" if doc is None else doc, rid)
            nulls += was_null
            self.assertTrue(s.json_types_equal(m, meta or None), "%s: %r != %r" % (rid, m, meta))
        self.assertGreater(nulls, 0)

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
        s.run("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--layout", "langchain", "--langchain-id-prefix",
              "--replace", "--collections", ",".join(self.names), check=0)
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
        cls.chroma = s.Chroma(s.CHROMA_URL)
        cls.name = "wide3072-" + uuid.uuid4().hex[:8]
        col = cls.chroma.create_collection(cls.name, space="cosine")
        cls.cid = col["id"]
        rng = random.Random(3)
        centres = [[rng.gauss(0, 1) for _ in range(cls.dim)] for _ in range(100)]
        cls.embs = [[s.f32(x + rng.gauss(0, 0.3)) for x in centres[i % 100]] for i in range(cls.n)]
        ids = ["w%05d" % i for i in range(cls.n)]
        cls.chroma.add(cls.cid, ids, cls.embs, ["doc %d" % i for i in range(cls.n)],
                       [{"i": i, "even": i % 2 == 0} for i in range(cls.n)])
        cls.dbs = {}
        for layout in ("native", "langchain", "llamaindex"):
            url, drop = s.new_database("hv" + layout[:4])
            cls.dbs[layout] = (url, drop)
            s.run("migrate", "--from", s.CHROMA_URL, "--to", url, "--layout", layout, "--collections", cls.name,
                  check=0)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "name"):
            cls.chroma.delete_collection(cls.name)
        for _, drop in getattr(cls, "dbs", {}).values():
            drop()

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
                exact = 'SELECT %s FROM "%s"%s ORDER BY embedding <=> %%(q)s::vector LIMIT 10' % (idcol, table, w)
                # Seq scans off: the recall measured is the index's, not an exact scan's.
                ann = "SET enable_seqscan = off; " + ann
                plan = "\n".join(r[0] for r in s.pg_query(url, ann.replace("; SELECT", "; EXPLAIN SELECT"),
                                                          {"q": vec_text(qs[0])}))
                self.assertIn("Index Scan", plan)
                hits = 0
                for q in qs:
                    a = {r[0] for r in s.pg_query(url, ann, {"q": vec_text(q)})}
                    e = {r[0] for r in s.pg_query(url, "SET enable_indexscan = off; " + exact, {"q": vec_text(q)})}
                    self.assertEqual(len(e), 10)
                    hits += len(a & e)
                recall = hits / (10.0 * len(qs))
                self.assertGreaterEqual(recall, 0.95, "%s recall@10 %.3f" % (layout, recall))


if __name__ == "__main__":
    unittest.main()
