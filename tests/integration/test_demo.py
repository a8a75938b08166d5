"""The README's first command, scripts/demo.sh, end to end with the binary under test (--bin skips the
install and the build that scripts/test.sh has done): its own PostgreSQL + pgvector and Chroma, the
sample data, backup, migrate, verify, and the report it points to. And that --dir never deletes a
directory that is not an earlier demo's.

Environment: C2P_BIN, C2P_REPO (support.py). The demo starts and stops its own servers.
Run: python3 -m unittest -v tests/integration/test_demo.py
"""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

import support as s

DEMO = os.path.join(s.REPO, "scripts", "demo.sh")
RECORDS = 200
COLLECTIONS = {"products", "support_articles", "faq"}


def demo(*args):
    return subprocess.run([DEMO, "--bin", s.BIN, *args], capture_output=True, text=True, timeout=600)


class Demo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="c2p-demo-")
        cls.dir = os.path.join(cls.tmp, "demo")
        cls.out = demo("--dir", cls.dir, "--records", str(RECORDS))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_runs_and_points_to_a_passing_report(self):
        out = self.out
        self.assertEqual(out.returncode, 0, out.stdout[-3000:] + out.stderr[-3000:])
        m = re.search(r"^Report: (\S+) \(also report\.md and report\.json\)$", out.stdout, re.M)
        self.assertIsNotNone(m, out.stdout[-2000:])
        self.assertEqual(m.group(1), os.path.join(self.dir, "report", "report.html"))
        self.assertTrue(os.path.getsize(m.group(1)) > 0)
        with open(os.path.join(self.dir, "report", "report.json")) as f:
            report = json.load(f)
        self.assertEqual(report["kind"], "verify")
        self.assertEqual(report["verdict"], "PASS")
        self.assertEqual(report["totals"], {"collections": 3, "source_records": 3 * RECORDS,
                                            "target_records": 3 * RECORDS, "missing": 0, "extra": 0,
                                            "different": 0})
        self.assertEqual({c["name"] for c in report["collections"]}, COLLECTIONS)
        for c in report["collections"]:
            self.assertEqual(c["schema"]["index"]["method"], "hnsw", c["name"])
            self.assertTrue(c["schema"]["index"]["valid"], c["name"])

    def test_backs_up_every_record(self):
        manifests = glob.glob(os.path.join(self.dir, "backups", "chroma_backup_*", "manifest.json"))
        self.assertEqual(len(manifests), 1, self.out.stdout[-2000:])
        backup = os.path.dirname(manifests[0])
        with open(manifests[0]) as f:
            manifest = json.load(f)
        self.assertEqual({c["name"] for c in manifest["collections"]}, COLLECTIONS)
        for name in COLLECTIONS:
            lines = [f for f in os.listdir(backup) if f.startswith(name + ".") and f.endswith(".jsonl")]
            self.assertEqual(len(lines), 1, name)
            with open(os.path.join(backup, lines[0])) as f:
                ids = {json.loads(line)["id"] for line in f if line.strip()}
            self.assertEqual(len(ids), RECORDS, name)

    def test_stops_its_servers(self):
        with open(os.path.join(self.dir, "chroma.url")) as f:
            url = f.read().strip()
        port = int(url.rsplit(":", 1)[1])
        with socket.socket() as sock:
            self.assertNotEqual(sock.connect_ex(("127.0.0.1", port)), 0, "the demo's Chroma still listens on %d" % port)
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "pg", "data", "PG_VERSION")))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "pg", "data", "postmaster.pid")),
                         "the demo's PostgreSQL still runs")


class DemoDirectory(unittest.TestCase):
    def test_refuses_a_directory_that_is_not_a_demos(self):
        with tempfile.TemporaryDirectory(prefix="c2p-demo-") as d:
            keep = os.path.join(d, "precious.txt")
            with open(keep, "w") as f:
                f.write("not the demo's")
            out = demo("--dir", d)
            self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
            self.assertIn("is not empty and not an earlier demo's directory", out.stderr)
            self.assertEqual(os.listdir(d), ["precious.txt"])
            out = demo("--dir", keep)
            self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
            self.assertIn("is not a directory", out.stderr)
            with open(keep) as f:
                self.assertEqual(f.read(), "not the demo's")

    def test_names_a_missing_binary(self):
        out = subprocess.run([DEMO, "--bin", "/nonexistent/chroma2pg"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("/nonexistent/chroma2pg is not an executable chroma2pg", out.stderr)


if __name__ == "__main__":
    unittest.main()
