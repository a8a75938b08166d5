"""Progress a user sees during a long run: the index build's progress (native and framework layouts) and,
with several collections, an ETA for the whole run after each collection (issue 19)."""
import json
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import support  # noqa: E402

N, DIM = 4000, 384


def events(stderr):
    out = []
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


class RunProgress(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.own_collection(cls, "prog", "prog_big_", space="cosine")
        cls.chroma.add(cls.cid, ["b%05d" % i for i in range(N)], support.clustered_vectors(N, DIM, seed=3),
                       ["doc %d" % i for i in range(N)], [{"n": i} for i in range(N)])
        cls.small = "prog_small_" + uuid.uuid4().hex[:8]
        sid = cls.chroma.create_collection(cls.small)["id"]
        cls.chroma.add(sid, ["s%d" % i for i in range(50)], support.clustered_vectors(50, DIM, seed=4))

    @classmethod
    def tearDownClass(cls):
        cls.chroma.delete_collection(cls.small)
        support.release_own(cls)

    def migrate(self, *extra):
        url, drop = support.new_database("progdb")
        self.addCleanup(drop)
        p = support.run("--log-format", "json", "--progress-interval", "0.1", "migrate", "--from", support.CHROMA_URL,
                        "--to", url, "--collections", "%s,%s" % (self.name, self.small), *extra, check=0)
        return events(p.stderr)

    def check(self, ev):
        # The index build of the 4,000-record collection reports from pg_stat_progress_create_index.
        idx = [e for e in ev if e["event"] == "index_progress"]
        self.assertTrue(idx, [e["event"] for e in ev])
        self.assertTrue(all(e["collection"] == self.name for e in idx), idx)
        self.assertTrue(any(e["phase"] for e in idx), idx)
        # One whole-run line: after the first of the two collections, none after the last.
        runs = [e for e in ev if e["event"] == "run_progress"]
        self.assertEqual(len(runs), 1, runs)
        r = runs[0]
        self.assertEqual((r["collections_done"], r["collections"]), (1, 2), r)
        self.assertEqual(r["records"], N + 50, r)
        self.assertIn(r["records_done"], (N, 50), r)
        self.assertGreaterEqual(r["eta_seconds"], 0, r)
        self.assertIn("ETA", r["message"], r)

    def test_native(self):
        self.check(self.migrate())

    def test_langchain_layout(self):
        self.check(self.migrate("--layout", "langchain"))

    def test_interval_is_checked(self):
        p = support.run("--progress-interval", "0", "inspect", "--from", support.CHROMA_URL, check=2)
        self.assertIn("--progress-interval", p.stderr)


if __name__ == "__main__":
    unittest.main()
