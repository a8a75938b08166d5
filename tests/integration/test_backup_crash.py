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

    def wait_for_growing_backup(self, p, out, seen):
        """Polls until a directory in `out` not in `seen` holds a file that grew between two looks, while
        `p` still runs; returns the directory. Fails if `p` ends first."""
        sizes = {}
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if p.poll() is not None:
                self.fail("backup exited (%s) before a backup file grew: the kill cannot land mid-run" % p.returncode)
            for d in (os.listdir(out) if os.path.isdir(out) else []):
                d = os.path.join(out, d)
                if d in seen or not os.path.isdir(d):
                    continue
                for root, _, files in os.walk(d):
                    for f in files:
                        path = os.path.join(root, f)
                        try:
                            size = os.path.getsize(path)
                        except FileNotFoundError:
                            continue
                        if size > sizes.get(path, size):
                            return d
                        sizes[path] = size
            time.sleep(0.02)
        self.fail("no backup file grew within 600 s")

    def test_kill9_then_rerun(self):
        out = os.path.join(self.tmp, "out")
        args = [support.BIN, "backup", "--from", support.CHROMA_URL, "--out", out, "--collections", self.name,
                "--format", "jsonl,json,pickle", "--compress", "zstd", "--batch-size", "500"]
        partials = set()
        for _ in range(3):
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            partial = self.wait_for_growing_backup(p, out, partials)
            self.assertIsNone(p.poll(), "backup had exited before the kill")
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.assertEqual(p.returncode, -signal.SIGKILL, "the kill did not land mid-run")
            partials.add(partial)
            # Nothing that looks complete, and nothing that passes verify.
            self.assertRegex(os.path.basename(partial), r"^\.chroma_backup_.*\.partial-\d+$")
            for d in os.listdir(out):
                self.assertTrue(d.startswith(".chroma_backup_") and ".partial-" in d, "a killed run left %s" % d)
            v = run("backup", "verify", partial)
            self.assertEqual(v.returncode, 1, "a partial directory passes verify: " + v.stderr)
            # this run started by removing the previous run's leftover: only its own is there
            self.assertEqual(set(glob.glob(os.path.join(out, ".chroma_backup_*.partial-*"))), {partial})

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
