"""Migrate a real Chroma server into real PostgreSQL + pgvector and compare every record."""
import json
import os
import unittest
import uuid

import support as s


class MigrateFromServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        tag = uuid.uuid4().hex[:8]
        cls.specs = [  # name, space, dim, n (the 20,000 pages through the server: 3 dimensions keep it cheap)
            ("small-ip-" + tag, "ip", 384, 257),
            ("paged-l2-" + tag, "l2", 3, 20000),
            ("wide-cos-" + tag, "cosine", 1536, 300),
        ]
        cls.cols = {}
        for i, (name, space, dim, n) in enumerate(cls.specs):
            meta = {"owner": "team-" + tag, "version": 3, "ratio": 1.0, "live": True, "note": "日本語 🎉"}
            col = cls.chroma.create_collection(name, metadata=meta, space=space)
            ids, embs, docs, metas, uris = s.varied_records(n, dim, seed=11 + i, prefix="id%d" % i)
            cls.chroma.add(col["id"], ids, embs, docs, metas, uris)
            cls.cols[name] = col
        cls.url, cls.drop = s.new_database("mig")
        cls.result = s.run_json("migrate", "--from", s.CHROMA_URL, "--to", cls.url,
                                "--collections", ",".join(n for n, *_ in cls.specs))

    @classmethod
    def tearDownClass(cls):
        for name, *_ in cls.specs:
            cls.chroma.delete_collection(name)
        cls.drop()

    def registry(self):
        rows = s.pg_query(self.url, "SELECT id::text, name, table_name, dimension, space, metadata::text, "
                                    "record_count FROM chroma_collections")
        return {r[1]: r for r in rows}

    def test_every_record_matches_chroma_get(self):
        reg = self.registry()
        for name, space, dim, n in self.specs:
            with self.subTest(collection=name):
                want = s.as_records(self.chroma.get_all(self.cols[name]["id"]))
                self.assertEqual(len(want), n)
                got = s.pg_rows(self.url, reg[name][2])
                self.assertEqual(set(got), set(want), "ids differ")
                for rid, (emb, doc, uri, meta) in want.items():
                    g_emb, g_doc, g_uri, g_meta = got[rid]
                    s.assert_f32_equal(self, g_emb, emb, "embedding bits of %s" % rid)
                    self.assertEqual(g_doc, doc, rid)
                    self.assertEqual(g_uri, uri, rid)
                    g_meta = None if g_meta is None else json.loads(g_meta)
                    # Chroma 1.0 answers {} instead of null for a record with a uri and no metadata;
                    # both mean "no keys", and chroma2pg stores NULL for both (docs/data-model.md).
                    meta = meta or None
                    self.assertTrue(s.json_types_equal(g_meta, meta),
                                    "metadata of %s: %r != %r" % (rid, g_meta, meta))

    def test_registry_keeps_collection_facts(self):
        reg = self.registry()
        for name, space, dim, n in self.specs:
            with self.subTest(collection=name):
                cid, _, table, rdim, rspace, rmeta, count = reg[name]
                self.assertEqual(cid, self.cols[name]["id"])
                self.assertEqual(rspace, space)
                self.assertEqual(rdim, dim)
                self.assertEqual(count, n)
                self.assertTrue(s.json_types_equal(json.loads(rmeta), self.cols[name]["metadata"]))

    def test_column_type_and_index_match_space(self):
        reg = self.registry()
        opclass = {"l2": "vector_l2_ops", "ip": "vector_ip_ops", "cosine": "vector_cosine_ops"}
        for name, space, dim, n in self.specs:
            with self.subTest(collection=name):
                table = reg[name][2]
                typ = s.pg_query(self.url, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                           "WHERE attrelid = %s::regclass AND attname = 'embedding'", (table,))
                self.assertEqual(typ[0][0], "vector(%d)" % dim)
                # Ids compare byte by byte, as in Chroma, whatever the database's locale.
                coll = s.pg_query(self.url, "SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = "
                                            "a.attcollation WHERE attrelid = %s::regclass AND attname = 'id'", (table,))
                self.assertEqual(coll[0][0], "C")
                idx = s.pg_query(self.url, "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (table,))
                defs = " ".join(r[0] for r in idx)
                self.assertIn("USING hnsw", defs)
                self.assertIn(opclass[space], defs)
                self.assertIn("USING gin", defs)

    def test_json_result_and_rerun_refuses_without_replace(self):
        names = [c["name"] for c in self.result["collections"]]
        self.assertEqual(sorted(names), sorted(n for n, *_ in self.specs))
        self.assertEqual(self.result["totals"]["records"], sum(n for *_, n in self.specs))
        p = s.run("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.specs[0][0])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--replace", p.stderr)
        self.assertIn(self.specs[0][0], p.stderr)
        # --replace reloads without duplicating anything.
        s.run("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.specs[0][0],
              "--replace", check=0)
        table = self.registry()[self.specs[0][0]][2]
        self.assertEqual(s.pg_query(self.url, 'SELECT count(*) FROM "%s"' % table)[0][0], self.specs[0][3])
        self.assertEqual(s.pg_query(self.url, "SELECT count(*) FROM chroma_collections WHERE name = %s",
                                    (self.specs[0][0],))[0][0], 1)

    def test_inspect_json(self):
        out = s.run_json("inspect", "--from", s.CHROMA_URL)
        by_name = {c["name"]: c for c in out["collections"]}
        for name, space, dim, n in self.specs:
            c = by_name[name]
            self.assertEqual((c["records"], c["dimension"], c["space"], c["id"]),
                             (n, dim, space, self.cols[name]["id"]))
            self.assertTrue(s.json_types_equal(c["metadata"], self.cols[name]["metadata"]))


class HostileNames(unittest.TestCase):
    def test_names_that_sanitise_alike_get_distinct_tables(self):
        s.require_env(self)
        chroma = s.Chroma(s.CHROMA_URL)
        tag = uuid.uuid4().hex[:6]
        names = ["Select-" + tag, "select_" + tag, "select." + tag]
        cols = []
        for i, n in enumerate(names):
            c = chroma.create_collection(n)
            chroma.add(c["id"], ["a", "b"], [[1.0 + i, 2.0], [3.0, 4.0 + i]], ["x", None])
            cols.append(c)
        url, drop = s.new_database("names")
        try:
            s.run("migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", ",".join(names), check=0)
            rows = s.pg_query(url, "SELECT name, table_name FROM chroma_collections ORDER BY name")
            tables = [r[1] for r in rows]
            self.assertEqual(len(set(tables)), 3, rows)
            for name, table in rows:
                self.assertEqual(s.pg_query(url, 'SELECT count(*) FROM "%s"' % table)[0][0], 2)
        finally:
            for n in names:
                chroma.delete_collection(n)
            drop()


MigrateFromServerOnCurrent = s.on_chroma("current", MigrateFromServer)
HostileNamesOnCurrent = s.on_chroma("current", HostileNames)


if __name__ == "__main__":
    unittest.main()
