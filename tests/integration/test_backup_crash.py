"""kill -9 during a backup: nothing that looks complete is left, and the next run succeeds
(removing the leftover)."""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import uuid

import support
from support import Chroma, run, run_json


class BackupCrash(unittest.TestCase):
    N, DIM = 30000, 128

    @classmethod
    def setUpClass(cls):
        support.require_env(cls)
        cls.chroma = Chroma(support.CHROMA_URL)
        cls.name = "bkc-" + uuid.uuid4().hex[:10]
        c = cls.chroma.create_collection(cls.name, space="l2")
        rng = random.Random(5)
        step = 2500
        for s in range(0, cls.N, step):
            ids = ["c-%06d" % i for i in range(s, s + step)]
            embs = [[support.f32(rng.uniform(-1, 1)) for _ in range(cls.DIM)] for _ in ids]
            docs = ["document %d" % i for i in range(s, s + step)]
            metas = [{"i": i, "f": i / 7.0} for i in range(s, s + step)]
            cls.chroma.add(c["id"], ids, embs, docs, metas)
        cls.tmp = tempfile.mkdtemp(prefix="c2p-backup-crash-")

    @classmethod
    def tearDownClass(cls):
        cls.chroma.delete_collection(cls.name)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_kill9_then_rerun(self):
        out = os.path.join(self.tmp, "out")
        args = [support.BIN, "backup", "--from", support.CHROMA_URL, "--out", out, "--collections", self.name,
                "--format", "jsonl,json,pickle", "--compress", "zstd", "--batch-size", "500"]
        killed_mid_run = 0
        for delay in (1.0, 0.5, 2.0):
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                killed_mid_run += 1
            p.wait()
            # Nothing that looks complete, and nothing that passes verify, unless the run had finished.
            for d in os.listdir(out) if os.path.isdir(out) else []:
                full = os.path.join(out, d)
                if d.startswith("chroma_backup_"):
                    self.assertEqual(p.returncode, 0, "a killed run left %s" % d)
                else:
                    self.assertTrue(d.startswith(".chroma_backup_") and ".partial-" in d, d)
                    v = run("backup", "verify", full)
                    self.assertEqual(v.returncode, 1, "a partial directory passes verify: " + v.stderr)
            if p.returncode == 0:
                shutil.rmtree(out)
        self.assertGreater(killed_mid_run, 0, "the backup always finished before the kill; make it larger")
        leftovers = glob.glob(os.path.join(out, ".chroma_backup_*.partial-*"))
        self.assertTrue(leftovers)

        # The rerun succeeds, removes the leftovers of the dead runs, and its backup is whole.
        r = run("--json", "backup", "--from", support.CHROMA_URL, "--out", out, "--collections", self.name,
                "--format", "jsonl,pickle", "--compress", "zstd", check=0)
        res = json.loads(r.stdout)
        self.assertIn("leftover of an interrupted backup", r.stderr)
        self.assertEqual(res["totals"]["records"], self.N)
        self.assertEqual(sorted(os.listdir(out)), [os.path.basename(res["backup"])])
        v = run_json("backup", "verify", res["backup"])
        self.assertTrue(v["ok"])
        self.assertEqual(v["records"], 2 * self.N)


if __name__ == "__main__":
    unittest.main()
