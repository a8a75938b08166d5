"""kill -9 `migrate --layout X` three times during the load of a 40,000-record persistent directory, each
time after more checkpoints committed, then finish it with --resume: for every framework layout, the last
run read fewer records than the collection holds (it continued from the checkpoints), every id is in the
layout's table exactly once, nothing of the load is left behind, and `verify --layout X` passes. Also a kill
while the loaded collection is being published (its index built, its transaction not committed): nothing of
it is visible, and --resume publishes it without reading the source again."""
import json
import os
import shutil
import time
import unittest
import uuid

import psycopg2

import resume_support as r
import support as s

N = 40000
DIM = 32

# Where each layout keeps a collection's ids: (table from the run's summary, or a fixed one; id column).
ID_SQL = {
    "langchain": 'SELECT id FROM langchain_pg_embedding',
    "llamaindex": 'SELECT node_id FROM "{table}"',
    "langchainjs": 'SELECT id FROM "{table}"',
    "llamaindex-ts": 'SELECT id FROM "{table}"',
    "mastra": 'SELECT vector_id FROM "{table}"',
    "pgvectorstore": 'SELECT langchain_id FROM "{table}"',
}


class FilledDirectory:
    """Mixin: a persistent directory of `n` records, written by a private Chroma server."""
    n = N

    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.server = s.ChromaServer()
        cls.chroma = s.Chroma(cls.server.url)
        cls.name = "lres-" + uuid.uuid4().hex[:6]
        cls.col, cls.want = r.fill(cls.chroma, cls.name, cls.n, DIM, seed=11, space="cosine")
        # The server is not needed again: its own directory, stopped, is the source (no copy, no restart).
        cls.server.stop()
        cls.persist = cls.server.dir
        cls.rejects = os.path.join(cls.server.tmp, "rejects")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.server.tmp, ignore_errors=True)


class KillAndResumeInLayouts(FilledDirectory, unittest.TestCase):
    def cycle(self, layout, seed):
        url, drop = s.new_database("lres")
        self.addCleanup(drop)
        # 2,500-record checkpoints: 16 per load, and each kill waits for 1-3 new ones. Every kill lands in the
        # load, so no vector index is built here; test_kill_while_publishing builds one and kills the publish.
        args = ["--from", self.persist, "--to", url, "--layout", layout, "--checkpoint-records", 2500,
                "--reject-dir", self.rejects, "--index", "none"]
        code, err, out = r.kill_resume_cycle(self, url, args, 3, seed, N)
        self.assertEqual(code, 0, err[-3000:])
        row = json.loads(out)["collections"][0]
        ids = [x[0] for x in s.pg_query(url, ID_SQL[layout].format(table=row["table"]))]
        self.assertEqual(len(ids), N, "rows in the %s table" % layout)
        self.assertEqual(set(ids), set(self.want), "ids in the %s table" % layout)
        # the load's own state is gone: no staging table, no open run, no checkpoints
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%\\_\\_load'")[0][0], 0)
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM chroma2pg_runs WHERE status = 'running'")[0][0], 0)
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM chroma2pg_checkpoints")[0][0], 0)
        v = s.run("--json", "verify", "--from", self.persist, "--to", url, "--layout", layout, "--queries", "5")
        self.assertEqual(v.returncode, 0, v.stdout[-3000:] + v.stderr[-3000:])
        comp = json.loads(v.stdout)["collections"][0]["completeness"]
        self.assertEqual((comp["target_records"], comp["missing"], comp["extra"], comp["different"]), (N, 0, 0, 0), comp)

    def test_langchain(self):
        self.cycle("langchain", seed=21)

    def test_llamaindex(self):
        self.cycle("llamaindex", seed=22)

    def test_langchainjs(self):
        self.cycle("langchainjs", seed=23)

    def test_llamaindex_ts(self):
        self.cycle("llamaindex-ts", seed=24)

    def test_mastra(self):
        self.cycle("mastra", seed=25)

    def test_pgvectorstore(self):
        self.cycle("pgvectorstore", seed=26)


class KillWhilePublishing(FilledDirectory, unittest.TestCase):
    # What is killed is the publish, after the whole load: 10,000 records (4 checkpoints) are enough.
    n = 10000

    def test_kill_while_publishing(self):
        # Each publish copies the staged rows into the layout's table in one transaction. langchain's also builds
        # its partial HNSW index on the shared table (killed after it, built again by the resume); mastra's
        # builds no vector index, so its kill lands right after the copy.
        for layout, index in (("langchain", "hnsw"), ("mastra", "none")):
            with self.subTest(layout=layout):
                url, drop = s.new_database("lpub")
                self.addCleanup(drop)
                args = ["--from", self.persist, "--to", url, "--layout", layout, "--checkpoint-records", 2500,
                        "--reject-dir", self.rejects, "--index", index]
                p = r.popen("--json", "migrate", *args)
                # Hold the staging table with ACCESS SHARE once it exists: the load goes on, but the publish
                # transaction, which drops it before its COMMIT, waits on this lock after the index build.
                deadline = time.monotonic() + 600
                staging = []
                while not staging:
                    self.assertIsNone(p.poll(), "migrate ended before its staging table was seen")
                    self.assertLess(time.monotonic(), deadline)
                    try:
                        staging = s.pg_query(url, "SELECT staging_table FROM chroma2pg_loads WHERE "
                                                  "to_regclass(quote_ident(staging_table)) IS NOT NULL")
                    except psycopg2.errors.UndefinedTable:
                        pass
                    time.sleep(0.01)
                holder = psycopg2.connect(url)
                holder.cursor().execute('LOCK TABLE "%s" IN ACCESS SHARE MODE' % staging[0][0])
                # The kill lands inside the publish: its session waits on the lock to drop the staging table.
                while not s.pg_query(url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                          "AND query LIKE 'DROP TABLE%'")[0][0]:
                    self.assertIsNone(p.poll(), "migrate ended before its publish reached the staging table's drop")
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.01)
                r.kill_mid_run(self, p, url, after_kill=holder.close)
                # All of it staged and checkpointed, none of it published.
                self.assertEqual(sum(r.checkpoints(url).values()), self.n)
                self.assertEqual(s.pg_query(url, "SELECT status FROM chroma2pg_loads")[0][0], "loading")
                published = s.pg_query(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND "
                                            "tablename NOT LIKE 'chroma2pg%' AND tablename NOT LIKE '%\\_\\_load'")[0][0]
                self.assertEqual(published, 0, "a table of the layout exists after the publish was killed")
                # A resume must publish where the run began: another --layout is refused, changing nothing.
                other = s.run("migrate", *[x if x != layout else "llamaindex-ts" for x in args], "--resume")
                self.assertEqual(other.returncode, 2, other.stderr[-2000:])
                self.assertIn("layout", other.stderr)
                # The dry run refuses what the run would refuse: going on without --resume.
                plan = s.run("migrate", *args, "--dry-run")
                self.assertEqual(plan.returncode, 2, plan.stderr[-2000:])
                self.assertIn("an interrupted migration exists", plan.stderr)
                p = s.run("--json", "migrate", *args, "--resume")
                self.assertEqual(p.returncode, 0, p.stderr[-3000:])
                self.assertIn("continuing after %d committed records" % self.n, p.stderr)
                row = json.loads(p.stdout)["collections"][0]
                self.assertEqual((row["status"], row["records_read"], row["rows"]), ("resumed", 0, self.n), row)
                ids = [x[0] for x in s.pg_query(url, ID_SQL[layout].format(table=row["table"]))]
                self.assertEqual(sorted(ids), sorted(self.want))
                v = s.run("verify", "--from", self.persist, "--to", url, "--layout", layout, "--queries", "5")
                self.assertEqual(v.returncode, 0, v.stdout[-3000:] + v.stderr[-3000:])


if __name__ == "__main__":
    unittest.main()
