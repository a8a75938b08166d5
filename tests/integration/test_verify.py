"""verify: full parity and recall after a real migration; every kind of tampering caught and named."""
import json
import os
import random
import struct
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import support  # noqa: E402
from support import pg_query, run, run_json  # noqa: E402


def verify_json(url, names, *extra, check=None, queries=50):
    p = run("--json", "verify", "--from", support.CHROMA_URL, "--to", url, "--collections", ",".join(names),
            "--queries", str(queries), *extra, check=check)
    return p, json.loads(p.stdout) if p.stdout.strip() else None


class VerifyAfterMigration(unittest.TestCase):
    """Structured data (vectors around 100 centres) in l2 / ip / cosine, migrated from the real server."""

    @classmethod
    def setUpClass(cls):
        support.require_env(cls)
        cls.url, cls.drop = support.new_database("verify")
        cls.chroma = support.Chroma(support.CHROMA_URL)
        suffix = uuid.uuid4().hex[:8]
        cls.names = {}
        for i, space in enumerate(("l2", "ip", "cosine")):
            name = "vfy_%s_%s" % (space, suffix)
            col = cls.chroma.create_collection(name, space=space)
            embs = support.clustered_vectors(5000, 64, centres=100, seed=11 + i)
            ids = ["%s-%05d" % (space, j) for j in range(5000)]
            docs = ["document %d of %s" % (j, space) for j in range(5000)]
            metas = [{"j": j, "half": j + 0.5, "even": j % 2 == 0} for j in range(5000)]
            cls.chroma.add(col["id"], ids, embs, docs, metas)
            cls.names[space] = name
        run("migrate", "--from", support.CHROMA_URL, "--to", cls.url, "--collections", ",".join(cls.names.values()),
            check=0)

    @classmethod
    def tearDownClass(cls):
        for n in getattr(cls, "names", {}).values():
            cls.chroma.delete_collection(n)
        if hasattr(cls, "drop"):
            cls.drop()

    def test_full_parity_and_recall(self):
        p, r = verify_json(self.url, list(self.names.values()), check=0, queries=100)
        self.assertEqual(r["verdict"], "PASS", r["failures"])
        self.assertEqual(r["failures"], [])
        self.assertEqual(r["totals"]["source_records"], 15000)
        self.assertEqual(r["totals"]["target_records"], 15000)
        self.assertIsNotNone(r["environment"]["pgvector_version"])
        self.assertIn("shared_buffers", r["environment"]["settings"])
        for c in r["collections"]:
            cp = c["completeness"]
            self.assertTrue(cp["digest_parity"], c["name"])
            self.assertEqual(cp["matching"], 5000)
            self.assertEqual((cp["missing"], cp["extra"], cp["different"]), (0, 0, 0))
            self.assertEqual(cp["stored_digest_stale"], 0)
            sc = c["schema"]
            self.assertTrue(sc["ok"], sc)
            self.assertEqual(sc["column_type"], "vector(64)")
            self.assertEqual(sc["index"]["opclass"], "vector_%s_ops" % c["space"])
            self.assertTrue(sc["index"]["valid"])
            s = c["search"]
            self.assertEqual(s["queries"], 100)
            self.assertTrue(s["index_used"])
            self.assertGreaterEqual(s["recall_at_k"], 0.95, (c["name"], s))
            self.assertFalse(s["structure"]["looks_unstructured"], s["structure"])
            src = s["source"]
            self.assertTrue(src["queried"], src)
            self.assertGreater(src["distances_compared"], 500)
            self.assertEqual(src["distances_disagree"], 0, src)
            self.assertGreaterEqual(src["chroma_recall_vs_exact"], 0.9)
            self.assertGreaterEqual(src["overlap_pgvector_index_vs_chroma"], 0.9)

    def test_human_output_and_exit_code(self):
        p = run("verify", "--from", support.CHROMA_URL, "--to", self.url, "--collections", self.names["l2"],
                "--queries", "20", check=0)
        self.assertIn("verdict: PASS", p.stdout)
        self.assertIn(self.names["l2"], p.stdout)

    def test_unknown_collection_is_a_usage_error(self):
        run("verify", "--from", support.CHROMA_URL, "--to", self.url, "--collections", "no_such_coll_xyz", check=2)

    def test_unmigrated_collection_fails(self):
        name = "vfy_unmigrated_" + uuid.uuid4().hex[:8]
        col = self.chroma.create_collection(name)
        try:
            self.chroma.add(col["id"], ["a", "b"], [[0.0, 1.0], [1.0, 0.0]])
            p, r = verify_json(self.url, [name], check=1)
            self.assertEqual(r["verdict"], "FAIL")
            self.assertIn("not migrated", r["failures"][0])
            self.assertEqual(r["collections"][0]["completeness"]["missing"], 2)
        finally:
            self.chroma.delete_collection(name)


class VerifyCatchesTampering(unittest.TestCase):
    """Each tampering separately, on a freshly re-migrated collection, must be caught and named (exit 1)."""

    @classmethod
    def setUpClass(cls):
        col = support.own_collection(cls, "vtamper", "vfy_tamper_")
        ids, embs, docs, metas, uris = support.varied_records(400, 16, prefix="t")
        cls.chroma.add(col["id"], ids, embs, docs, metas, uris)
        cls.ids = ids

    @classmethod
    def tearDownClass(cls):
        support.release_own(cls)

    def setUp(self):
        run("migrate", "--from", support.CHROMA_URL, "--to", self.url, "--collections", self.name, "--replace", check=0)
        self.table = pg_query(self.url, "SELECT table_name FROM chroma_collections WHERE name = %s", (self.name,))[0][0]
        self.t = 'public."%s"' % self.table

    def tampered(self):
        p, r = verify_json(self.url, [self.name], check=1, queries=20)
        self.assertEqual(r["verdict"], "FAIL")
        c = r["collections"][0]
        self.assertFalse(c["ok"])
        return p, r, c

    def test_untampered_passes(self):
        p, r = verify_json(self.url, [self.name], check=0, queries=20)
        self.assertEqual(r["verdict"], "PASS", r["failures"])
        self.assertEqual(r["collections"][0]["completeness"]["matching"], 400)

    def test_one_float_changed(self):
        rid = "t-000010"
        emb = pg_query(self.url, "SELECT embedding::real[] FROM %s WHERE id = %%s" % self.t, (rid,))[0][0]
        bits = support.f32_bits(emb[3]) + 1  # the next float32: one ulp
        emb[3] = struct.unpack("<f", struct.pack("<I", bits))[0]
        pg_query(self.url, "UPDATE %s SET embedding = %%s::vector WHERE id = %%s" % self.t,
                 ("[" + ",".join(repr(x) for x in emb) + "]", rid))
        p, r, c = self.tampered()
        cp = c["completeness"]
        self.assertEqual((cp["missing"], cp["extra"], cp["different"]), (0, 0, 1))
        d = cp["different_records"][0]
        self.assertEqual(d["id"], rid)
        self.assertEqual(d["fields"], ["embedding"])
        self.assertIn("first at [3]", d["details"][0])
        self.assertEqual(cp["stored_digest_stale"], 1)
        self.assertIn(rid, p.stdout + p.stderr)

    def test_deleted_row(self):
        rid = "t-000123"
        pg_query(self.url, "DELETE FROM %s WHERE id = %%s" % self.t, (rid,))
        p, r, c = self.tampered()
        cp = c["completeness"]
        self.assertEqual(cp["missing_ids"], [rid])
        self.assertEqual((cp["extra"], cp["different"]), (0, 0))
        self.assertFalse(cp["count_match"])
        self.assertTrue(any(rid in f and "missing" in f for f in r["failures"]), r["failures"])

    def test_extra_row(self):
        pg_query(self.url, "INSERT INTO %s SELECT 'intruder-1', embedding, document, uri, metadata, digest FROM %s "
                           "WHERE id = 't-000005'" % (self.t, self.t))
        p, r, c = self.tampered()
        cp = c["completeness"]
        self.assertEqual(cp["extra_ids"], ["intruder-1"])
        self.assertEqual((cp["missing"], cp["different"]), (0, 0))
        self.assertTrue(any("intruder-1" in f for f in r["failures"]))

    def test_int_became_float(self):
        rid = "t-000001"
        pg_query(self.url, "UPDATE %s SET metadata = jsonb_set(metadata, '{i}', '1.0'::jsonb) WHERE id = %%s" % self.t,
                 (rid,))
        self.assertEqual(pg_query(self.url, "SELECT metadata->>'i' FROM %s WHERE id = %%s" % self.t, (rid,))[0][0], "1.0")
        p, r, c = self.tampered()
        d = c["completeness"]["different_records"]
        self.assertEqual([x["id"] for x in d], [rid])
        self.assertEqual(d[0]["fields"], ["metadata"])
        self.assertTrue(any("type changed from int to float" in x for x in d[0]["details"]), d[0])

    def test_bool_became_string(self):
        rid = "t-000002"
        pg_query(self.url, "UPDATE %s SET metadata = jsonb_set(metadata, '{b}', '\"true\"'::jsonb) WHERE id = %%s"
                 % self.t, (rid,))
        p, r, c = self.tampered()
        d = c["completeness"]["different_records"]
        self.assertEqual([x["id"] for x in d], [rid])
        self.assertTrue(any("type changed from bool to string" in x for x in d[0]["details"]), d[0])

    def test_document_one_character(self):
        rid = "t-000004"
        doc = pg_query(self.url, "SELECT document FROM %s WHERE id = %%s" % self.t, (rid,))[0][0]
        changed = doc[:-1] + ("Y" if doc[-1] != "Y" else "Z")
        pg_query(self.url, "UPDATE %s SET document = %%s WHERE id = %%s" % self.t, (changed, rid))
        p, r, c = self.tampered()
        d = c["completeness"]["different_records"]
        self.assertEqual([x["id"] for x in d], [rid])
        self.assertEqual(d[0]["fields"], ["document"])
        self.assertIn("first difference at character %d" % (len(doc) - 1), d[0]["details"][0])

    def test_dropped_index(self):
        idx = pg_query(self.url, "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                 "JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = %s::regclass "
                                 "AND am.amname = 'hnsw'", (self.t,))[0][0]
        pg_query(self.url, 'DROP INDEX public."%s"' % idx)
        p, r, c = self.tampered()
        self.assertTrue(c["completeness"]["digest_parity"])
        self.assertFalse(c["schema"]["ok"])
        self.assertTrue(any("vector index is missing" in f for f in r["failures"]), r["failures"])

    def test_wrong_operator_class(self):
        idx = pg_query(self.url, "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                 "JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = %s::regclass "
                                 "AND am.amname = 'hnsw'", (self.t,))[0][0]
        pg_query(self.url, 'DROP INDEX public."%s"' % idx)
        pg_query(self.url, "CREATE INDEX wrong_ops ON %s USING hnsw (embedding vector_cosine_ops)" % self.t)
        p, r, c = self.tampered()
        self.assertTrue(any("vector_cosine_ops" in f and "vector_l2_ops" in f for f in r["failures"]), r["failures"])


class VerifyUnstructuredData(unittest.TestCase):
    """Uniform noise: verify reports recall honestly and says the data looks unstructured."""

    @classmethod
    def setUpClass(cls):
        col = support.own_collection(cls, "vnoise", "vfy_noise_")
        rng = random.Random(5)
        embs = [[support.f32(rng.gauss(0, 1)) for _ in range(256)] for _ in range(3000)]
        cls.chroma.add(col["id"], ["n%05d" % i for i in range(3000)], embs)
        run("migrate", "--from", support.CHROMA_URL, "--to", cls.url, "--collections", cls.name, check=0)

    @classmethod
    def tearDownClass(cls):
        support.release_own(cls)

    def test_says_unstructured(self):
        p, r = verify_json(self.url, [self.name], check=0)
        c = r["collections"][0]
        self.assertTrue(c["completeness"]["digest_parity"])
        self.assertTrue(c["search"]["structure"]["looks_unstructured"], c["search"]["structure"])
        self.assertTrue(any("looks unstructured" in w for w in r["warnings"]), r["warnings"])
        # Judged against Chroma's own recall on the same queries, not a fixed floor: low for both, so PASS.
        v = c["search"]["recall_verdict"]
        self.assertEqual(r["verdict"], "PASS", (v, r["failures"]))
        self.assertGreaterEqual(v["pgvector"], v["chroma"] - 0.02, v)
        # A floor the user asks for still applies (here just above what was measured).
        floor = "%.3f" % min(1.0, v["pgvector"] + 0.005)
        if v["pgvector"] < 0.995:
            p, r = verify_json(self.url, [self.name], "--min-recall", floor, check=1)
            self.assertTrue(any("--min-recall " + floor.rstrip("0") in f for f in r["failures"]), r["failures"])


if __name__ == "__main__":
    unittest.main()
