"""kill -9 `migrate` at random moments during a 50,000-record migration, resume each time, and check
exact parity; from a persistent directory and from a server, with --jobs 1 and --jobs 4. Also: a plain
rerun after an interrupted run refuses and says how to --resume or --restart; --restart starts over."""
import os
import shutil
import unittest
import uuid

import resume_support as r
import support as s

N = 50000
DIM = 32


class KillAndResume(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.server = s.ChromaServer()
        cls.chroma = s.Chroma(cls.server.url)
        cls.name = "resume-" + uuid.uuid4().hex[:6]
        cls.col, cls.want = r.fill(cls.chroma, cls.name, N, DIM)
        cls.persist = r.snapshot_dir(cls.server)
        cls.rejects = os.path.join(os.path.dirname(cls.persist), "rejects")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.server.tmp, ignore_errors=True)
        shutil.rmtree(os.path.dirname(cls.persist), ignore_errors=True)

    def cycle(self, source, jobs, seed, kills=3):
        url, drop = s.new_database("res")
        self.addCleanup(drop)
        # 2,500-record checkpoints: 20 or more per run, and each kill waits for at most 3 new ones. Every kill
        # lands in the load, so no vector index is built: a kill during the builds is test_index_builds'.
        args = ["--from", source, "--to", url, "--jobs", jobs, "--checkpoint-records", 2500,
                "--reject-dir", self.rejects, "--index", "none"]
        code, err, _ = r.kill_resume_cycle(self, url, args, kills, seed, N)
        self.assertEqual(code, 0, err[-3000:])
        r.assert_parity(self, url, self.name, self.want)
        # nothing is left behind: no staging table, no open run, no checkpoints
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%\\_\\_load'")[0][0], 0)
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM chroma2pg_runs WHERE status = 'running'")[0][0], 0)
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM chroma2pg_checkpoints")[0][0], 0)
        r.run_verify(self, source, url, self.name)

    def test_persistent_directory_jobs_1(self):
        self.cycle(self.persist, 1, seed=1)

    def test_persistent_directory_jobs_4(self):
        self.cycle(self.persist, 4, seed=2)

    def test_server_jobs_1(self):
        self.cycle(self.server.url, 1, seed=3)

    def test_server_jobs_4(self):
        self.cycle(self.server.url, 4, seed=4)

    def test_plain_rerun_refuses_and_restart_starts_over(self):
        url, drop = s.new_database("res")
        self.addCleanup(drop)
        args = ["--from", self.persist, "--to", url, "--checkpoint-records", 2000, "--index", "none"]
        tmp = os.path.join(os.path.dirname(self.persist), "tmp-" + uuid.uuid4().hex[:6])
        os.makedirs(tmp)
        p = r.popen("migrate", *args, env={"TMPDIR": tmp})
        r.wait_for_checkpoints(self, p, url, 1)
        r.kill_mid_run(self, p, url)
        r.assert_partial(self, url, N)
        # the SQLite snapshot is unlinked as soon as it is open: a killed run leaves nothing behind
        self.assertEqual(os.listdir(tmp), [])
        again = s.run("migrate", *args)
        self.assertEqual(again.returncode, 2, again.stderr)
        self.assertIn("interrupted migration", again.stderr)
        self.assertIn("--resume", again.stderr)
        self.assertIn("--restart", again.stderr)
        both = s.run("migrate", *args, "--resume", "--restart")
        self.assertEqual(both.returncode, 2)
        self.assertIn("mutually exclusive", both.stderr)
        other = s.run("migrate", "--from", self.server.url, "--to", url, "--resume", "--index", "none")
        self.assertEqual(other.returncode, 2, other.stderr)
        self.assertIn("different options", other.stderr)
        s.run("migrate", *args, "--restart", check=0)
        r.assert_parity(self, url, self.name, self.want)
        runs = dict(s.pg_query(url, "SELECT status, count(*) FROM chroma2pg_runs GROUP BY status"))
        self.assertEqual(runs, {"abandoned": 1, "done": 1})


if __name__ == "__main__":
    unittest.main()
