"""migrate --index-builds N: each collection's index build and swap runs on a session of its own while
the next collection loads, up to N at once (issue 21: where pgvector < 0.8.2 builds HNSW without
parallel workers, collections build side by side by default).

The proof holds one collection's build back: a session keeps its old table with ACCESS SHARE, so that
collection's swap waits to drop it. The collection the run takes first is the one held, so with one
build at a time nothing after it could finish; with --index-builds 2 the others are loaded, indexed
and swapped in while it waits, and the run ends exact once the lock goes."""
import json
import time
import unittest
import uuid

import psycopg2

import resume_support as r
import support as s

N, DIM, MORE = 3000, 16, 40
SWAPS_WAITING = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                 "AND query LIKE 'DROP TABLE%%'")


def wait_until(tc, p, url, sql, at_least, what):
    """Waits until `sql`'s count reaches `at_least` while migrate `p` runs: an observed event, not a sleep."""
    deadline = time.monotonic() + 300
    while s.pg_query(url, sql)[0][0] < at_least:
        tc.assertIsNone(p.poll(), "migrate ended before " + what)
        tc.assertLess(time.monotonic(), deadline, "never: " + what)
        time.sleep(0.02)


class IndexBuilds(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        tag = uuid.uuid4().hex[:6]
        cls.names = ["ib-%s-%s" % (tag, x) for x in "abc"]
        cls.cols = {}
        for i, name in enumerate(cls.names):
            cls.cols[name], _ = r.fill(cls.chroma, name, N, DIM, seed=40 + i)

    @classmethod
    def tearDownClass(cls):
        for name in getattr(cls, "cols", {}):
            cls.chroma.delete_collection(name)

    def test_a_held_build_does_not_hold_back_the_others(self):
        url, drop = s.new_database("ib")
        self.addCleanup(drop)
        args = ["migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", ",".join(self.names)]
        first = s.run_json(*args)
        self.assertEqual(first["index_builds"], 1) # pgvector >= 0.8.2 here: one at a time, in parallel
        order = [c["name"] for c in first["collections"]]
        held, others = order[0], order[1:]
        # The others gain records: their new counts show that their swaps happened.
        for name in others:
            ids, embs, docs, metas, uris = s.varied_records(MORE, DIM, seed=90, prefix="more-" + name)
            self.chroma.add(self.cols[name]["id"], ids, embs, docs, metas, uris)
        # The dry run plans what the run then does (as the run decides it: pgvector's policy, the server).
        plan = s.run_json(*args, "--replace", "--index-builds", "2", "--dry-run")
        self.assertEqual(plan["index_builds"], {"builds": 2, "why": "--index-builds 2"})
        self.assertEqual(s.run_json(*args, "--replace", "--dry-run")["index_builds"]["builds"], first["index_builds"])
        text = s.run(*args, "--replace", "--index-builds", "2", "--dry-run", check=0).stdout
        self.assertIn("index builds: up to 2 at once, each on its own session without parallel workers", text)
        holder = psycopg2.connect(url)
        self.addCleanup(holder.close)
        holder.cursor().execute('LOCK TABLE "%s" IN ACCESS SHARE MODE' % r.table_of(url, held))
        p = r.popen("--json", *args, "--replace", "--index-builds", "2")
        try:
            deadline = time.monotonic() + 300
            # The held collection's swap waits on the lock (its build is done, its DROP TABLE waits)...
            wait_until(self, p, url, SWAPS_WAITING, 1, "the held collection's swap waited on the lock")
            # ...while the others are loaded, indexed and swapped in on the other sessions.
            def swapped():
                return all(s.pg_query(url, "SELECT record_count FROM chroma_collections WHERE name = %s",
                                      (n,))[0][0] == N + MORE for n in others)
            while not swapped():
                self.assertIsNone(p.poll(), "migrate ended while a collection was held")
                self.assertLess(time.monotonic(), deadline,
                                "the other collections were not swapped in while the first one's swap waited")
                time.sleep(0.05)
            self.assertIsNone(p.poll(), "the held collection's swap did not wait")
            holder.rollback() # the lock goes: the held swap proceeds
            out, err = p.communicate(timeout=300)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err[-3000:])
        result = json.loads(out)
        self.assertEqual(result["index_builds"], 2)
        self.assertIn("--index-builds 2: up to 2 collections' indexes build at once", err)
        rows = {c["name"]: c["rows"] for c in result["collections"]}
        self.assertEqual(rows, {held: N, **{n: N + MORE for n in others}})
        for name in self.names:
            table = r.table_of(url, name)
            self.assertEqual(s.pg_query(url, 'SELECT count(*), count(DISTINCT id) FROM "%s"' % table)[0],
                             (rows[name], rows[name]))
            idx = s.pg_query(url, "SELECT count(*) FROM pg_indexes WHERE tablename = %s AND indexdef LIKE "
                                  "'%%USING hnsw%%'", (table,))[0][0]
            self.assertEqual(idx, 1, "no HNSW index on %s" % table)
        v = s.run("verify", "--from", s.CHROMA_URL, "--to", url, "--collections", ",".join(self.names),
                  "--queries", "5")
        self.assertEqual(v.returncode, 0, v.stdout[-3000:] + v.stderr[-3000:])
        # Every collection was indexed, none left behind.
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%%\\_\\_load'")[0][0], 0)

    def test_kill_with_two_builds_in_flight(self):
        """SIGKILL while two collections' swaps are in flight on their own sessions (each waits on a lock the
        test holds on its old table): neither is half-done, and --resume finishes all three exactly."""
        url, drop = s.new_database("ibk")
        self.addCleanup(drop)
        args = ["migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", ",".join(self.names)]
        first = s.run_json(*args)
        before = {c["name"]: c["rows"] for c in first["collections"]}
        held = [c["name"] for c in first["collections"]][:2]
        holders = []
        for name in held:
            h = psycopg2.connect(url)
            h.cursor().execute('LOCK TABLE "%s" IN ACCESS SHARE MODE' % r.table_of(url, name))
            holders.append(h)

        def release():
            for h in holders:
                h.close()
        self.addCleanup(release)
        p = r.popen("--json", *args, "--replace", "--index-builds", "2")
        wait_until(self, p, url, SWAPS_WAITING, 2, "two swaps waited side by side")
        r.kill_mid_run(self, p, url, after_kill=release)
        # Both swaps rolled back: the old tables are whole, the loads still open with every record checkpointed.
        for name in held:
            table = r.table_of(url, name)
            self.assertEqual(s.pg_query(url, 'SELECT count(*) FROM "%s"' % table)[0][0], before[name])
        loads = dict(s.pg_query(url, "SELECT name, status FROM chroma2pg_loads"))
        for name in held:
            self.assertEqual(loads[name], "loading")
        self.assertEqual(sum(r.checkpoints(url).values()), sum(before.values()))
        out = s.run_json(*args, "--resume", "--index-builds", "2")
        self.assertTrue(out["resumed"])
        self.assertEqual(sum(c["records_read"] for c in out["collections"]), 0)
        for name in self.names:
            table = r.table_of(url, name)
            self.assertEqual(s.pg_query(url, 'SELECT count(*), count(DISTINCT id) FROM "%s"' % table)[0],
                             (before[name], before[name]))
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%%\\_\\_load'")[0][0], 0)
        v = s.run("verify", "--from", s.CHROMA_URL, "--to", url, "--collections", ",".join(self.names),
                  "--queries", "5")
        self.assertEqual(v.returncode, 0, v.stdout[-3000:] + v.stderr[-3000:])

    def test_dry_run_of_a_resume_counts_the_builds_left(self):
        """After a kill that left one collection's swap undone and two finished, the dry run of the resume plans
        the index builds the resume will run: one (the collection left), not one per collection selected."""
        url, drop = s.new_database("ibd")
        self.addCleanup(drop)
        args = ["migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", ",".join(self.names)]
        first = s.run_json(*args)
        held = first["collections"][0]["name"]
        holder = psycopg2.connect(url)
        self.addCleanup(holder.close)
        holder.cursor().execute('LOCK TABLE "%s" IN ACCESS SHARE MODE' % r.table_of(url, held))
        p = r.popen("--json", *args, "--replace", "--index-builds", "2")
        # The held swap waits on the lock while the other two are indexed and swapped in.
        wait_until(self, p, url, "SELECT count(*) FROM chroma2pg_loads l JOIN chroma2pg_runs r USING (run_id) "
                                 "WHERE r.status = 'running' AND l.status = 'done'", 2,
                   "the other two collections were finished while one was held")
        self.assertEqual(s.pg_query(url, SWAPS_WAITING)[0][0], 1, "the held swap is not waiting")
        r.kill_mid_run(self, p, url, after_kill=holder.close)
        status = dict(s.pg_query(url, "SELECT name, status FROM chroma2pg_loads"))
        self.assertEqual(sorted(status.values()), ["done", "done", "loading"], status)
        self.assertEqual(status[held], "loading")
        plan = s.run_json(*args, "--resume", "--index-builds", "3", "--dry-run")
        self.assertEqual(plan["index_builds"]["builds"], 1, plan["index_builds"])
        done = {c["name"] for c in plan["collections"] if c.get("resume") == "done in the interrupted run"}
        self.assertEqual(done, set(self.names) - {held})
        left = [c for c in plan["collections"] if c["name"] == held][0]
        self.assertEqual(left["action"], "resume")
        self.assertRegex(left["resume"], r"^continues after \d+ committed records$")
        self.assertEqual(plan["problems"], [], "the dry run refuses what --resume does")
        # Without --resume the run would be refused, and so is its dry run.
        refused = s.run(*args, "--dry-run")
        self.assertEqual(refused.returncode, 2, refused.stderr[-2000:])
        self.assertIn("an interrupted migration exists", refused.stderr)
        out = s.run_json(*args, "--resume", "--index-builds", "3")
        self.assertEqual(out["index_builds"], plan["index_builds"]["builds"])
        self.assertEqual({c["name"]: c["status"] for c in out["collections"]},
                         {n: "resumed" if n == held else "done in the resumed run" for n in self.names})
        v = s.run("verify", "--from", s.CHROMA_URL, "--to", url, "--collections", ",".join(self.names),
                  "--queries", "5")
        self.assertEqual(v.returncode, 0, v.stdout[-3000:] + v.stderr[-3000:])

    def test_layouts_publish_one_at_a_time(self):
        p = s.run("migrate", "--from", s.CHROMA_URL, "--to", s.PG_URL, "--collections", self.names[0],
                  "--layout", "langchain", "--index-builds", "2")
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])
        self.assertIn("--index-builds 2: the langchain layout publishes its collections one at a time", p.stderr)

    def test_range(self):
        p = s.run("migrate", "--from", s.CHROMA_URL, "--to", s.PG_URL, "--index-builds", "-1")
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])
        self.assertIn("--index-builds must be 0..", p.stderr)


if __name__ == "__main__":
    unittest.main()
