"""A directory written by each real Chroma server (1.0 and the current one), read directly from disk by our persistent
source, must give exactly what the server's own `get` returns: ids, documents, uris, typed
metadata, and embeddings bit-for-bit (float32) — in all three spaces, with vectors in the HNSW
files (more than the 1000-record sync threshold) plus a tail only in the write-ahead log, and
updates/upserts/deletes on both sides of the last flush. Read while the server runs and after it
stops; the directory's bytes must not change because of us.

Environment: C2P_REPO (repo root), C2P_DUMP_SOURCE (the tests/tools/dump_source binary; default
$C2P_REPO/build/dump_source). Uses scripts/chroma-server.sh. Python stdlib only.
"""
import os
import random
import shutil
import struct
import subprocess
import tempfile
import unittest

import support

DUMP = support.DUMP
SERVER = support.CHROMA_SCRIPT
BASE = "/api/v2/tenants/default_tenant/databases/default_database"
DIM = 24


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


bits, typed, typed_dump = support.f32_hex, support.typed, support.typed_dump


class PersistentVsServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for what, path in (("scripts/chroma-server.sh", SERVER), ("dump_source (set C2P_DUMP_SOURCE)", DUMP)):
            if not os.path.exists(path):
                raise RuntimeError("%s missing at %s" % (what, path))
        cls.tmp = tempfile.mkdtemp(prefix="c2p-persist-server-")
        cls.data = os.path.join(cls.tmp, "chroma")
        os.makedirs(cls.data)
        url = subprocess.run([SERVER, "start", cls.data], check=True, capture_output=True, text=True,
                             env=dict(os.environ, CHROMA_VERSION=support.CHROMA_VERSION)).stdout.strip().splitlines()[-1]
        cls.api = support.Chroma(url)
        cls.running = True
        rnd = random.Random(42)
        cls.colls = {}
        for space in ("l2", "ip", "cosine"):
            c = cls.api.call("POST", BASE + "/collections", {
                "name": "coll_" + space,
                "metadata": {"owner": "test", "version": 3, "ratio": 0.5, "flag": True},
                "configuration": {"hnsw": {"space": space}},
            })
            cls.colls[space] = c
            cid = c["id"]

            def vec():
                return [f32(rnd.uniform(-1, 1)) for _ in range(DIM)]

            def meta(i):
                m = {"i": i, "f": i / 4.0, "whole": float(i % 3), "even": i % 2 == 0, "s": "rec-%d-é" % i}
                return m

            def add(lo, hi):
                ids = ["r%05d" % i for i in range(lo, hi)]
                body = {"ids": ids, "embeddings": [vec() for _ in ids], "metadatas": [meta(i) for i in range(lo, hi)],
                        "documents": [None if i % 7 == 0 else "doc %d ünïcode" % i for i in range(lo, hi)],
                        "uris": [("s3://b/%d" % i) if i % 5 == 0 else None for i in range(lo, hi)]}
                cls.api.call("POST", "%s/collections/%s/add" % (BASE, cid), body)

            for lo in range(0, 600, 200):
                add(lo, lo + 200)
            # Before the flush: updates, an upsert, deletes.
            cls.api.call("POST", "%s/collections/%s/update" % (BASE, cid), {
                "ids": ["r%05d" % i for i in range(0, 20)],
                "embeddings": [vec() for _ in range(20)],
                "metadatas": [{"s": None, "new": "u%d" % i} for i in range(20)]})
            cls.api.call("POST", "%s/collections/%s/delete" % (BASE, cid), {"ids": ["r%05d" % i for i in range(20, 30)]})
            for lo in range(600, 1300, 100):
                add(lo, lo + 100)
            # After the flush (WAL tail): updates, upserts (existing + new), deletes, adds.
            cls.api.call("POST", "%s/collections/%s/update" % (BASE, cid), {
                "ids": ["r%05d" % i for i in range(100, 130)],
                "documents": ["updated %d" % i for i in range(100, 130)],
                "metadatas": [{"f": 9.5, "even": None} for _ in range(30)]})
            cls.api.call("POST", "%s/collections/%s/upsert" % (BASE, cid), {
                "ids": ["r%05d" % i for i in range(1290, 1310)],
                "embeddings": [vec() for _ in range(20)],
                "metadatas": [{"ups": i} for i in range(1290, 1310)],
                "documents": ["upserted %d" % i for i in range(1290, 1310)]})
            cls.api.call("POST", "%s/collections/%s/delete" % (BASE, cid), {"ids": ["r%05d" % i for i in range(640, 650)]})
            add(1310, 1340)
        cls.expected = {}
        for space, c in cls.colls.items():
            got = cls.api.call("POST", "%s/collections/%s/get" % (BASE, c["id"]),
                               {"include": ["embeddings", "documents", "metadatas", "uris"], "limit": 100000})
            recs = {}
            for i, rid in enumerate(got["ids"]):
                recs[rid] = {"embedding": [bits(x) for x in got["embeddings"][i]], "document": got["documents"][i],
                             "uri": got["uris"][i] if got.get("uris") else None, "metadata": got["metadatas"][i]}
            cls.expected[c["id"]] = recs

    @classmethod
    def tearDownClass(cls):
        if cls.running:
            subprocess.run([SERVER, "stop", cls.data], capture_output=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def dump(self):
        code, err, infos, recs = support.dump_source(self.data)
        self.assertEqual(code, 0, err)
        return infos, recs

    def compare(self, label):
        infos, recs = self.dump()
        summary = {}
        for space, c in self.colls.items():
            cid = c["id"]
            info = infos[cid]
            self.assertEqual(info["space"], space, label)
            self.assertEqual(info["details"]["status"], "ok", info["warnings"])
            exp, got = self.expected[cid], recs.get(cid, {})
            self.assertEqual(sorted(exp), sorted(got), "%s %s: ids differ" % (label, space))
            self.assertEqual(info["record_count"], len(exp))
            vec_mismatch = []
            for rid, e in exp.items():
                g = got[rid]
                self.assertEqual(g["document"], e["document"], rid)
                self.assertEqual(g["uri"], e["uri"], rid)
                em = e["metadata"]
                gm = g["metadata"]
                if not em:
                    self.assertIsNone(gm, rid)
                else:
                    self.assertEqual({k: typed(v) for k, v in em.items()}, {k: typed_dump(v) for k, v in gm.items()},
                                     "%s %s %s metadata" % (label, space, rid))
                if g["embedding"] != e["embedding"]:
                    vec_mismatch.append(rid)
            summary[space] = (len(exp), info["details"]["vectors_from_hnsw"], info["details"]["vectors_from_wal"])
            self.assertEqual(vec_mismatch, [], "%s %s: %d embeddings differ bit-wise, e.g. %s" % (
                label, space, len(vec_mismatch), vec_mismatch[:5]))
            self.assertGreater(info["details"]["vectors_from_hnsw"], 900, summary)
            self.assertGreater(info["details"]["vectors_from_wal"], 0, summary)
        print("\n%s: records/hnsw/wal per space: %s" % (label, summary))

    def test_1_while_running_then_after_stop(self):
        before = support.tree_hash(self.data)
        self.compare("while running")
        # Our read must not have written a byte (the idle server does not write either).
        self.assertEqual(before, support.tree_hash(self.data))
        subprocess.run([SERVER, "stop", self.data], check=True, capture_output=True)
        type(self).running = False
        before = support.tree_hash(self.data)
        self.compare("after stop")
        self.assertEqual(before, support.tree_hash(self.data))


PersistentVsServerOnCurrent = support.on_chroma("current", PersistentVsServer)


if __name__ == "__main__":
    unittest.main()
