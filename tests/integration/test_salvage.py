"""`migrate --salvage` over a real flushed Chroma directory whose data_level0.bin carries one HNSW label
on two live elements (damage hnswlib never writes): the ids involved are named in the salvage report,
the one whose vector the write-ahead log still holds gets that vector, the others are unrecoverable,
and no record is loaded with another record's vector."""
import json
import os
import shutil
import struct
import tempfile
import unittest

import support as s

FIXTURE = "v0.6.3__ironhack-labs__lab-langchain-med__chroma_persist"  # 1000 x 384-d, l2; the WAL holds id999
SEG = "e958bfb6-5569-49cc-bead-c6a1706aa306"


def embeddings(url):
    rows = s.pg_query(url, "SELECT table_name FROM chroma_collections")
    return {r[0]: tuple(r[1]) for r in s.pg_query(url, 'SELECT id, embedding::real[] FROM "%s"' % rows[0][0])}


class SalvageDuplicatedLabel(unittest.TestCase):
    def setUp(self):
        s.require_env(self)
        self.tmp = tempfile.mkdtemp(prefix="c2p-salvage-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.dir = os.path.join(self.tmp, "chroma")
        shutil.copytree(s.fixture_dir(FIXTURE), self.dir)
        for root, _, files in os.walk(self.dir):
            os.chmod(root, 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)

    def test_ambiguous_ids_are_named_and_never_get_another_vector(self):
        want_url, drop = s.new_database("salv")
        self.addCleanup(drop)
        s.run("migrate", "--from", self.dir, "--to", want_url, "--index", "none", check=0)
        want = embeddings(want_url)
        self.assertEqual(len(want), 1000)

        seg = os.path.join(self.dir, SEG)
        with open(os.path.join(seg, "header.bin"), "rb") as f:
            h = f.read()
        count, size, label_off, data_off = (struct.unpack_from("<Q", h, o)[0] for o in (20, 28, 36, 44))
        dim = (label_off - data_off) // 4
        # PostgreSQL prints float4 in shortest form: packing it back to float32 gives the stored bits
        by_vector = {struct.pack("<%df" % dim, *v): i for i, v in want.items()}
        with open(os.path.join(seg, "data_level0.bin"), "r+b") as f:
            data = bytearray(f.read())
            element, label = {}, {}
            for e in range(count):
                v = bytes(data[e * size + data_off:e * size + data_off + 4 * dim])
                rid = by_vector.get(v)
                if rid is None:  # not a record's vector as exported (e.g. garbage past the live elements)
                    continue
                element[rid], label[rid] = e, struct.unpack_from("<Q", data, e * size + label_off)[0]
            # id5's element now carries id999's label, id8's element id7's label
            struct.pack_into("<Q", data, element["id5"] * size + label_off, label["id999"])
            struct.pack_into("<Q", data, element["id8"] * size + label_off, label["id7"])
            f.seek(0)
            f.write(data)

        url, drop2 = s.new_database("salv")
        self.addCleanup(drop2)
        report = os.path.join(self.tmp, "salvage.json")
        p = s.run("migrate", "--from", self.dir, "--to", url, "--index", "none", "--salvage", "--salvage-report",
                  report, check=1)
        self.assertIn(report, p.stderr)
        with open(report) as f:
            rep = json.load(f)
        col = rep["collections"][0]
        self.assertEqual(col["unrecoverable_ids"], ["id5", "id7", "id8"])
        dup = [d for d in col["damage"] if d["kind"] == "label_duplicated"]
        self.assertEqual(len(dup), 1, col["damage"])
        self.assertEqual(dup[0]["ids"], ["id7", "id999"])
        self.assertIn("label that two or more live elements of data_level0.bin carry", dup[0]["message"])
        got = embeddings(url)
        self.assertEqual(len(got), 997)
        self.assertEqual(set(want) - set(got), {"id5", "id7", "id8"})
        wrong = [i for i in got if got[i] != want[i]]
        self.assertEqual(wrong, [], "records loaded with another record's vector")
        self.assertEqual(got["id999"], want["id999"])  # proven by the write-ahead log


if __name__ == "__main__":
    unittest.main()
