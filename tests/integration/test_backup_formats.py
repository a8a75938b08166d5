"""backup: every format (jsonl, json, pickle; plain and zstd) holds exactly what the Chroma server
holds, record for record, float32 bits and JSON types included, and loads with Python's stdlib."""
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import tempfile
import unittest
import uuid

import support
from support import Chroma, f32_bits, json_types_equal, run, run_json

SPACES = ("l2", "ip", "cosine")


def make_collection_set(chroma, tag, n=240, dims=(16, 8, 32)):
    """Three collections (l2, ip, cosine) of varied records plus an empty one; returns their names."""
    names = []
    for k, space in enumerate(SPACES):
        name = "bk-%s-%s-%s" % (tag, space, uuid.uuid4().hex[:8])
        meta = {"owner": "tests", "version": k + 1, "ratio": 0.5 + k, "whole": 2.0, "flag": k % 2 == 0,
                "texto": "añadido ✓"}
        c = chroma.create_collection(name, metadata=meta, space=space)
        ids, embs, docs, metas, uris = support.varied_records(n + 17 * k, dims[k], seed=11 + k, prefix="r%d" % k)
        chroma.add(c["id"], ids, embs, docs, metas, uris)
        names.append(name)
    empty = "bk-%s-empty-%s" % (tag, uuid.uuid4().hex[:8])
    chroma.create_collection(empty, space="cosine")
    names.append(empty)
    return names


def delete_all(chroma, names):
    for n in names:
        chroma.delete_collection(n)


def read_data_file(path):
    """The decoded bytes of a backup data file (zstd -d when compressed)."""
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-d", "-c", "-q", path], check=True, capture_output=True).stdout
    with open(path, "rb") as f:
        return f.read()


def load_records(path, fmt):
    """(collection header or None, list of record dicts, trailer record_count or None) via stdlib only."""
    data = read_data_file(path)
    if fmt == "jsonl":
        text = data.decode("utf-8")
        if not text:
            return None, [], None
        assert text.endswith("\n")
        return None, [json.loads(line) for line in text.split("\n")[:-1]], None
    if fmt == "json":
        doc = json.loads(data.decode("utf-8"))
        return doc["collection"], doc["records"], doc["record_count"]
    doc = pickle.loads(data)
    return doc["collection"], doc["records"], doc["record_count"]


def assert_plain(testcase, v):
    """Only stdlib plain types in a pickle: dict, list, str, int, float, bool, None."""
    if isinstance(v, dict):
        for k, x in v.items():
            testcase.assertIs(type(k), str)
            assert_plain(testcase, x)
    elif isinstance(v, list):
        for x in v:
            assert_plain(testcase, x)
    else:
        testcase.assertIn(type(v), (str, int, float, bool, type(None)))


def norm_meta(m):
    """Chroma 1.0's get answers {} instead of None for a record that has a uri but no metadata; the
    record model (and every backup format) writes None for both."""
    return None if m == {} else m


def compare_records(testcase, got_records, server, label, ulps=0):
    """got_records equal the server's get_all() answer, in content and types; embeddings bit for bit,
    or within `ulps` float32 steps when Chroma itself re-derives the vector (cosine: see below)."""
    want = support.as_records(server)
    testcase.assertEqual(len(got_records), len(want), label)
    seen = set()
    for r in got_records:
        testcase.assertEqual(set(r.keys()), {"id", "embedding", "document", "uri", "metadata"}, label)
        rid = r["id"]
        testcase.assertNotIn(rid, seen, label)
        seen.add(rid)
        testcase.assertIn(rid, want, label)
        emb, doc, uri, meta = want[rid]
        testcase.assertEqual(len(r["embedding"]), len(emb), "%s %s" % (label, rid))
        for a, b in zip(r["embedding"], emb):
            testcase.assertIs(type(a), float, label)
            if abs(f32_bits(a) - f32_bits(b)) > ulps or (ulps and (a < 0) != (b < 0) and a != 0 and b != 0):
                testcase.fail("%s %s: embedding bits differ: %r vs %r" % (label, rid, a, b))
        testcase.assertEqual(r["document"], doc, "%s %s" % (label, rid))
        testcase.assertEqual(r["uri"], uri, "%s %s" % (label, rid))
        if not json_types_equal(norm_meta(r["metadata"]), norm_meta(meta)):
            testcase.fail("%s %s: metadata %r != %r" % (label, rid, r["metadata"], meta))


class BackupFormats(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.require_env(cls)
        cls.chroma = Chroma(support.CHROMA_URL)
        cls.names = make_collection_set(cls.chroma, "fmt")
        cls.tmp = tempfile.mkdtemp(prefix="c2p-backup-fmt-")
        cls.server = {}
        cls.info = {}
        for n in cls.names:
            c = cls.chroma.collection(n)
            cls.info[n] = c
            cls.server[n] = cls.chroma.get_all(c["id"])

    @classmethod
    def tearDownClass(cls):
        delete_all(cls.chroma, cls.names)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def backup(self, *extra):
        out = os.path.join(self.tmp, uuid.uuid4().hex[:8])
        res = run_json("backup", "--from", support.CHROMA_URL, "--out", out,
                       "--collections", ",".join(self.names), "--batch-size", "100", *extra)
        path = res["backup"]
        self.assertTrue(os.path.isdir(path))
        self.assertRegex(os.path.basename(path), r"^chroma_backup_\d{8}T\d{6}Z$")
        self.assertEqual(os.path.dirname(path), out)
        self.assertEqual([e for e in os.listdir(out) if e != os.path.basename(path)], [],
                         "nothing but the finished backup is left in --out")
        return path, res

    def check_backup(self, path, formats, compressed):
        with open(os.path.join(path, "manifest.json")) as f:
            m = json.load(f)
        self.assertEqual(m["format"], "chroma2pg-backup")
        self.assertEqual(m["format_version"], 1)
        self.assertEqual(m["tool"]["name"], "chroma2pg")
        self.assertTrue(m["tool"]["version"])
        self.assertRegex(m["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(m["source"]["description"], support.CHROMA_URL.rstrip("/"))
        self.assertEqual(m["source"]["details"]["kind"], "chroma-server")
        by_name = {c["name"]: c for c in m["collections"]}
        self.assertEqual(set(by_name), set(self.names))
        listed = {"manifest.json"}
        for n in self.names:
            mc, info, server = by_name[n], self.info[n], self.server[n]
            self.assertEqual(mc["id"], info["id"])
            self.assertTrue(json_types_equal(mc["metadata"], info["metadata"]), (mc["metadata"], info["metadata"]))
            self.assertEqual(mc["space"], info["configuration_json"]["hnsw"]["space"])
            self.assertEqual(mc["configuration"], info["configuration_json"])
            self.assertEqual(mc["record_count"], len(server["ids"]))
            want_dim = len(server["embeddings"][0]) if server["ids"] else None
            self.assertEqual(mc["dimension"], want_dim)
            self.assertEqual(sorted(f["format"] for f in mc["files"]), sorted(formats))
            for f in mc["files"]:
                listed.add(f["path"])
                full = os.path.join(path, f["path"])
                self.assertEqual(f["compression"], "zstd" if compressed else "none")
                self.assertEqual(f["path"].endswith(".zst"), compressed)
                self.assertRegex(f["path"], r"^[A-Za-z0-9_-]+\.[0-9a-f]{32}\.(jsonl|json|pkl)(\.zst)?$")
                with open(full, "rb") as fh:
                    raw = fh.read()
                self.assertEqual(f["bytes"], len(raw))
                self.assertEqual(f["sha256"], hashlib.sha256(raw).hexdigest())
                self.assertEqual(f["records"], len(server["ids"]))
                header, records, count = load_records(full, f["format"])
                label = "%s %s" % (n, f["path"])
                if f["format"] == "pickle":
                    assert_plain(self, header)
                    assert_plain(self, records)
                if header is not None:
                    self.assertEqual(header["name"], n)
                    self.assertEqual(header["id"], info["id"])
                    self.assertEqual(header["space"], mc["space"])
                    self.assertTrue(json_types_equal(header["metadata"], info["metadata"]), label)
                    self.assertEqual(count, len(server["ids"]), label)
                compare_records(self, records, server, label)
        self.assertEqual(set(os.listdir(path)), listed)
        run("backup", "verify", path, check=0)

    def test_all_formats_plain(self):
        path, res = self.backup("--format", "jsonl,json,pickle")
        self.assertEqual(res["totals"]["records"], sum(len(s["ids"]) for s in self.server.values()))
        self.check_backup(path, ["jsonl", "json", "pickle"], compressed=False)

    def test_all_formats_zstd(self):
        path, _ = self.backup("--format", "jsonl,json,pickle", "--compress", "zstd")
        self.check_backup(path, ["jsonl", "json", "pickle"], compressed=True)

    def test_default_is_jsonl_and_backup_is_a_source(self):
        path, _ = self.backup()
        self.check_backup(path, ["jsonl"], compressed=False)
        got = run_json("inspect", "--from", path)
        self.assertEqual(got["source_details"]["kind"], "chroma2pg-backup")
        by_name = {c["name"]: c for c in got["collections"]}
        for n in self.names:
            self.assertEqual(by_name[n]["records"], len(self.server[n]["ids"]))
            self.assertEqual(by_name[n]["space"], self.info[n]["configuration_json"]["hnsw"]["space"])
            self.assertEqual(by_name[n]["id"], self.info[n]["id"])

    def test_pickle_only_backup_is_a_source(self):
        # No jsonl: the source reads the pickle; restore-free check via inspect + verify of a re-backup.
        path, _ = self.backup("--format", "pickle", "--compress", "zstd")
        out2 = os.path.join(self.tmp, "rebackup-" + uuid.uuid4().hex[:6])
        res = run_json("backup", "--from", path, "--out", out2, "--format", "jsonl")
        self.assertEqual(res["totals"]["records"], sum(len(s["ids"]) for s in self.server.values()))
        with open(os.path.join(res["backup"], "manifest.json")) as f:
            m = json.load(f)
        for mc in m["collections"]:
            _, records, _ = load_records(os.path.join(res["backup"], mc["files"][0]["path"]), "jsonl")
            compare_records(self, records, self.server[mc["name"]], "re-backup " + mc["name"])

    def test_usage_errors(self):
        p = run("backup", "--from", support.CHROMA_URL, "--out", self.tmp, "--collections", "no-such-collection-x")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("no-such-collection-x", p.stderr)
        p = run("backup", "--from", support.CHROMA_URL)
        self.assertEqual(p.returncode, 2, p.stderr)
        p = run("backup", "verify", os.path.join(self.tmp, "nope"))
        self.assertEqual(p.returncode, 2, p.stderr)


BackupFormatsOnCurrent = support.on_chroma("current", BackupFormats)


if __name__ == "__main__":
    unittest.main()


class BackupFromPersistentDir(unittest.TestCase):
    """The same backup from a Chroma persistent directory (read from disk, no server running)."""

    @classmethod
    def setUpClass(cls):
        support.require_env(cls)
        cls.server = support.ChromaServer()
        cls.chroma = Chroma(cls.server.url)
        cls.names = make_collection_set(cls.chroma, "dir", n=260)
        cls.want = {}
        cls.info = {}
        for n in cls.names:
            c = cls.chroma.collection(n)
            cls.info[n] = c
            cls.want[n] = cls.chroma.get_all(c["id"])
        cls.server.stop()
        cls.tmp = tempfile.mkdtemp(prefix="c2p-backup-dir-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        shutil.rmtree(cls.server.tmp, ignore_errors=True)

    def test_every_format_equals_the_server_view(self):
        res = run_json("backup", "--from", self.server.dir, "--out", self.tmp, "--format", "jsonl,json,pickle",
                       "--compress", "zstd")
        path = res["backup"]
        run("backup", "verify", path, check=0)
        with open(os.path.join(path, "manifest.json")) as f:
            m = json.load(f)
        self.assertEqual(m["source"]["description"].rstrip("/"), self.server.dir.rstrip("/"))
        by_name = {c["name"]: c for c in m["collections"]}
        self.assertEqual(set(by_name), set(self.names))
        for n in self.names:
            mc = by_name[n]
            self.assertEqual(mc["id"], self.info[n]["id"])
            self.assertEqual(mc["space"], self.info[n]["configuration_json"]["hnsw"]["space"])
            self.assertTrue(json_types_equal(mc["metadata"], self.info[n]["metadata"]))
            # Cosine: the server's get() returns normalised x norm (1 ulp off the added vector); the disk
            # reader may carry the vector as added. Either is within 2 ulps of the server's answer.
            ulps = 2 if mc["space"] == "cosine" else 0
            for f in mc["files"]:
                _, records, _ = load_records(os.path.join(path, f["path"]), f["format"])
                compare_records(self, records, self.want[n], "%s %s" % (n, f["path"]), ulps=ulps)
