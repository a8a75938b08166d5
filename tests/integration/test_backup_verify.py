"""backup verify: a sound backup passes; a flipped byte, a truncated file, a deleted file, an extra
file and an unfinished (.partial) directory are each found and named, with exit 1."""
import json
import os
import shutil
import tempfile
import unittest
import uuid

import support
from support import Chroma, run, run_json


class BackupVerify(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.require_env(cls)
        cls.chroma = Chroma(support.CHROMA_URL)
        cls.name = "bkv-" + uuid.uuid4().hex[:10]
        c = cls.chroma.create_collection(cls.name, metadata={"k": 1}, space="cosine")
        ids, embs, docs, metas, uris = support.varied_records(600, 24, seed=3)
        cls.chroma.add(c["id"], ids, embs, docs, metas, uris)
        cls.tmp = tempfile.mkdtemp(prefix="c2p-backup-verify-")
        cls.plain = run_json("backup", "--from", support.CHROMA_URL, "--out", os.path.join(cls.tmp, "plain"),
                             "--collections", cls.name, "--format", "jsonl,json,pickle")["backup"]
        cls.zst = run_json("backup", "--from", support.CHROMA_URL, "--out", os.path.join(cls.tmp, "zst"),
                           "--collections", cls.name, "--format", "jsonl,pickle", "--compress", "zstd")["backup"]

    @classmethod
    def tearDownClass(cls):
        cls.chroma.delete_collection(cls.name)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def copy(self, src):
        dst = os.path.join(self.tmp, "copy-" + uuid.uuid4().hex[:8], os.path.basename(src))
        shutil.copytree(src, dst)
        return dst

    def files(self, path):
        with open(os.path.join(path, "manifest.json")) as f:
            m = json.load(f)
        return {f["format"]: f["path"] for f in m["collections"][0]["files"]}

    def damaged(self, path, *must_name):
        p = run("backup", "verify", path)
        self.assertEqual(p.returncode, 1, "damage not detected:\n" + p.stdout + p.stderr)
        for s in must_name:
            self.assertIn(s, p.stderr)
        j = run("--json", "backup", "verify", path)
        self.assertEqual(j.returncode, 1)
        res = json.loads(j.stdout)
        self.assertFalse(res["ok"])
        self.assertTrue(res["problems"])
        return p.stderr

    def test_sound_backups_pass(self):
        for b in (self.plain, self.zst):
            res = run_json("backup", "verify", b)
            self.assertTrue(res["ok"], res)
            self.assertEqual(res["problems"], [])
            for f in res["files"]:
                self.assertEqual(f["records"], 600)

    def test_flipped_byte_in_jsonl(self):
        b = self.copy(self.plain)
        name = self.files(b)["jsonl"]
        path = os.path.join(b, name)
        with open(path, "r+b") as f:
            data = f.read()
            # Inside line 301: turn a digit of an embedding into a letter.
            pos = 0
            for _ in range(300):
                pos = data.index(b"\n", pos) + 1
            pos = data.index(b"[", pos) + 2
            f.seek(pos)
            f.write(b"x")
        err = self.damaged(b, name, "line 301", "SHA-256")

    def test_flipped_byte_in_pickle_and_json(self):
        b = self.copy(self.plain)
        for fmt in ("pickle", "json"):
            path = os.path.join(b, self.files(b)[fmt])
            with open(path, "r+b") as f:
                f.seek(os.path.getsize(path) // 2)
                c = f.read(1)
                f.seek(-1, 1)
                f.write(bytes([c[0] ^ 0x01]))
        self.damaged(b, self.files(b)["pickle"], self.files(b)["json"])

    def test_flipped_byte_in_zstd(self):
        b = self.copy(self.zst)
        name = self.files(b)["jsonl"]
        path = os.path.join(b, name)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            c = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([c[0] ^ 0x40]))
        self.damaged(b, name)

    def test_truncated_files(self):
        for src in (self.plain, self.zst):
            b = self.copy(src)
            name = self.files(b)["jsonl"]
            path = os.path.join(b, name)
            os.truncate(path, os.path.getsize(path) * 2 // 3)
            self.damaged(b, name)
            # Truncated exactly at a line end: still caught (record count and hash).
            b = self.copy(src)
            name = self.files(b)["pickle"]
            path = os.path.join(b, name)
            os.truncate(path, os.path.getsize(path) - 1)
            self.damaged(b, name)

    def test_truncated_at_line_boundary(self):
        b = self.copy(self.plain)
        name = self.files(b)["jsonl"]
        path = os.path.join(b, name)
        with open(path, "rb") as f:
            data = f.read()
        cut = data.rindex(b"\n", 0, len(data) - 1) + 1  # drop the last record, keep whole lines
        os.truncate(path, cut)
        err = self.damaged(b, name)
        self.assertIn("holds 599 records", err)

    def test_deleted_file(self):
        b = self.copy(self.plain)
        name = self.files(b)["json"]
        os.remove(os.path.join(b, name))
        err = self.damaged(b, name, "missing")

    def test_deleted_manifest_and_extra_file(self):
        b = self.copy(self.plain)
        with open(os.path.join(b, "stray.txt"), "w") as f:
            f.write("x")
        self.damaged(b, "stray.txt")
        os.remove(os.path.join(b, "manifest.json"))
        self.damaged(b, "manifest.json")

    def test_partial_directory_is_not_a_backup(self):
        parent = os.path.join(self.tmp, "partial-" + uuid.uuid4().hex[:6])
        dst = os.path.join(parent, ".chroma_backup_20200101T000000Z.partial-999999")
        shutil.copytree(self.plain, dst)
        self.damaged(dst, "unfinished")
        p = run("inspect", "--from", dst)
        self.assertNotEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main()
