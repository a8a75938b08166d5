"""`sync --follow`: rounds until stopped. Changes made in Chroma while it runs reach the target; the
stop file ends it with a final round and exit 0, the target then exactly the source (verify passes);
SIGTERM stops it cleanly at the next batch."""
import json
import os
import signal
import tempfile
import time
import unittest
import uuid

import resume_support as r
import support as s

N = 2000
DIM = 16


class SyncFollow(unittest.TestCase):
    def setUp(self):
        s.require_env(self)
        self.chroma = s.Chroma(s.CHROMA_URL)
        self.name = "follow-" + uuid.uuid4().hex[:6]
        col, _ = r.fill(self.chroma, self.name, N, DIM, seed=41)
        self.cid = col["id"]
        self.addCleanup(self.chroma.delete_collection, self.name)
        self.url, drop = s.new_database("follow")
        self.addCleanup(drop)
        s.run("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.name, "--index", "none",
              check=0)
        self.table = r.table_of(self.url, self.name)
        self.tmp = tempfile.mkdtemp(prefix="c2p-follow-")
        self.stop = os.path.join(self.tmp, "stop")

    def start(self):
        proc = r.popen("--json", "sync", "--follow", "--interval", "0.2", "--stop-file", self.stop, "--from",
                       s.CHROMA_URL, "--to", self.url, "--collections", self.name)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def change(self, tag):
        ids = sorted(self.chroma.get_all(self.cid)["ids"])
        added = ["%s-new-%d" % (tag, i) for i in range(5)]
        updated, deleted = ids[0:3], ids[10:14]
        self.chroma.add(self.cid, added, [[0.1 * i] * DIM for i in range(5)], ["%s %d" % (tag, i) for i in range(5)])
        self.chroma.call("POST", s.API + "/collections/%s/update" % self.cid,
                         {"ids": updated, "documents": ["%s rewritten %d" % (tag, i) for i in range(3)]})
        self.chroma.call("POST", s.API + "/collections/%s/delete" % self.cid, {"ids": deleted})
        return added, updated, deleted

    def wait_applied(self, proc, added, updated, deleted, tag):
        deadline = time.time() + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                self.fail("sync --follow ended early: %s" % (proc.communicate(),))
            rows = dict(s.pg_query(self.url, 'SELECT id, document FROM "%s" WHERE id = ANY(%%s)' % self.table,
                                   (added + updated + deleted,)))
            if (all(i in rows for i in added) and not any(i in rows for i in deleted)
                    and all((rows.get(i) or "").startswith(tag + " rewritten") for i in updated)):
                return
            time.sleep(0.2)
        self.fail("the changes did not reach the target while following")

    def test_changes_reach_the_target_and_the_stop_file_ends_it_exactly(self):
        proc = self.start()
        for tag in ("first", "second"):  # two batches of changes, each picked up by a later round
            self.wait_applied(proc, *self.change(tag), tag)
        # Written just before the stop file: only the final round (started after it) can apply it.
        self.chroma.add(self.cid, ["last-write"], [[0.75] * DIM], ["made right before the stop file"])
        open(self.stop, "w").close()
        out, err = proc.communicate(timeout=300)
        self.assertEqual(proc.returncode, 0, err[-3000:])
        res = json.loads(out)
        f = res["follow"]
        self.assertEqual(f["stopped_by"], "stop file", f)
        self.assertGreaterEqual(f["rounds"], 3, f)
        self.assertTrue(f["last_round"]["after_stop_file"], f)
        self.assertGreaterEqual(f["applied"], 2 * (5 + 3 + 4) + 1, f)
        self.assertIn("last round applied", err)
        self.assertIn("round 2:", err)
        want = s.as_records(self.chroma.get_all(self.cid))
        self.assertIn("last-write", want)
        r.assert_parity(self, self.url, self.name, want)
        r.run_verify(self, s.CHROMA_URL, self.url, self.name)

    def test_sigterm_stops_after_the_round_in_progress(self):
        proc = self.start()
        self.wait_applied(proc, *self.change("term"), "term")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
        self.assertEqual(proc.returncode, 0, err[-3000:])
        f = json.loads(out)["follow"]
        self.assertEqual(f["stopped_by"], "SIGTERM", f)
        self.assertFalse(f["last_round"]["after_stop_file"], f)
        r.assert_parity(self, self.url, self.name, s.as_records(self.chroma.get_all(self.cid)))

    def test_a_persistent_directory_is_read_afresh_each_round(self):
        # The directory a Chroma server serves: each round must see the server's latest writes (a round
        # reads a snapshot of chroma.sqlite3; one taken at start would apply nothing later).
        server = s.ChromaServer()
        self.addCleanup(server.stop)
        chroma = s.Chroma(server.url)
        name = "followdir-" + uuid.uuid4().hex[:6]
        col, _ = r.fill(chroma, name, 300, DIM, seed=43)
        url, drop = s.new_database("followdir")
        self.addCleanup(drop)
        s.run("migrate", "--from", server.dir, "--to", url, "--index", "none", check=0)
        # A long interval: the stop file ends the wait, so the final round is the one after the changes.
        proc = r.popen("--json", "sync", "--follow", "--interval", "600", "--stop-file", self.stop, "--from",
                       server.dir, "--to", url)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        head = ""
        while "round 1:" not in head:
            line = proc.stderr.readline()
            if not line:
                self.fail("sync --follow ended before its first round: " + head[-3000:])
            head += line
        ids = sorted(chroma.get_all(col["id"])["ids"])
        chroma.call("POST", s.API + "/collections/%s/update" % col["id"],
                    {"ids": ids[:7], "documents": ["after round 1: %d" % i for i in range(7)]})
        chroma.call("POST", s.API + "/collections/%s/delete" % col["id"], {"ids": ids[7:9]})
        open(self.stop, "w").close()
        out, err = proc.communicate(timeout=300)
        self.assertEqual(proc.returncode, 0, err[-3000:])
        f = json.loads(out)["follow"]
        self.assertTrue(f["last_round"]["after_stop_file"], f)
        self.assertEqual((f["rounds"], f["last_round"]["applied"]), (2, 7 + 2), f)
        r.assert_parity(self, url, name, s.as_records(chroma.get_all(col["id"])))

    def test_stop_file_only_with_follow(self):
        p = s.run("sync", "--stop-file", self.stop, "--from", s.CHROMA_URL, "--to", self.url)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--follow", p.stderr)


if __name__ == "__main__":
    unittest.main()
