"""The run summary of migrate, backup, restore and sync: `--summary FILE` (or CHROMA2PG_SUMMARY) holds
the --json result, per collection records read, written, rejected, duration, records/s, MB/s, and the
totals; its numbers equal what was really written (count(*) in PostgreSQL for migrate and sync, the
manifest and the data files' lines for backup, Chroma's count for restore). Without --json the same
figures are a table on stdout; nothing but the summary is left in its directory (written atomically).
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import uuid

import support as s

FIGURES = ("records_read", "records_written", "rejected", "seconds", "records_per_second", "mb_per_second")


class Summary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        tag = uuid.uuid4().hex[:8]
        cls.specs = [("sum_a_" + tag, "cosine", 32, 1200), ("sum_b_" + tag, "l2", 8, 450)]
        cls.ids = {}
        for i, (name, space, dim, n) in enumerate(cls.specs):
            col = cls.chroma.create_collection(name, {"purpose": "summary"}, space=space)
            ids, embs, docs, metas, uris = s.varied_records(n, dim, seed=21 + i, prefix="s%d" % i)
            cls.chroma.add(col["id"], ids, embs, docs, metas, uris)
            cls.ids[name] = col["id"]
        cls.names = [n for n, *_ in cls.specs]
        cls.url, cls.drop = s.new_database("sum")
        cls.work = tempfile.mkdtemp(prefix="c2p-summary-")
        cls.server = None

    @classmethod
    def tearDownClass(cls):
        for n in cls.names:
            cls.chroma.delete_collection(n)
        cls.drop()
        if cls.server:
            cls.server.stop()
            shutil.rmtree(cls.server.tmp, ignore_errors=True)
        shutil.rmtree(cls.work, ignore_errors=True)

    def c2p(self, *args, env=None, check=0):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([s.BIN] + [str(a) for a in args], capture_output=True, text=True, cwd=self.work, env=e,
                           timeout=600)
        self.assertEqual(p.returncode, check, "%s\nstdout:\n%s\nstderr:\n%s" % (args, p.stdout[-3000:], p.stderr[-3000:]))
        return p

    def load(self, name):
        path = os.path.join(self.work, name)
        with open(path) as f:
            doc = json.load(f)
        leftovers = [n for n in os.listdir(self.work) if n.startswith("." + name)]
        self.assertEqual(leftovers, [], "temporary files left beside the summary")
        return doc

    def check_figures(self, doc, command):
        self.assertEqual(doc["command"], command)
        for c in doc["collections"]:
            for k in FIGURES:
                self.assertIn(k, c, "%s: %s" % (c["name"], k))
            if c["seconds"] > 0:
                self.assertAlmostEqual(c["records_per_second"], c["records_read"] / c["seconds"],
                                       delta=1e-6 * c["records_per_second"] + 1e-9)
        t = doc["totals"]
        for k in FIGURES:
            self.assertIn(k, t)
        for k in ("records_read", "records_written", "rejected"):
            self.assertEqual(t[k], sum(c[k] for c in doc["collections"]), k)

    def count(self, table):
        return s.pg_query(self.url, 'SELECT count(*) FROM "public"."%s"' % table)[0][0]

    def test_1_migrate_and_sync(self):
        p = self.c2p("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", ",".join(self.names),
                     "--summary", "migrate.json")
        doc = self.load("migrate.json")
        self.check_figures(doc, "migrate")
        for c in doc["collections"]:
            n = dict((name, n) for name, _, _, n in self.specs)[c["name"]]
            self.assertEqual(c["records_written"], self.count(c["table"]))
            self.assertEqual((c["records_read"], c["records_written"], c["rejected"]), (n, n, 0))
            self.assertIn(c["name"], p.stdout)  # the table on stdout
        self.assertIn("total (2 collections)", p.stdout)
        # Each collection's seconds are its own: loaded one after the other, they add up to at most the run's
        # wall time (they were cumulative: the second one's included the first's).
        self.assertLessEqual(sum(c["seconds"] for c in doc["collections"]), doc["totals"]["seconds"] + 0.05, doc)
        # --json and --summary: one document.
        p = self.c2p("--json", "migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.names[1],
                     "--replace", "--summary", "again.json")
        self.assertEqual(json.loads(p.stdout), self.load("again.json"))

        # sync after changes in Chroma: 30 new, 20 changed, 10 removed.
        name, _, dim, n = self.specs[0]
        cid = self.ids[name]
        ids, embs, docs, metas, uris = s.varied_records(30, dim, seed=99, prefix="new")
        self.chroma.add(cid, ids, embs, docs, metas, uris)
        got = self.chroma.get_all(cid)
        old = [i for i in got["ids"] if i.startswith("s0-")]
        self.chroma.call("POST", s.API + "/collections/%s/update" % cid,
                         {"ids": old[:20], "documents": ["changed %d" % k for k in range(20)]})
        self.chroma.call("POST", s.API + "/collections/%s/delete" % cid, {"ids": old[20:30]})
        table = [c["table"] for c in doc["collections"] if c["name"] == name][0]
        before = self.count(table)
        self.c2p("sync", "--from", s.CHROMA_URL, "--to", self.url, "--collections", name, env={"CHROMA2PG_SUMMARY": "sync.json"})
        sd = self.load("sync.json")
        self.check_figures(sd, "sync")
        c = sd["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"]), (30, 20, 10))
        self.assertEqual(c["records_written"], c["inserted"] + c["updated"])
        self.assertEqual(c["records_read"], n + 30 - 10)
        self.assertEqual(self.count(table), before + c["inserted"] - c["deleted"])
        self.assertEqual(self.count(table), c["records_read"])

    def test_2_layout_migrate(self):
        self.c2p("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.names[1], "--layout",
                 "llamaindex", "--summary", "llama.json", "-q")
        doc = self.load("llama.json")
        self.check_figures(doc, "migrate")
        c = doc["collections"][0]
        self.assertEqual(c["records_written"], self.count(c["table"]))
        self.assertEqual(c["records_written"], self.specs[1][3])

    def test_3_backup_and_restore(self):
        p = self.c2p("backup", "--from", s.CHROMA_URL, "--out", os.path.join(self.work, "bk"), "--collections",
                     ",".join(self.names), "--format", "jsonl,pickle", "--summary", "backup.json")
        doc = self.load("backup.json")
        self.check_figures(doc, "backup")
        self.assertEqual(p.stdout.strip().splitlines()[-1], "backup: " + doc["backup"])
        with open(os.path.join(doc["backup"], "manifest.json")) as f:
            manifest = json.load(f)
        mc = {c["name"]: c for c in manifest["collections"]}
        for c in doc["collections"]:
            m = mc[c["name"]]
            self.assertEqual(c["records_written"], m["record_count"])
            jsonl = [f for f in m["files"] if f["format"] == "jsonl"][0]["path"]
            with open(os.path.join(doc["backup"], jsonl), "rb") as f:
                self.assertEqual(c["records_written"], f.read().count(b"\n"))
        # --quiet: only the path on stdout, for scripts.
        p = self.c2p("-q", "backup", "--from", s.CHROMA_URL, "--out", os.path.join(self.work, "bk2"), "--collections",
                     self.names[1])
        self.assertTrue(os.path.isfile(os.path.join(p.stdout.strip(), "manifest.json")), p.stdout)

        # restore into a private server, then compare with Chroma's own count.
        type(self).server = s.ChromaServer()
        target = s.Chroma(self.server.url)
        p = self.c2p("restore", "--from", doc["backup"], "--to-chroma", self.server.url, "--summary", "restore.json")
        rd = self.load("restore.json")
        self.check_figures(rd, "restore")
        for c in rd["collections"]:
            cid = target.collection(c["restored_as"])["id"]
            count = target.call("GET", s.API + "/collections/%s/count" % cid)
            self.assertEqual(c["records_written"], count)
            self.assertEqual(c["records_read"], count)
            self.assertIn(c["name"], p.stdout)


if __name__ == "__main__":
    unittest.main()
