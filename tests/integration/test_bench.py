"""bench: throughput, latency percentiles per client count, recall per ef_search, insert rate, resources."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import support  # noqa: E402
from support import pg_query, run, run_json  # noqa: E402


class Bench(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        col = support.own_collection(cls, "bench", "bench_", space="l2")
        embs = support.clustered_vectors(3000, 48, centres=60, seed=9)
        cls.chroma.add(col["id"], ["b%05d" % i for i in range(3000)], embs)
        run("migrate", "--from", support.CHROMA_URL, "--to", cls.url, "--collections", cls.name, check=0)

    @classmethod
    def tearDownClass(cls):
        support.release_own(cls)

    def test_bench_figures(self):
        r = run_json("bench", "--to", self.url, "--clients", "1,2", "--duration", "1", "--ef-search", "40,100",
                     "--insert-rows", "3000")
        self.assertEqual(r["collection"], self.name)
        self.assertEqual(r["rows"], 3000)
        self.assertEqual([s["ef_search"] for s in r["search"]], [40, 100])
        for s in r["search"]:
            self.assertTrue(s["index_used"])
            self.assertGreaterEqual(s["recall_at_k"], 0.8)
            self.assertEqual([x["clients"] for x in s["runs"]], [1, 2])
            for x in s["runs"]:
                self.assertGreater(x["qps"], 0)
                self.assertGreater(x["queries"], 0)
                self.assertGreater(x["p50_ms"], 0)
                self.assertLessEqual(x["p50_ms"], x["p95_ms"])
                self.assertLessEqual(x["p95_ms"], x["p99_ms"])
        self.assertGreaterEqual(r["search"][1]["recall_at_k"], r["search"][0]["recall_at_k"] - 0.02)
        self.assertGreater(r["insert"]["records_per_second"], 0)
        self.assertEqual(r["insert"]["rows"], 3000)
        self.assertGreater(r["insert"]["with_hnsw_index"]["records_per_second"], 0)
        self.assertGreater(r["resources"]["peak_rss_bytes"], 1 << 20)
        self.assertGreater(r["resources"]["cpu_seconds"], 0)
        self.assertIn("work_mem", r["environment"]["settings"])
        # The scratch tables were temporary: nothing left behind, the collection untouched.
        left = pg_query(self.url, "SELECT count(*) FROM pg_class WHERE relname LIKE 'c2p_bench_scratch%%'")[0][0]
        self.assertEqual(left, 0)
        self.assertEqual(pg_query(self.url, "SELECT count(*) FROM chroma_collections")[0][0], 1)

    def test_unknown_collection(self):
        p = run("bench", "--to", self.url, "--collection", "nope", "--duration", "0.2", check=2)
        self.assertIn(self.name, p.stderr)

    def test_no_registry_points_to_verify_bench(self):
        # A schema with no chroma2pg registry (as a framework layout leaves it): the way to a benchmark is named.
        p = run("bench", "--to", self.url, "--schema", "no_such_schema", "--duration", "0.2", check=2)
        self.assertIn("no migrated collections in schema 'no_such_schema'", p.stderr)
        self.assertIn("chroma2pg verify --layout LAYOUT --bench", p.stderr)

    def test_bad_flags(self):
        run("bench", "--to", self.url, "--clients", "0", check=2)
        run("bench", "--to", self.url, "--duration", "0", check=2)


if __name__ == "__main__":
    unittest.main()
