"""Nothing hangs, restarts are ridden out, and each cause has its exit code (docs/exit-codes.md).

Against a PostgreSQL cluster of this test's own (scripts/pg-cluster.sh), which it stops, restarts,
SIGSTOPs and fills: a port that accepts and never answers, a server that is still starting, a restart
during start-up (CREATE EXTENSION), a server or backend stopped mid-load (exit 3 within --pg-timeout,
then --resume finishes exact), a role without rights (the GRANT to run), a full tablespace and a full
backup disk (tiny tmpfs mounts), and a collection name that is not UTF-8. Needs root (mount, SIGSTOP
of the postgres user's processes)."""
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import psycopg2

import resume_support as r
import support as s

N = 12000
DIM = 32
PG_TIMEOUT = 3


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def with_db(url, db):
    base, _, _ = url.rpartition("/")
    return base + "/" + db


def with_user(url, user, password):
    scheme, _, rest = url.partition("://")
    return "%s://%s:%s@%s" % (scheme, user, password, rest.partition("@")[2])


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except psycopg2.Error:
            pass
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def mount_tmpfs(tc, path, size, owner=None):
    os.makedirs(path, exist_ok=True)
    opts = "size=%s" % size + (",uid=%s,gid=%s,mode=0700" % owner if owner else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], check=True)
    tc.addCleanup(subprocess.run, ["umount", "-l", path], capture_output=True)


class PgRobustness(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        if os.geteuid() != 0:
            raise RuntimeError("test_pg_robustness needs root (tmpfs mounts, SIGSTOP of the server)")
        cls.tmp = tempfile.mkdtemp(prefix="c2p-pgrob-")
        os.chmod(cls.tmp, 0o755)
        cls.pgdir = os.path.join(cls.tmp, "pg")
        cls.url = subprocess.check_output([s.PG_SCRIPT, "start", cls.pgdir, "--fast"], text=True).strip()
        cls.chroma = s.Chroma(s.CHROMA_URL)
        cls.name = "pgrob-" + uuid.uuid4().hex[:6]
        cls.col, cls.want = r.fill(cls.chroma, cls.name, N, DIM, seed=13)

    @classmethod
    def tearDownClass(cls):
        subprocess.run([s.PG_SCRIPT, "stop", cls.pgdir], capture_output=True)
        cls.chroma.delete_collection(cls.name)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        # Every test starts from a running cluster, whatever the one before did to it.
        subprocess.run([s.PG_SCRIPT, "start", self.pgdir, "--fast"], check=True, capture_output=True)

    def new_db(self, extension=True):
        db = "rob_" + uuid.uuid4().hex[:8]
        s.pg_query(self.url, 'CREATE DATABASE "%s"' % db)
        self.addCleanup(lambda: s.pg_query(self.url, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db))
        url = with_db(self.url, db)
        if extension:
            s.pg_query(url, "CREATE EXTENSION vector")
        return db, url

    def migrate(self, url, *extra, timeout=300):
        return s.run("migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", self.name, "--index", "none",
                     *extra, timeout=timeout)

    def postmaster_pid(self):
        with open(os.path.join(self.pgdir, "data", "postmaster.pid")) as f:
            return int(f.readline())

    # ------------------------------------------------------------ connecting
    def test_port_that_never_answers(self):
        lsn = socket.socket()
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(8)
        self.addCleanup(lsn.close)
        held = []
        threading.Thread(target=lambda: [held.append(lsn.accept()) for _ in range(8)], daemon=True).start()
        url = "postgresql://x:y@127.0.0.1:%d/db" % lsn.getsockname()[1]
        # The user's connect_timeout wins over the default.
        t0 = time.time()
        p = self.migrate(url + "?connect_timeout=2", timeout=60)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertLess(time.time() - t0, 8)
        self.assertIn("timeout expired", p.stderr)
        # The default: 10 s, and a hung server is not retried as if it were starting.
        t0 = time.time()
        p = self.migrate(url, timeout=60)
        took = time.time() - t0
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertGreaterEqual(took, 9)
        self.assertLess(took, 30)
        self.assertIn("the server is hung", p.stderr)
        self.assertNotIn("retrying", p.stderr)

    def test_refused_gives_up_after_connect_wait(self):
        t0 = time.time()
        p = self.migrate("postgresql://x:y@127.0.0.1:%d/db" % free_port(), "--pg-connect-wait", "3", timeout=60)
        took = time.time() - t0
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("still not accepting connections", p.stderr)
        self.assertIn("retrying", p.stderr)
        self.assertGreaterEqual(took, 2)
        self.assertLess(took, 20)

    def test_server_starting_is_waited_for(self):
        _, url = self.new_db()
        subprocess.run([s.PG_SCRIPT, "stop", self.pgdir], check=True, capture_output=True)
        p = r.popen("migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", self.name, "--index", "none")
        time.sleep(3)
        self.assertIsNone(p.poll(), "gave up while the server was down")
        subprocess.run([s.PG_SCRIPT, "start", self.pgdir, "--fast"], check=True, capture_output=True)
        _, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertIn("not accepting connections yet", err)
        r.assert_parity(self, url, self.name, self.want)

    def test_restart_during_start_up(self):
        # Another session's uncommitted CREATE EXTENSION holds chroma2pg's CREATE EXTENSION in start-up;
        # the restart then kills chroma2pg's session there.
        db, url = self.new_db(extension=False)
        blocker = psycopg2.connect(url)
        self.addCleanup(lambda: blocker.closed or blocker.close())
        blocker.cursor().execute("CREATE EXTENSION vector")  # in a transaction, not committed
        p = r.popen("migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", self.name, "--index", "none")
        wait_for(lambda: s.pg_query(self.url, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                                              "application_name = 'chroma2pg' AND query LIKE 'CREATE EXTENSION%%' AND "
                                              "wait_event_type = 'Lock'", (db,))[0][0] == 1,
                 60, "chroma2pg waiting in CREATE EXTENSION")
        subprocess.run([s.PG_SCRIPT, "restart", self.pgdir], check=True, capture_output=True)
        _, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertIn("start-up", err)
        self.assertIn("retry", err)
        r.assert_parity(self, url, self.name, self.want)

    # ------------------------------------------------------------ a server that stops answering
    def stop_mid_load_then_resume(self, pids_to_stop):
        db, url = self.new_db()
        args = ["--from", s.CHROMA_URL, "--to", url, "--collections", self.name, "--index", "none",
                "--checkpoint-records", 300, "--batch-size", 100, "--pg-timeout", PG_TIMEOUT]
        p = r.popen("migrate", *args)
        wait_for(lambda: s.pg_query(url, "SELECT count(*) FROM chroma2pg_checkpoints")[0][0] >= 2, 120,
                 "two committed checkpoints")
        self.assertIsNone(p.poll(), "finished before the stop: nothing was tested")
        stopped = pids_to_stop(db)
        self.assertTrue(stopped)

        def cont():
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        self.addCleanup(cont)
        held = 0
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGSTOP)
                held += 1
            except ProcessLookupError:  # a short-lived child (a finished query's backend) ended meanwhile
                pass
        self.assertGreater(held, 0, "nothing left to stop")
        t0 = time.time()
        _, err = p.communicate(timeout=120)
        took = time.time() - t0
        cont()
        self.assertEqual(p.returncode, 3, err[-3000:])
        self.assertLess(took, 4 * PG_TIMEOUT + 10, "not bounded by --pg-timeout")
        self.assertIn("--pg-timeout %d" % PG_TIMEOUT, err)
        self.assertIn("--resume", err)
        done = s.pg_query(url, "SELECT coalesce(sum(records), 0) FROM chroma2pg_checkpoints")[0][0]
        self.assertLess(done, N, "the stop landed after the load")
        p = s.run("migrate", *args, "--resume", timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        r.assert_parity(self, url, self.name, self.want)

    def test_server_stopped_mid_load_then_resume(self):
        def whole_server(_db):
            pm = self.postmaster_pid()
            return children_of(pm) + [pm]
        self.stop_mid_load_then_resume(whole_server)

    def test_backend_stopped_mid_load_then_resume(self):
        def chroma2pg_backends(db):
            return [row[0] for row in s.pg_query(self.url, "SELECT pid FROM pg_stat_activity WHERE datname = %s AND "
                                                           "application_name = 'chroma2pg'", (db,))]
        self.stop_mid_load_then_resume(chroma2pg_backends)

    # ------------------------------------------------------------ rights
    def add_role(self, name):
        s.pg_query(self.url, "CREATE ROLE %s LOGIN PASSWORD 'pw-%s'" % (name, name))
        self.addCleanup(lambda: s.pg_query(self.url, "DROP ROLE IF EXISTS %s" % name))
        return "pw-" + name

    def test_permission_denied_names_the_grant(self):
        role = "loader_" + uuid.uuid4().hex[:6]
        pw = self.add_role(role)  # dropped after the database (cleanups run last-in first-out)
        db, url = self.new_db()
        as_role = with_user(url, role, pw)
        s.pg_query(url, "REVOKE CREATE ON DATABASE %s FROM PUBLIC" % db)
        # A schema to create needs CREATE on the database; an existing one needs only the schema's rights.
        p = self.migrate(as_role, "--schema", "fresh_" + role)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("42501", p.stderr)
        self.assertIn('GRANT CREATE ON DATABASE "%s" TO "%s";' % (db, role), p.stderr)
        p = self.migrate(as_role)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn('GRANT USAGE, CREATE ON SCHEMA "public" TO "%s";' % role, p.stderr)
        s.pg_query(url, "GRANT USAGE, CREATE ON SCHEMA public TO %s" % role)
        p = self.migrate(as_role)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        r.assert_parity(self, url, self.name, self.want)

    def test_extension_hint_from_the_roles_rights(self):
        role = "noext_" + uuid.uuid4().hex[:6]
        pw = self.add_role(role)
        db, url = self.new_db(extension=False)
        as_role = with_user(url, role, pw)
        s.pg_query(url, "GRANT CREATE ON DATABASE %s TO %s" % (db, role))
        p = self.migrate(as_role)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("not a superuser", p.stderr)
        self.assertIn("CREATE EXTENSION vector once as a superuser", p.stderr)
        # A superuser whose CREATE EXTENSION fails (here: a read-only transaction) is not told to be one.
        ro = url + "?options=-c%20default_transaction_read_only%3Don"
        p = self.migrate(ro)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("25006", p.stderr)
        self.assertIn("the role is a superuser, so its rights are not the cause", p.stderr)
        self.assertNotIn("as a superuser", p.stderr)

    # ------------------------------------------------------------ space
    def test_tablespace_full(self):
        ts_dir = os.path.join(self.tmp, "ts-" + uuid.uuid4().hex[:6])
        mount_tmpfs(self, ts_dir, "1m", owner=("postgres", "postgres"))
        ts = "tiny_" + uuid.uuid4().hex[:6]
        s.pg_query(self.url, "CREATE TABLESPACE %s LOCATION '%s'" % (ts, ts_dir))
        self.addCleanup(lambda: s.pg_query(self.url, "DROP TABLESPACE IF EXISTS %s" % ts))
        db, url = self.new_db()
        s.pg_query(self.url, "ALTER DATABASE %s SET default_tablespace = %s" % (db, ts))
        # The space check measures the tablespace the tables go to, not the data directory.
        p = self.migrate(url)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("not enough free space for the database at %s" % ts_dir, p.stderr)
        self.assertIn("tablespace %s" % ts, p.stderr)
        # Past the check, the full tablespace itself: exit 3 (environment), not 1, and no retry loop.
        t0 = time.time()
        p = self.migrate(url, "--skip-space-check")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("53100", p.stderr)
        self.assertIn("full", p.stderr)
        self.assertLess(time.time() - t0, 60)

    def test_backup_disk_full(self):
        out = os.path.join(self.tmp, "bk-" + uuid.uuid4().hex[:6])
        mount_tmpfs(self, out, "1m")
        p = s.run("backup", "--from", s.CHROMA_URL, "--collections", self.name, "--out", out, "--skip-space-check",
                  timeout=300)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("No space left on device", p.stderr)

    def test_backup_out_not_writable(self):
        out = os.path.join(self.tmp, "locked-" + uuid.uuid4().hex[:6])
        os.makedirs(out)
        os.chmod(out, 0o755)  # root's: not writable for nobody
        p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", s.BIN, "backup",
                            "--from", s.CHROMA_URL, "--collections", self.name, "--out", out, "--skip-space-check"],
                           capture_output=True, text=True, timeout=300, cwd="/tmp")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("Permission denied", p.stderr)
        self.assertIn(out, p.stderr)
        self.assertEqual(os.listdir(out), [])

    # ------------------------------------------------------------ data
    def test_invalid_utf8_collection_name(self):
        server = s.ChromaServer()
        self.addCleanup(shutil.rmtree, server.tmp, True)
        self.addCleanup(server.stop)
        s.Chroma(server.url).create_collection("cafe")
        d = r.snapshot_dir(server)
        self.addCleanup(shutil.rmtree, os.path.dirname(d), True)
        db = sqlite3.connect(os.path.join(d, "chroma.sqlite3"))
        db.execute("UPDATE collections SET name = CAST(? AS TEXT) WHERE name = 'cafe'", (b"caf\xff",))
        db.commit()
        db.close()
        _, url = self.new_db()
        for dry in ([], ["--dry-run"]):
            p = s.run("migrate", "--from", d, "--to", url, *dry, timeout=300)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("'caf\\xff'", p.stderr)
            self.assertIn("not valid UTF-8", p.stderr)
            self.assertNotIn("SQLSTATE", p.stderr)
        self.assertEqual(s.pg_query(url, "SELECT to_regclass('chroma_collections') IS NULL")[0][0], True)


if __name__ == "__main__":
    unittest.main()
