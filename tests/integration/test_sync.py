"""`sync` after adds, updates (embedding only, metadata only, document only), upserts and deletes in
the source: the target equals the source afterwards, only the changed rows were written (xmin), a
second sync changes nothing, and --dry-run reports the same counts while changing nothing."""
import json
import time
import unittest
import uuid

import psycopg2

import resume_support as r
import support as s

N = 3000
DIM = 16


class Sync(unittest.TestCase):
    def test_sync_applies_exactly_the_changes(self):
        s.require_env(self)
        chroma = s.Chroma(s.CHROMA_URL)
        name = "sync-" + uuid.uuid4().hex[:6]
        col, _ = r.fill(chroma, name, N, DIM, seed=21)
        self.addCleanup(chroma.delete_collection, name)
        url, drop = s.new_database("sync")
        self.addCleanup(drop)
        s.run("migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", name, "--index", "hnsw", check=0)
        table = r.table_of(url, name)
        before = dict(s.pg_query(url, 'SELECT id, xmin::text FROM "%s"' % table))
        cid = col["id"]
        ids = sorted(before)
        emb_only, meta_only, doc_only = ids[0:5], ids[10:17], ids[20:23]
        ups_existing, deleted = ids[30:34], ids[40:52]
        new_ids = ["new-%d" % i for i in range(9)]
        ups_new = ["ups-new-%d" % i for i in range(3)]
        chroma.add(cid, new_ids, [[0.25 * i] * DIM for i in range(9)], ["new doc %d" % i for i in range(9)],
                   [{"n": i} for i in range(9)])
        chroma.add(cid, emb_only, [[9.5 + i] * DIM for i in range(len(emb_only))], op="update")
        chroma.call("POST", s.API + "/collections/%s/update" % cid,
                    {"ids": meta_only, "metadatas": [{"changed": True, "i": 1000 + i} for i in range(len(meta_only))]})
        chroma.call("POST", s.API + "/collections/%s/update" % cid,
                    {"ids": doc_only, "documents": ["rewritten %d" % i for i in range(len(doc_only))]})
        up = ups_existing + ups_new
        chroma.add(cid, up, [[-1.0 - i] * DIM for i in range(len(up))], ["upserted %d" % i for i in range(len(up))],
                   [{"u": i} for i in range(len(up))], op="upsert")
        chroma.call("POST", s.API + "/collections/%s/delete" % cid, {"ids": deleted})

        want_new = len(new_ids) + len(ups_new)
        want_changed = len(emb_only) + len(meta_only) + len(doc_only) + len(ups_existing)
        dry = s.run_json("sync", "--from", s.CHROMA_URL, "--to", url, "--collections", name, "--dry-run")
        c = dry["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"]), (want_new, want_changed, len(deleted)), c)
        self.assertEqual(dict(s.pg_query(url, 'SELECT id, xmin::text FROM "%s"' % table)), before, "dry run wrote")

        res = s.run_json("sync", "--from", s.CHROMA_URL, "--to", url, "--collections", name)
        c = res["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"]), (want_new, want_changed, len(deleted)), c)
        self.assertEqual(c["unchanged"], N - want_changed - len(deleted))
        after = dict(s.pg_query(url, 'SELECT id, xmin::text FROM "%s"' % table))
        written = {i for i in after if before.get(i) != after[i]}
        self.assertEqual(written, set(emb_only + meta_only + doc_only + ups_existing + new_ids + ups_new))
        self.assertFalse(set(deleted) & set(after))

        want = s.as_records(chroma.get_all(cid))
        r.assert_parity(self, url, name, want)
        r.run_verify(self, s.CHROMA_URL, url, name)

        again = s.run_json("sync", "--from", s.CHROMA_URL, "--to", url, "--collections", name)
        c = again["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"], c["unchanged"]), (0, 0, 0, len(want)))
        self.assertEqual(dict(s.pg_query(url, 'SELECT id, xmin::text FROM "%s"' % table)), after)

    def test_sync_and_verify_on_a_table_whose_ids_use_a_locale_collation(self):
        # Tables migrated before ids became COLLATE "C" keep the database's collation; a locale
        # orders these ids differently from bytes ('a' < 'B' < 'b' against 'B' < 'a' < 'b').
        s.require_env(self)
        chroma = s.Chroma(s.CHROMA_URL)
        name = "sync-collation-" + uuid.uuid4().hex[:6]
        col = chroma.create_collection(name)
        self.addCleanup(chroma.delete_collection, name)
        ids = ["a", "B", "b", "a-1", "a_1", "Z", "e", "é", "10", "9", "x y", "X"]
        chroma.add(col["id"], ids, [[float(i), 1.0, -1.0, 0.5] for i in range(len(ids))],
                   ["doc %s" % i for i in ids], [{"n": n} for n in range(len(ids))])
        url, drop = s.new_database("sync")
        self.addCleanup(drop)
        s.run("migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", name, "--index", "none", check=0)
        table = r.table_of(url, name)
        s.pg_query(url, 'ALTER TABLE "%s" ALTER COLUMN id TYPE text COLLATE "und-x-icu"' % table)
        chroma.call("POST", s.API + "/collections/%s/update" % col["id"], {"ids": ["B"], "documents": ["changed"]})
        chroma.call("POST", s.API + "/collections/%s/delete" % col["id"], {"ids": ["a_1"]})
        chroma.add(col["id"], ["A"], [[7.0, 7.0, 7.0, 7.0]], ["new"], [{"n": 99}])
        res = s.run_json("sync", "--from", s.CHROMA_URL, "--to", url, "--collections", name)
        c = res["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"], c["unchanged"]), (1, 1, 1, len(ids) - 2), c)
        r.assert_parity(self, url, name, s.as_records(chroma.get_all(col["id"])))
        r.run_verify(self, s.CHROMA_URL, url, name)

    def test_sync_refuses_a_collection_that_was_never_migrated(self):
        s.require_env(self)
        chroma = s.Chroma(s.CHROMA_URL)
        name = "sync-unmigrated-" + uuid.uuid4().hex[:6]
        r.fill(chroma, name, 10, 4, seed=3)
        self.addCleanup(chroma.delete_collection, name)
        url, drop = s.new_database("sync")
        self.addCleanup(drop)
        p = s.run("sync", "--from", s.CHROMA_URL, "--to", url, "--collections", name)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("migrate", p.stderr)

    def test_jobs_sync_collections_side_by_side(self):
        """--jobs 2: while the first collection's table is locked (its sync waits), the second worker syncs
        the others; once the lock goes, every collection equals the source and the summary lists them in
        the order asked for, each with its own changes."""
        s.require_env(self)
        chroma = s.Chroma(s.CHROMA_URL)
        names = ["sync-jobs-%d-%s" % (i, uuid.uuid4().hex[:6]) for i in range(3)]
        cols = []
        for i, name in enumerate(names):
            cols.append(r.fill(chroma, name, 400, 8, seed=30 + i)[0])
            self.addCleanup(chroma.delete_collection, name)
        url, drop = s.new_database("sync")
        self.addCleanup(drop)
        args = ["--from", s.CHROMA_URL, "--to", url, "--collections", ",".join(names)]
        s.run("migrate", *args, "--index", "none")
        for i, col in enumerate(cols):  # collection i: 3 + i new, 2 removed
            new = ["new-%d-%d" % (i, k) for k in range(3 + i)]
            chroma.add(col["id"], new, [[0.5 * k] * 8 for k in range(len(new))], ["n"] * len(new))
            gone = [x[0] for x in s.pg_query(url, 'SELECT id FROM "%s" ORDER BY id LIMIT 2' % r.table_of(url, names[i]))]
            chroma.call("POST", s.API + "/collections/%s/delete" % col["id"], {"ids": gone})
        held = psycopg2.connect(url)
        self.addCleanup(held.close)
        held.cursor().execute('LOCK TABLE "%s" IN ACCESS EXCLUSIVE MODE' % r.table_of(url, names[0]))
        p = r.popen("--json", "sync", *args, "--jobs", 2)
        try:
            deadline = time.time() + 120
            last = names[2]
            while not s.pg_query(url, 'SELECT count(*) FROM "%s" WHERE id = \'new-2-4\'' % r.table_of(url, last))[0][0]:
                if p.poll() is not None or time.time() > deadline:
                    p.kill()
                    self.fail("the other collections were not synced while the first waited: " + p.communicate()[1][-3000:])
                time.sleep(0.2)
            self.assertIsNone(p.poll(), "the first collection's sync did not wait for its lock")
        finally:
            held.rollback()
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err[-3000:])
        got = json.loads(out)["collections"]
        self.assertEqual([c["name"] for c in got], names)
        self.assertEqual([(c["inserted"], c["deleted"]) for c in got], [(3, 2), (4, 2), (5, 2)])
        for name, col in zip(names, cols):
            r.assert_parity(self, url, name, s.as_records(chroma.get_all(col["id"])))


SyncOnCurrent = s.on_chroma("current", Sync)


if __name__ == "__main__":
    unittest.main()
