"""verify: full parity and recall after a real migration; every kind of tampering caught and named."""
import json
import os
import random
import struct
import sys
import tempfile
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


COLLECTION_META = {"team": "search", "version": 3, "ratio": 0.5, "live": True}


class VerifyCatchesTampering(unittest.TestCase):
    """Each tampering separately, on a freshly re-migrated collection, must be caught and named (exit 1)."""

    @classmethod
    def setUpClass(cls):
        col = support.own_collection(cls, "vtamper", "vfy_tamper_", metadata=dict(COLLECTION_META))
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

    # ---- the registry (chroma_collections) against the source's collection
    def registry_tampered(self, sql, params, field):
        pg_query(self.url, "UPDATE chroma_collections SET " + sql + " WHERE name = %s", params + (self.name,))
        p, r, c = self.tampered()
        self.assertTrue(c["completeness"]["digest_parity"], "the records are untouched")
        named = [f for f in r["failures"] if ("'%s'" % self.name) in f and field in f]
        self.assertEqual(len(named), 1, r["failures"])
        self.assertIn(named[0], p.stderr)
        return named[0]

    def test_registry_metadata_int_became_float(self):
        f = self.registry_tampered("metadata = jsonb_set(metadata, '{version}', '3.0')", (), "chroma_collections metadata")
        self.assertIn('at ["version"]: source int 3, target float 3.0', f)

    def test_registry_metadata_bool_became_int(self):
        f = self.registry_tampered("metadata = jsonb_set(metadata, '{live}', '1')", (), "chroma_collections metadata")
        self.assertIn('at ["live"]: source bool true, target int 1', f)

    def test_registry_metadata_value_changed(self):
        f = self.registry_tampered("metadata = jsonb_set(metadata, '{team}', '\"ads\"')", (), "chroma_collections metadata")
        self.assertIn('source string "search", target string "ads"', f)

    def test_registry_metadata_gained_a_null_valued_key(self):
        f = self.registry_tampered("metadata = metadata || '{\"ghost\": null}'", (), "chroma_collections metadata")
        self.assertIn('key "ghost" (null) is in the target but not in the source', f)

    def test_registry_configuration_changed(self):
        conf = json.loads(pg_query(self.url, "SELECT configuration::text FROM chroma_collections WHERE name = %s",
                                   (self.name,))[0][0])
        self.assertIsInstance(conf["hnsw"]["ef_search"], int, conf)
        f = self.registry_tampered("configuration = jsonb_set(configuration, '{hnsw,ef_search}', %s::jsonb)",
                                   (json.dumps(conf["hnsw"]["ef_search"] + 0.0),), "chroma_collections configuration")
        self.assertIn('at ["hnsw"]["ef_search"]: source int', f)

    def test_registry_name_changed(self):
        f = self.registry_tampered("name = %s", (self.name + "-renamed",), "chroma_collections has it under the name")
        self.assertIn(self.name + "-renamed", f)

    def test_registry_dimension_nulled(self):
        self.registry_tampered("dimension = NULL", (), "registry dimension NULL differs from the source's 16")

    # ---- a record's metadata: a null value is a value Chroma cannot hold
    def test_record_metadata_gained_a_null_valued_key(self):
        rid = "t-000007"
        pg_query(self.url, "UPDATE %s SET metadata = coalesce(metadata, '{}') || '{\"ghost\": null}' WHERE id = %%s"
                 % self.t, (rid,))
        p, r, c = self.tampered()
        cp = c["completeness"]
        self.assertEqual((cp["missing"], cp["extra"], cp["different"]), (0, 0, 1))
        d = cp["different_records"][0]
        self.assertEqual((d["id"], d["fields"]), (rid, ["metadata"]))
        self.assertTrue(any('"ghost": null in the target' in x for x in d["details"]), d)
        self.assertEqual(cp["null_valued_metadata_rows"], 1)


class VerifyEscapedNul(unittest.TestCase):
    """`migrate --escape-nul` stores U+0000 as U+2400 (the stored digest is the original record's):
    verify compares the source as stored, calls the escaped rows escaped as intended (not "changed in
    PostgreSQL after the migration"), and still catches an escaped row changed afterwards."""

    @classmethod
    def setUpClass(cls):
        col = support.own_collection(cls, "vnul", "vfy_nul_")
        ids, embs, docs, metas, uris = support.varied_records(60, 8, prefix="n")
        cls.chroma.add(col["id"], ids, embs, docs, metas, uris)
        cls.chroma.add(col["id"], ["nul-doc", "nul-meta"], [[0.5] * 8, [0.25] * 8], ["before\u0000after", "fine"],
                       [None, {"k": "v\u0000w", "n": 1}])
        cls.tmp = tempfile.mkdtemp(prefix="c2p-nul-")
        p = run("--json", "migrate", "--from", support.CHROMA_URL, "--to", cls.url, "--collections", cls.name,
                "--escape-nul", "--reject-dir", cls.tmp)
        out = json.loads(p.stdout)
        assert out["collections"][0]["escaped"] == 2, p.stdout + p.stderr
        cls.table = pg_query(cls.url, "SELECT table_name FROM chroma_collections WHERE name = %s", (cls.name,))[0][0]

    @classmethod
    def tearDownClass(cls):
        support.release_own(cls)

    def test_escaped_rows_pass_and_are_named_escaped(self):
        doc = pg_query(self.url, 'SELECT document FROM "%s" WHERE id = %%s' % self.table, ("nul-doc",))[0][0]
        self.assertEqual(doc, "before\u2400after")
        p, r = verify_json(self.url, [self.name], check=0, queries=10)
        self.assertEqual(r["verdict"], "PASS", r["failures"])
        self.assertFalse([w for w in r["warnings"] if "changed in PostgreSQL" in w], r["warnings"])
        cp = r["collections"][0]["completeness"]
        self.assertEqual((cp["matching"], cp["stored_digest_stale"]), (62, 0))
        self.assertEqual(cp["nul_escaped"], {"source_records": 2, "target_rows_with_original_digest": 2})
        self.assertTrue(any("2 source record(s) hold U+0000" in n and "escaped as intended" in n for n in r["notes"]),
                        r["notes"])

    def test_escaped_row_changed_after_migration_is_caught(self):
        pg_query(self.url, 'UPDATE "%s" SET document = %%s WHERE id = %%s' % self.table, ("before\u2400AFTER", "nul-doc"))
        self.addCleanup(pg_query, self.url, 'UPDATE "%s" SET document = %%s WHERE id = %%s' % self.table,
                        ("before\u2400after", "nul-doc"))
        p, r = verify_json(self.url, [self.name], check=1, queries=10)
        cp = r["collections"][0]["completeness"]
        self.assertEqual([d["id"] for d in cp["different_records"]], ["nul-doc"])
        self.assertEqual(cp["stored_digest_stale"], 1)
        self.assertEqual(cp["nul_escaped"]["target_rows_with_original_digest"], 1)
        self.assertTrue(any("changed in PostgreSQL" in w for w in r["warnings"]), r["warnings"])


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
        # a gap past the margin is tolerated only within the queries' own sampling noise (then a warning)
        self.assertGreaterEqual(v["pgvector"], v["chroma"] - 0.02 - v["gap_noise"], v)
        self.assertIn(v["verdict"], ("PASS", "WARN"), v)
        # A floor the user asks for still applies (here just above what was measured).
        floor = "%.3f" % min(1.0, v["pgvector"] + 0.005)
        if v["pgvector"] < 0.995:
            p, r = verify_json(self.url, [self.name], "--min-recall", floor, check=1)
            self.assertTrue(any("--min-recall " + floor.rstrip("0") in f for f in r["failures"]), r["failures"])


VerifyAfterMigrationOnCurrent = support.on_chroma("current", VerifyAfterMigration)


if __name__ == "__main__":
    unittest.main()


class VerifyNamesCollectionsOnlyTheTargetHas(unittest.TestCase):
    """A collection the target holds that the source no longer has (deleted in Chroma after the migration) is
    named in a warning when verify checks every collection, for the native registry and for LangChain's
    collection table; the verdict stays PASS."""

    def test_native_and_langchain(self):
        support.require_env(self)
        src = support.fixture_dir("v1.3__AbhiSree06__RBAC-Chatbot__vector_db")
        ghost_id, ghost = str(uuid.uuid4()), "ghost_" + uuid.uuid4().hex[:8]
        for layout, listing in (("native", "chroma_collections"), ("langchain", "langchain_pg_collection")):
            with self.subTest(layout=layout):
                url, drop = support.new_database("vghost")
                self.addCleanup(drop)
                run("migrate", "--from", src, "--to", url, "--layout", layout, check=0)
                key = "id" if layout == "native" else "uuid"
                pg_query(url, "CREATE TABLE ghost AS SELECT * FROM %s LIMIT 1" % listing)
                pg_query(url, "UPDATE ghost SET %s = %%s::uuid, name = %%s" % key, (ghost_id, ghost))
                if layout == "native":
                    pg_query(url, "UPDATE ghost SET table_name = 'c2p_' || name")
                pg_query(url, "INSERT INTO %s SELECT * FROM ghost" % listing)
                p = run("--json", "verify", "--from", src, "--to", url, "--layout", layout, "--queries", "5", check=0)
                r = json.loads(p.stdout)
                self.assertEqual(r["verdict"], "PASS", r["failures"])
                named = [w for w in r["warnings"] if "'%s'" % ghost in w]
                self.assertEqual(len(named), 1, r["warnings"])
                self.assertIn("the source does not have", named[0])
                # Only one collection checked: the others are not the question.
                p = run("--json", "verify", "--from", src, "--to", url, "--layout", layout, "--queries", "5",
                        "--collections", r["collections"][0]["name"], check=0)
                self.assertFalse([w for w in json.loads(p.stdout)["warnings"] if ghost in w])
