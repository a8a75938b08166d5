"""Transient faults during `migrate`: PostgreSQL restarted in the middle of the load, and the Chroma
server restarted in the middle of the read. Both runs complete on their own (retry with backoff from
the last checkpoint) with exact parity. And during `sync`: PostgreSQL restarted in the middle of a
collection, which is synced again on a fresh session."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

import psycopg2

import resume_support as r
import support as s

N = 20000
DIM = 32


def wait_for_checkpoints(url, at_least, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if s.pg_query(url, "SELECT count(*) FROM chroma2pg_checkpoints")[0][0] >= at_least:
                return True
        except psycopg2.Error:
            pass
        time.sleep(0.05)
    return False


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.server = s.ChromaServer()
        cls.chroma = s.Chroma(cls.server.url)
        cls.name = "faults-" + uuid.uuid4().hex[:6]
        cls.col, cls.want = r.fill(cls.chroma, cls.name, N, DIM, seed=9)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.server.tmp, ignore_errors=True)

    def private_postgres(self):
        """A cluster of this test's own (it is restarted): its URL and data directory."""
        tmp = tempfile.mkdtemp(prefix="c2p-pgfault-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pgdir = os.path.join(tmp, "pg")
        url = subprocess.check_output([s.PG_SCRIPT, "start", pgdir, "--fast"], text=True).strip()
        self.addCleanup(subprocess.run, [s.PG_SCRIPT, "stop", pgdir], capture_output=True)
        return url, pgdir

    def restart_then_finish(self, p, url, pgdir, logged):
        """Restarts the cluster under the running command `p`, which must then end exit 0 on its own, having
        logged `logged`, with exact parity."""
        subprocess.run([s.PG_SCRIPT, "restart", pgdir], check=True, capture_output=True)
        out, err = p.communicate(timeout=600)
        self.assertEqual(p.returncode, 0, err[-4000:])
        self.assertIn(logged, err)
        r.assert_parity(self, url, self.name, self.want)

    def test_postgres_restart_mid_migration(self):
        url, pgdir = self.private_postgres()
        p = r.popen("migrate", "--from", self.server.url, "--to", url, "--checkpoint-records", 1000,
                    "--batch-size", 500, "--index", "none", "--jobs", 2)
        self.assertTrue(wait_for_checkpoints(url, 2), "no checkpoint committed")
        self.assertIsNone(p.poll(), "finished before the restart: nothing was tested")
        self.restart_then_finish(p, url, pgdir, "retry")

    def test_chroma_restart_mid_read(self):
        url, drop = s.new_database("fault")
        self.addCleanup(drop)
        p = r.popen("migrate", "--from", self.server.url, "--to", url, "--checkpoint-records", 1000,
                    "--batch-size", 200, "--index", "none")
        self.assertTrue(wait_for_checkpoints(url, 2), "no checkpoint committed")
        self.assertIsNone(p.poll(), "finished before the restart: nothing was tested")
        self.server.restart()
        out, err = p.communicate(timeout=600)
        self.assertEqual(p.returncode, 0, err[-4000:])
        self.assertIn("retry", err)  # the client saw the server go away and came back
        r.assert_parity(self, url, self.name, self.want)

    def test_postgres_restart_mid_sync(self):
        """sync's collection is in one transaction: PostgreSQL restarted while it copies the changes loses
        them, and the collection is synced again on a fresh session (--retries) to exact parity."""
        url, pgdir = self.private_postgres()
        s.run("migrate", "--from", self.server.url, "--to", url, "--index", "none")
        table = r.table_of(url, self.name)
        s.pg_query(url, 'DELETE FROM "%s"' % table)  # every record is new again
        p = r.popen("sync", "--from", self.server.url, "--to", url, "--batch-size", 200)
        deadline, copying = time.time() + 120, False
        while time.time() < deadline and p.poll() is None and not copying:
            try:  # the sync's session copying its staged changes: mid-collection
                copying = s.pg_query(url, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                                          "query LIKE 'COPY%%' AND pid <> pg_backend_pid()")[0][0] > 0
            except psycopg2.Error:
                pass
            time.sleep(0.02)
        self.assertTrue(copying, "the sync was never seen copying")
        self.assertIsNone(p.poll(), "finished before the restart: nothing was tested")
        self.restart_then_finish(p, url, pgdir, "retrying from the collection's last committed state")


if __name__ == "__main__":
    unittest.main()
