"""restore safety: an interrupted restore is never continued from another backup (refused with exit 2
naming both, or discarded with --overwrite); a record Chroma refuses goes to the reject file while every
other record and collection is restored (exit 1); collection names PostgreSQL cannot hold exactly (NUL)
are refused before anything is written, and logged escaped."""
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import support
from support import Chroma, run, run_json



def origin_tag(backup_dir, collection_id):
    """The tag restore gives a staging collection filled from this backup's collection."""
    with open(os.path.join(backup_dir, "manifest.json"), "rb") as f:
        raw = f.read()
    made = json.loads(raw)["created_at"].replace("-", "").replace(":", "")
    h = hashlib.sha256(("manifest:" + hashlib.sha256(raw).hexdigest() + "\n" + collection_id).encode()).hexdigest()
    return made + "-" + h[:8]


def stagings(chroma, name):
    return [c for c in chroma.call("GET", support.API + "/collections?limit=1000")
            if c["name"].startswith(name + "-c2p-restoring")]


def count(chroma, cid):
    return chroma.call("GET", support.API + "/collections/%s/count" % cid)


class RestoreSafety(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.require_env(cls)
        cls.chroma = Chroma(support.CHROMA_URL)
        cls.tmp = tempfile.mkdtemp(prefix="c2p-rsafe-")
        cls.fresh = support.ChromaServer()
        cls.target = Chroma(cls.fresh.url)
        cls.made = []

    @classmethod
    def tearDownClass(cls):
        for n in cls.made:
            try:
                cls.chroma.delete_collection(n)
            except RuntimeError:
                pass
        cls.fresh.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        shutil.rmtree(cls.fresh.tmp, ignore_errors=True)

    def backup(self, name, label):
        out = os.path.join(self.tmp, label)
        return run_json("backup", "--from", support.CHROMA_URL, "--out", out, "--collections", name)["backup"]

    def test_interrupted_restore_is_not_continued_from_another_backup(self):
        n, dim = 20000, 16
        name = "mix-" + uuid.uuid4().hex[:8]
        c = self.chroma.create_collection(name)
        self.made.append(name)
        ids, embs, _, _, _ = support.varied_records(n, dim, seed=3)
        for i in range(0, n, 2000):
            self.chroma.add(c["id"], ids[i:i + 2000], embs[i:i + 2000], ["A %d" % k for k in range(i, min(n, i + 2000))])
        bk_a = self.backup(name, "a")
        time.sleep(1.1)  # another creation second, as two real backups have
        docs_b = ["A %d" % k if k % 2 else "B %d" % k for k in range(n)]
        changed = [k for k in range(n) if k % 2 == 0]
        for i in range(0, len(changed), 2000):
            part = changed[i:i + 2000]
            self.chroma.add(c["id"], [ids[k] for k in part], [embs[k] for k in part], [docs_b[k] for k in part],
                            op="upsert")
        bk_b = self.backup(name, "b")

        # Restore A, killed once the staging collection in the target holds part of it.
        p = subprocess.Popen([support.BIN, "restore", "--from", bk_a, "--to-chroma", self.fresh.url,
                              "--batch-size", "200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        partial, deadline = 0, time.time() + 300
        while time.time() < deadline and p.poll() is None:
            st = stagings(self.target, name)
            if st:
                partial = count(self.target, st[0]["id"])
                if 0 < partial < n:
                    break
            time.sleep(0.02)
        still_running = p.poll() is None
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.assertTrue(still_running, "the restore of A ended before it could be killed")
        st = stagings(self.target, name)
        self.assertEqual(len(st), 1, st)
        # A batch the server received before the kill may still land: wait until the count settles.
        partial, settled = count(self.target, st[0]["id"]), time.time() + 10
        while time.time() < settled:
            time.sleep(0.5)
            now = count(self.target, st[0]["id"])
            if now == partial:
                break
            partial = now
        self.assertTrue(0 < partial < n, partial)
        tag_a = origin_tag(bk_a, c["id"])
        self.assertTrue(st[0]["name"].endswith(tag_a), (st[0]["name"], tag_a))
        with self.assertRaises(RuntimeError):
            self.target.collection(name)

        # Restore B: refused before anything is written, naming both backups.
        r = run("restore", "--from", bk_b, "--to-chroma", self.fresh.url, "--batch-size", "200")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(bk_b, r.stderr)
        self.assertIn(tag_a[17:], r.stderr)  # A's tag (its manifest hash part)
        self.assertIn("--overwrite", r.stderr)
        self.assertNotIn("continuing", r.stderr)
        self.assertEqual([s["name"] for s in stagings(self.target, name)], [st[0]["name"]])
        self.assertEqual(count(self.target, st[0]["id"]), partial)

        # --overwrite: A's partial copy is discarded and the collection holds exactly B.
        res = run_json("restore", "--from", bk_b, "--to-chroma", self.fresh.url, "--batch-size", "2000", "--overwrite")
        self.assertFalse(res["collections"][0]["resumed"])
        self.assertEqual(res["collections"][0]["sent"], n)
        self.assertEqual(stagings(self.target, name), [])
        got = self.target.get_all(self.target.collection(name)["id"])
        self.assertEqual(sorted(got["ids"]), sorted(ids))
        want = dict(zip(ids, docs_b))
        wrong = [i for i, d in zip(got["ids"], got["documents"]) if want[i] != d]
        self.assertEqual(wrong, [], "%d records do not hold backup B's document" % len(wrong))
        # The finished collection carries no restore marker.
        meta = self.target.collection(name)["metadata"]
        self.assertFalse(meta and any("c2p" in k for k in meta), meta)

    def test_refused_value_is_rejected_and_the_rest_restored(self):
        # A backup of a current Chroma (1.5 holds arrays in metadata) restored into a Chroma 1.0, which refuses
        # arrays: that record is Chroma's to refuse, every other record and collection is restored.
        current = Chroma(dict(support.chroma_servers())["current"])
        names = ["rej%d-%s" % (k, uuid.uuid4().hex[:6]) for k in range(8)]
        expected = {}
        try:
            for k, nm in enumerate(names):
                c = current.create_collection(nm)
                ids, embs, docs, _, _ = support.varied_records(40, 8, seed=20 + k, prefix="r%d-" % k)
                metas = [{"i": j, "f": 0.5 + j} for j in range(40)]
                if k == 3:
                    metas[17] = {"i": 17, "tags": ["a", "b"]}
                    # DBL_MAX is sent as 1.7976931348623157e308 (positional it has 309 digits, which
                    # Chroma's parser refuses as "number out of range"): restored exactly.
                    metas[5] = {"i": 5, "f": sys.float_info.max}
                current.add(c["id"], ids, embs, docs, metas)
                expected[nm] = ids
            bad_id = expected[names[3]][17]
            out = os.path.join(self.tmp, "rej")
            bk = run_json("backup", "--from", current.url, "--out", out, "--collections", ",".join(names))["backup"]
        finally:
            for nm in names:
                try:
                    current.delete_collection(nm)
                except RuntimeError:
                    pass
        rejects = os.path.join(self.tmp, "rejects")
        v10 = Chroma(dict(support.chroma_servers())["1.0"])
        self.made.extend(names)  # cleaned from the shared 1.0 server by tearDownClass
        p = run("--json", "restore", "--from", bk, "--to-chroma", v10.url, "--reject-dir", rejects)
        self.assertEqual(p.returncode, 1, p.stderr)
        res = json.loads(p.stdout)
        self.assertEqual(len(res["collections"]), 8)
        for nm in names:
            got = v10.get_all(v10.collection(nm)["id"])
            want = [i for i in expected[nm] if i != bad_id]
            self.assertEqual(sorted(got["ids"]), sorted(want), nm)
            if nm == names[3]:
                meta = dict(zip(got["ids"], got["metadatas"]))[expected[nm][5]]
                self.assertEqual(meta["f"], sys.float_info.max, meta)
        row = [r for r in res["collections"] if r["name"] == names[3]][0]
        self.assertEqual(row["rejected"], 1)
        with open(row["reject_file"]) as f:
            lines = [json.loads(x) for x in f]
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(lines[0]["record"]["id"], bad_id)
        self.assertIn("did not match any variant", lines[0]["reason"])
        self.assertEqual(sorted(os.listdir(rejects)), [names[3] + ".rejects.jsonl"])
        self.assertIn(bad_id, p.stderr)
        self.assertIn("1 record(s) Chroma refused", p.stderr)


class NulNames(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.require_env(cls)
        cls.tmp = tempfile.mkdtemp(prefix="c2p-nul-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_names_differing_after_nul_are_refused_before_writing(self):
        src = os.path.join(self.tmp, "db")
        shutil.copytree(support.fixture_dir("v0.4.15__britster03__open-webui-latest__backend_data_vector_db"), src)
        db = sqlite3.connect(os.path.join(src, "chroma.sqlite3"))
        rows = db.execute("SELECT id FROM collections ORDER BY id").fetchall()
        db.execute("UPDATE collections SET name = ? WHERE id = ?", ("docs\x00one\x1b[2J", rows[0][0]))
        db.execute("UPDATE collections SET name = ? WHERE id = ?", ("docs\x00two", rows[1][0]))
        db.commit()
        self.assertEqual(db.execute("SELECT length(CAST(name AS BLOB)) FROM collections WHERE id = ?",
                                    (rows[1][0],)).fetchone()[0], 8)
        db.close()
        url, drop = support.new_database("nul")
        try:
            p = run("migrate", "--from", src, "--to", url)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("docs\\x00one\\x1b[2J", p.stderr)
            self.assertIn("docs\\x00two", p.stderr)
            self.assertNotIn("\x00", p.stderr)
            self.assertNotIn("\x1b", p.stderr)
            tables = support.pg_query(url, "SELECT table_schema, table_name FROM information_schema.tables "
                                           "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
            self.assertEqual(tables, [])
            # The other collections migrate when those two are left out.
            ok = [r[0] for r in rows[2:]]
            p = run("migrate", "--from", src, "--to", url, "--collections", ",".join(ok))
            self.assertEqual(p.returncode, 0, p.stderr)
            reg = support.pg_query(url, "SELECT count(*) FROM chroma_collections")
            self.assertEqual(reg[0][0], len(ok))
        finally:
            drop()


if __name__ == "__main__":
    unittest.main()
