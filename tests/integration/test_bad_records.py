"""A source holding each kind of record PostgreSQL cannot store: a NaN vector, an infinite metadata
float, invalid UTF-8 in a document and in a metadata value (crafted into a copy of a real Chroma
directory with sqlite3), NUL in a document and in a metadata value, an id longer than a btree key
(through the Chroma API, which accepts them). `fail` stops with all of them in the reject file and
nothing half-written; `skip` migrates the rest and the reject file holds exactly the bad ones;
`--escape-nul` stores NUL text losslessly; counts add up."""
import base64
import json
import os
import shutil
import sqlite3
import struct
import tempfile
import unittest
import uuid

import resume_support as r
import support as s

GOOD = 300
DIM = 8
LONG_ID = "L" * 3000


class BadRecords(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        server = s.ChromaServer()
        cls.tmp = server.tmp
        try:
            chroma = s.Chroma(server.url)
            cls.name = "bad-" + uuid.uuid4().hex[:6]
            col, cls.want = r.fill(chroma, cls.name, GOOD, DIM, seed=4)
            chroma.add(col["id"], ["nul-doc", "nul-meta", LONG_ID], [[0.5] * DIM] * 3,
                       ["before\u0000after", "fine", None], [None, {"k": "v\u0000w"}, None])
        finally:
            server.stop()
        cls.dir = server.dir
        db = sqlite3.connect(os.path.join(cls.dir, "chroma.sqlite3"))
        rowid = lambda rid: db.execute("SELECT id FROM embeddings WHERE embedding_id = ?", (rid,)).fetchone()[0]
        nan = struct.pack("<f", float("nan")) + struct.pack("<%df" % (DIM - 1), *([1.0] * (DIM - 1)))
        ids = sorted(cls.want)
        cls.crafted = {ids[5]: "NaN", ids[6]: "non-finite", ids[7]: "UTF-8", ids[8]: "UTF-8"}
        db.execute("UPDATE embeddings_queue SET vector = ? WHERE id = ?", (nan, ids[5]))
        db.execute("UPDATE embedding_metadata SET float_value = 9e999 WHERE key = 'f' AND id = ?", (rowid(ids[6]),))
        db.execute("UPDATE embedding_metadata SET string_value = CAST(X'41FF42' AS TEXT) WHERE key = 'chroma:document' "
                   "AND id = ?", (rowid(ids[7]),))
        db.execute("UPDATE embedding_metadata SET string_value = CAST(X'C3' AS TEXT) WHERE key = 's' AND id = ?",
                   (rowid(ids[8]),))
        db.commit()
        db.close()
        for rid in cls.crafted:
            del cls.want[rid]
        cls.bad_ids = set(cls.crafted) | {"nul-doc", "nul-meta", LONG_ID}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def reject_lines(self, rejects):
        files = os.listdir(rejects)
        self.assertEqual(len(files), 1, files)
        with open(os.path.join(rejects, files[0]), encoding="utf-8") as f:
            return [json.loads(l) for l in f]

    def migrate(self, *extra, check):
        url, drop = s.new_database("bad")
        self.addCleanup(drop)
        rejects = tempfile.mkdtemp(prefix="c2p-rejects-")
        self.addCleanup(shutil.rmtree, rejects, True)
        args = ["--from", self.dir, "--to", url, "--reject-dir", rejects, "--index", "none"]
        p = s.run("--json", "migrate", *args, *extra)
        self.assertEqual(p.returncode, check, p.stderr[-3000:])
        return url, rejects, args, p

    def test_fail_lists_all_and_writes_nothing_then_resume_with_skip(self):
        url, rejects, args, p = self.migrate(check=1)
        self.assertIn("--on-bad-record=skip", p.stderr)
        lines = self.reject_lines(rejects)
        self.assertEqual({l["id"] for l in lines}, self.bad_ids)
        self.assertIsNone(r.table_of(url, self.name), "nothing may be registered")
        staging = s.pg_query(url, "SELECT tablename FROM pg_tables WHERE tablename LIKE '%\\_\\_load'")
        self.assertEqual(len(staging), 1)
        self.assertEqual(s.pg_query(url, 'SELECT count(*) FROM "%s"' % staging[0][0])[0][0], 0, "half-written")
        # the stopped run is resumable: continue it, skipping the bad records this time
        p = s.run("--json", "migrate", *args, "--resume", "--on-bad-record", "skip")
        self.assertEqual(p.returncode, 1, p.stderr[-3000:])
        self.assertEqual({l["id"] for l in self.reject_lines(rejects)}, self.bad_ids, "no duplicates after resume")
        r.assert_parity(self, url, self.name, self.want)

    def test_skip_migrates_the_rest_and_rejects_exactly_the_bad(self):
        url, rejects, args, p = self.migrate("--on-bad-record", "skip", check=1)
        out = json.loads(p.stdout)
        c = out["collections"][0]
        self.assertEqual(c["rejected"], len(self.bad_ids))
        self.assertEqual(c["records_written"] + c["rejected"], GOOD + 3)
        lines = self.reject_lines(rejects)
        self.assertEqual(len(lines), len(self.bad_ids))
        by_id = {l["id"]: l for l in lines}
        self.assertEqual(set(by_id), self.bad_ids)
        self.assertTrue(all(l["action"] == "rejected" for l in lines))
        ids = sorted(self.crafted)
        self.assertIn("NaN", by_id[ids[0]]["reason"])
        self.assertEqual(by_id[ids[0]]["record"]["embedding"][0], "NaN")
        self.assertIn("non-finite", by_id[ids[1]]["reason"])
        self.assertEqual(by_id[ids[1]]["record"]["metadata"]["f"], "Infinity")
        self.assertIn("UTF-8", by_id[ids[2]]["reason"])
        self.assertEqual(base64.b64decode(by_id[ids[2]]["raw_base64"]["document"]), b"A\xffB")
        self.assertEqual(by_id[ids[2]]["record"]["document"], "A\ufffdB")
        self.assertEqual(base64.b64decode(by_id[ids[3]]["raw_base64"]["metadata/s"]), b"\xc3")
        self.assertIn("NUL", by_id["nul-doc"]["reason"])
        self.assertEqual(by_id["nul-doc"]["record"]["document"], "before\u0000after")
        self.assertIn("bytes", by_id[LONG_ID]["reason"])
        r.assert_parity(self, url, self.name, self.want)
        bad = json.loads(s.pg_query(url, "SELECT bad_records::text FROM chroma_collections")[0][0])
        self.assertEqual(bad["rejected"], len(self.bad_ids))

    def test_escape_nul_stores_nul_text_losslessly(self):
        url, rejects, args, p = self.migrate("--on-bad-record", "skip", "--escape-nul", check=1)
        c = json.loads(p.stdout)["collections"][0]
        self.assertEqual((c["rejected"], c["escaped"]), (len(self.bad_ids) - 2, 2))
        table = r.table_of(url, self.name)
        doc = s.pg_query(url, 'SELECT document FROM "%s" WHERE id = %%s' % table, ("nul-doc",))[0][0]
        self.assertEqual(doc, "before\u2400after")
        meta = s.pg_query(url, 'SELECT metadata::text FROM "%s" WHERE id = %%s' % table, ("nul-meta",))[0][0]
        self.assertEqual(json.loads(meta), {"k": "v\u2400w"})
        lines = {l["id"]: l for l in self.reject_lines(rejects)}
        self.assertEqual(lines["nul-doc"]["action"], "escaped")
        self.assertEqual(lines["nul-doc"]["record"]["document"], "before\u0000after")
        self.assertEqual(s.pg_query(url, 'SELECT count(*) FROM "%s"' % table)[0][0], GOOD - 4 + 2)


class BadRecordsInLayouts(unittest.TestCase):
    """The framework layouts check records as the native layout does: `fail` lists every bad record and
    writes nothing of the collection (its one transaction is rolled back); `skip` loads the rest, exit 1,
    the reject file holding exactly the bad ones; `--escape-nul` stores NUL text as U+2400, which verify
    matches against the source, and which sync then finds unchanged."""
    setUpClass = BadRecords.__dict__["setUpClass"]
    tearDownClass = BadRecords.__dict__["tearDownClass"]
    reject_lines = BadRecords.reject_lines
    LAYOUTS = ["langchain", "llamaindex", "langchainjs", "llamaindex-ts", "mastra", "pgvectorstore"]

    def run_layout(self, layout, *extra, check):
        url, drop = s.new_database("badl")
        self.addCleanup(drop)
        rejects = tempfile.mkdtemp(prefix="c2p-rejects-")
        self.addCleanup(shutil.rmtree, rejects, True)
        p = s.run("--json", "migrate", "--from", self.dir, "--to", url, "--layout", layout, "--reject-dir", rejects,
                  "--index", "none", *extra)
        self.assertEqual(p.returncode, check, p.stderr[-3000:])
        return url, rejects, p

    def completeness(self, url, layout):
        v = s.run("--json", "verify", "--from", self.dir, "--to", url, "--layout", layout, "--collections", self.name)
        self.assertEqual(v.returncode, 1, v.stderr[-2000:])
        return json.loads(v.stdout)["collections"][0]["completeness"]

    def test_fail_skip_and_escape_in_every_layout(self):
        n_bad = len(self.bad_ids)
        for layout in self.LAYOUTS:
            with self.subTest(layout=layout):
                url, rejects, p = self.run_layout(layout, check=1)
                self.assertIn("--on-bad-record=skip", p.stderr)
                self.assertEqual({l["id"] for l in self.reject_lines(rejects)}, self.bad_ids)
                self.assertEqual(self.completeness(url, layout)["target_records"], 0, "half-written")

                url, rejects, p = self.run_layout(layout, "--on-bad-record", "skip", "--escape-nul", check=1)
                c = json.loads(p.stdout)["collections"][0]
                self.assertEqual((c["rejected"], c["escaped"]), (n_bad - 2, 2), c)
                self.assertEqual(c["records_written"], GOOD - len(self.crafted) + 2, c)
                lines = {l["id"]: l for l in self.reject_lines(rejects)}
                self.assertEqual(set(lines), self.bad_ids)
                self.assertEqual(lines["nul-doc"]["action"], "escaped")
                self.assertEqual(lines["nul-doc"]["record"]["document"], "before\u0000after")
                self.assertIn("NaN", lines[sorted(self.crafted)[0]]["reason"])
                # Exactly the rejected are missing; the escaped rows equal the source escaped as stored.
                comp = self.completeness(url, layout)
                self.assertEqual((comp["missing"], comp["extra"], comp["different"]), (n_bad - 2, 0, 0), comp)
                # sync sees the same: the escaped rows unchanged, the bad ones rejected, nothing deleted.
                sargs = ["--from", self.dir, "--to", url, "--layout", layout, "--reject-dir", rejects]
                p = s.run("--json", "sync", *sargs)
                self.assertEqual(p.returncode, 1, p.stderr[-2000:])
                self.assertIn("nothing was changed", p.stderr)
                p = s.run("--json", "sync", *sargs, "--on-bad-record", "skip", "--escape-nul")
                self.assertEqual(p.returncode, 1, p.stderr[-2000:])
                c = json.loads(p.stdout)["collections"][0]
                self.assertEqual((c["inserted"], c["updated"], c["deleted"], c["rejected"], c["escaped"]),
                                 (0, 0, 0, n_bad - 2, 2), c)


class BadRecordsFromServer(unittest.TestCase):
    def test_server_source_skip(self):
        s.require_env(self)
        chroma = s.Chroma(s.CHROMA_URL)
        name = "bad-srv-" + uuid.uuid4().hex[:6]
        col, want = r.fill(chroma, name, 50, 4, seed=8)
        self.addCleanup(chroma.delete_collection, name)
        chroma.add(col["id"], ["nul", LONG_ID], [[1.0] * 4] * 2, ["a\u0000", "ok"])
        url, drop = s.new_database("bad")
        self.addCleanup(drop)
        rejects = tempfile.mkdtemp(prefix="c2p-rejects-")
        self.addCleanup(shutil.rmtree, rejects, True)
        p = s.run("--json", "migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", name,
                  "--reject-dir", rejects, "--on-bad-record", "skip")
        self.assertEqual(p.returncode, 1, p.stderr)
        c = json.loads(p.stdout)["collections"][0]
        self.assertEqual((c["records_written"], c["rejected"]), (50, 2))
        r.assert_parity(self, url, name, want)


if __name__ == "__main__":
    unittest.main()
