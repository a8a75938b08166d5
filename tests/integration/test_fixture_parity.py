"""Fixture parity: every real Chroma directory in tests/fixtures/chroma-real (written by users'
Chroma 0.4.4 ... 1.5), read by chroma2pg's persistent source (the dump_source tool), equals record
for record what the newest Chroma that can open a copy of it returns through its API: the
collections (ids, names, record counts) and every record's id, embedding bit for bit (float32),
document, uri and metadata with its types (1 != 1.0 != True, arrays).

Which Chroma reads a fixture: the current one (npm chromadb 3.5.0, the server of Chroma 1.3-1.5
users) opens every era, so it is the reference for all of them; Chroma 1.0 aborts on the 1.3 and
1.5 directories. Chroma migrates a directory when it opens it, so it only ever sees a copy;
chroma2pg reads the fixture itself, whose bytes must not change. Right after migrating an old
directory the current Chroma sometimes panics on its first read (seen: sysdb sqlite.rs
ColumnNotFound("bool_value") on 0.4-era directories, a different one each run): the read is
retried once after a restart on the migrated copy.

The deliberately damaged fixture (DAMAGED: its HNSW segment folder was never committed, so 999 of
its 1000 vectors are gone and only the write-ahead log still holds one) is compared as far as
Chroma can read it: both refuse the whole collection with its embeddings (Chroma: HTTP 500;
chroma2pg: exit 1 naming the folder), Chroma's ids without embeddings are exactly chroma2pg's
salvaged plus unrecoverable ids, and the one salvaged record equals Chroma's get of that id.
"""
import http.client
import os
import shutil
import unittest

import support
from support import API

DAMAGED = "v0.5.6__ironhack-labs__lab-langchain-med__chroma"
DAMAGED_SALVAGED = ["id999"]
FIXTURE_COUNT = 16


def fixture_dirs():
    if not os.path.isdir(support.FIXTURES):
        raise RuntimeError("real-Chroma fixtures missing at %s" % support.FIXTURES)
    return sorted(n for n in os.listdir(support.FIXTURES)
                  if os.path.isfile(os.path.join(support.FIXTURES, n, "chroma.sqlite3")))


def from_chroma(got):
    """{id: (embedding bits, document, uri, typed metadata)} from Chroma's get answer."""
    out = {}
    for i, rid in enumerate(got["ids"]):
        emb = got["embeddings"][i]
        meta = got["metadatas"][i]
        out[rid] = (None if emb is None else [support.f32_hex(x) for x in emb], got["documents"][i],
                    got["uris"][i], {k: support.typed(v) for k, v in meta.items()} if meta else None)
    return out


def from_dump(recs):
    """The same shape from dump_source's records."""
    return {rid: (r["embedding"], r["document"], r["uri"],
                  {k: support.typed_dump(v) for k, v in r["metadata"].items()} if r["metadata"] else None)
            for rid, r in recs.items()}


class ChromaOnACopy:
    """A Chroma server of `version` on a copy of a fixture; stopped (SIGKILL after a short grace)
    and removed on exit."""

    def __init__(self, version, fixture):
        self.version, self.fixture = version, fixture

    def __enter__(self):
        self.server = support.ChromaServer(self.version, copy_of=self.fixture)
        return self

    def read(self):
        """([collection], {collection id: get_all answer}); one retry after a restart (see above)."""
        for attempt in (1, 2):
            chroma = support.Chroma(self.server.url)
            try:
                listed = chroma.call("GET", API + "/collections")
                return listed, {c["id"]: chroma.get_all(c["id"]) for c in listed}
            except (ConnectionError, http.client.HTTPException):
                if attempt == 2:
                    raise
                self.server.restart()

    def __exit__(self, *exc):
        self.server.stop()
        shutil.rmtree(self.server.tmp, ignore_errors=True)


class FixtureParity(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        support.chroma_servers()  # both servers installed and running, or fail here
        cls.names = fixture_dirs()

    def test_fixture_set(self):
        self.assertEqual(len(self.names), FIXTURE_COUNT, self.names)
        self.assertIn(DAMAGED, self.names)

    def compare_collections(self, name, listed, gets, infos, recs):
        self.assertEqual(sorted((c["id"], c["name"]) for c in listed),
                         sorted((i["id"], i["name"]) for i in infos.values()), name)
        for c in listed:
            want = from_chroma(gets[c["id"]])
            got = from_dump(recs[c["id"]])
            label = "%s / %s" % (name, c["name"])
            self.assertEqual(infos[c["id"]]["record_count"], len(want), label)
            self.assertEqual(sorted(want), sorted(got), label + ": ids differ")
            diff = [rid for rid in want if want[rid] != got[rid]]
            for rid in diff[:3]:
                self.assertEqual(want[rid], got[rid], "%s: record %r (%d records differ)" % (label, rid, len(diff)))
        return len(listed)

    def test_every_fixture_equals_the_newest_chroma(self):
        compared = 0
        for name in self.names:
            if name == DAMAGED:
                continue
            with self.subTest(fixture=name):
                path = os.path.join(support.FIXTURES, name)
                before = support.tree_hash(path)
                code, err, infos, recs = support.dump_source(path)
                self.assertEqual(code, 0, err)
                for info in infos.values():
                    self.assertEqual(info["details"]["status"], "ok", (name, info["warnings"]))
                with ChromaOnACopy("current", path) as chroma:
                    listed, gets = chroma.read()
                self.assertGreater(self.compare_collections(name, listed, gets, infos, recs), 0)
                self.assertEqual(before, support.tree_hash(path), "%s: fixture bytes changed" % name)
                compared += 1
        self.assertEqual(compared, FIXTURE_COUNT - 1)

    def test_damaged_fixture(self):
        path = os.path.join(support.FIXTURES, DAMAGED)
        code, err, _, _ = support.dump_source(path)
        self.assertEqual(code, 1, err)
        self.assertIn("HNSW segment folder 3a5b912e-9b8d-4411-9261-fa2e4de21e2d is missing", err)
        self.assertIn("1000 of 1000 records have no vector", err)
        code, err, infos, recs = support.dump_source(path, "--salvage")
        self.assertEqual(code, 0, err)
        (cid, info), = infos.items()
        self.assertEqual(sorted(recs[cid]), DAMAGED_SALVAGED)
        with ChromaOnACopy("current", path) as server:
            chroma = support.Chroma(server.server.url)
            col = chroma.collection(info["name"])
            self.assertEqual(col["id"], cid)
            with self.assertRaisesRegex(RuntimeError, "HTTP 500"):
                chroma.get_all(cid)
            every = chroma.call("POST", API + "/collections/%s/get" % cid,
                                {"include": ["documents"], "limit": 100000})["ids"]
            self.assertEqual(len(every), 1000)
            self.assertEqual(sorted(every), sorted(info["details"]["unrecoverable_ids"] + DAMAGED_SALVAGED))
            one = chroma.call("POST", API + "/collections/%s/get" % cid,
                              {"ids": DAMAGED_SALVAGED, "include": ["embeddings", "documents", "metadatas", "uris"]})
            self.assertEqual(from_chroma(one), from_dump(recs[cid]))


if __name__ == "__main__":
    unittest.main()
