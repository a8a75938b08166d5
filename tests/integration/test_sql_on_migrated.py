"""sql/init-pgvector.sql's helpers on a collection migrated by chroma2pg from the real Chroma server:
find_similar_documents uses the HNSW index, matches exact search, and a selective filter still
returns k rows (pgvector 0.8 iterative scans)."""
import json
import subprocess
import unittest
import uuid

import psycopg2

import support as s

PSQL = "/usr/lib/postgresql/15/bin/psql"
N, DIM, K = 3000, 32, 10


def vec_text(v):
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


class HelpersOnMigratedCollection(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.url, cls.drop = s.new_database("sqlmig")
        subprocess.run([PSQL, cls.url, "-q", "-v", "ON_ERROR_STOP=1", "-f", s.REPO + "/sql/init-pgvector.sql"],
                       check=True, capture_output=True)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        cls.name = "sqlmig-" + uuid.uuid4().hex[:8]
        col = cls.chroma.create_collection(cls.name, space="cosine")
        cls.embs = s.clustered_vectors(N, DIM, centres=30, seed=5)
        ids = ["m-%05d" % i for i in range(N)]
        metas = [{"topic": "t%d" % (i % 5), "rare": i % 100 == 0, "n": i} for i in range(N)]
        docs = ["document %d" % i for i in range(N)]
        cls.chroma.add(col["id"], ids, cls.embs, docs, metas)
        s.run("migrate", "--from", s.CHROMA_URL, "--to", cls.url, "--collections", cls.name, check=0)
        cls.conn = psycopg2.connect(cls.url)
        cls.conn.autocommit = True
        cur = cls.conn.cursor()
        cur.execute("SELECT table_name FROM chroma_collections WHERE name = %s", (cls.name,))
        cls.table = cur.fetchone()[0]

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.chroma.delete_collection(cls.name)
        cls.drop()

    def query(self, sql, params=()):
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur.fetchall()

    def test_matches_exact_search(self):
        hits = 0
        for qi in range(0, N, 300):
            q = vec_text(self.embs[qi])
            got = [r[0] for r in self.query("SELECT id FROM find_similar_documents(%s, %s::vector, %s)",
                                            (self.name, q, K))]
            self.assertEqual(len(got), K)
            with self.conn.cursor() as cur:
                cur.execute("BEGIN; SET LOCAL enable_indexscan = off")
                cur.execute('SELECT id FROM "%s" ORDER BY embedding <=> %%s::vector LIMIT %d' % (self.table, K), (q,))
                exact = [r[0] for r in cur.fetchall()]
                cur.execute("COMMIT")
            hits += len(set(got) & set(exact))
        self.assertGreaterEqual(hits / (K * len(range(0, N, 300))), 0.95)

    def test_uses_the_hnsw_index(self):
        idx = self.query("SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE '%%hnsw%%'",
                         (self.table,))
        self.assertEqual(len(idx), 1)
        text = self.query("SELECT find_similar_documents_sql(%s, %s, %s::jsonb, %s)",
                          (self.name, K, None, None))[0][0]
        with self.conn.cursor() as cur:
            cur.execute("PREPARE q(vector, jsonb, text) AS " + text)
            cur.execute("EXPLAIN (FORMAT JSON) EXECUTE q(%s::vector, NULL, NULL)", (vec_text(self.embs[0]),))
            plan = json.dumps(cur.fetchone()[0])
            cur.execute("DEALLOCATE q")
        self.assertIn(idx[0][0], plan)

    def test_selective_filter_still_returns_k_rows(self):
        rows = self.query("SELECT id, metadata FROM find_similar_documents(%s, %s::vector, %s, %s::jsonb)",
                          (self.name, vec_text(self.embs[1]), K, json.dumps({"rare": True})))
        self.assertEqual(len(rows), K)  # 1% of the rows match; the plain index scan would find ~0-1
        self.assertTrue(all(m["rare"] is True for _, m in rows))


if __name__ == "__main__":
    unittest.main()
