"""Structured logs: with --log-format json every stderr line of every command is a JSON object with
time, level, event and message (and the collection for per-collection work); errors carry their
context (collection, SQLSTATE, exit code); no password or token given on the command line or in the
environment ever appears in stdout, stderr or any file written. Text logs stay readable beside the
progress bar on a terminal.
"""
import json
import os
import pty
import re
import subprocess
import tempfile
import threading
import unittest
import uuid

import psycopg2

from support import BIN, CHROMA_URL, PG_URL, Chroma, new_database, require_env, varied_records

PG_PASSWORD = "Pg-Log-S3cret-" + uuid.uuid4().hex[:8]
TOKEN = "Tok-Flag-" + uuid.uuid4().hex[:12]
API_KEY = "Tok-Env-" + uuid.uuid4().hex[:12]
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def require_command(tc, *path):
    """The command must exist in this binary: a missing one fails the test, never skips it."""
    p = subprocess.run([BIN, *path, "--help"], capture_output=True, text=True)
    tc.assertEqual(p.returncode, 0, "`chroma2pg %s --help` failed:\n%s" % (" ".join(path), p.stderr[-2000:]))
    # an unknown subcommand makes CLI11 print the top-level help, also with exit 0
    tc.assertIn("Usage: chroma2pg %s " % " ".join(path), p.stdout)


class JsonLogsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_env(cls)
        cls.chroma = Chroma(CHROMA_URL)
        cls.name = "logs_" + uuid.uuid4().hex[:10]
        cls.bad = "logsbad_" + uuid.uuid4().hex[:8]
        for n in (cls.name, cls.bad):
            cid = cls.chroma.create_collection(n, {"purpose": "log test"}, space="cosine")["id"]
            ids, embs, docs, metas, uris = varied_records(300, 16)
            cls.chroma.add(cid, ids, embs, docs, metas, uris)
        cls.db_url, cls.drop_db = new_database("logs")
        # A role of our own whose password is unique enough to grep for.
        cls.role = "c2p_log_" + uuid.uuid4().hex[:8]
        admin = psycopg2.connect(PG_URL)
        admin.autocommit = True
        admin.cursor().execute("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'" % (cls.role, PG_PASSWORD))
        admin.close()
        m = re.match(r"postgres(?:ql)?://[^@]*@(.*)$", cls.db_url)
        cls.url = "postgresql://%s:%s@%s" % (cls.role, PG_PASSWORD, m.group(1))
        cls.work = tempfile.TemporaryDirectory(prefix="c2p-logs-")
        cls.outputs = []  # every (args, stdout, stderr), checked for secrets at the end

    @classmethod
    def tearDownClass(cls):
        for n in (cls.name, cls.bad):
            cls.chroma.delete_collection(n)
        cls.drop_db()
        admin = psycopg2.connect(PG_URL)
        admin.autocommit = True
        admin.cursor().execute("DROP ROLE IF EXISTS %s" % cls.role)
        admin.close()
        cls.work.cleanup()

    def c2p(self, *args, expect=0, env_format=False):
        env = dict(os.environ, CHROMA_API_KEY=API_KEY, CHROMA2PG_LOG_FORMAT="json" if env_format else "text")
        argv = [BIN] + ([] if env_format else ["--log-format", "json"]) + list(args)
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=self.work.name, timeout=600)
        self.outputs.append((args, proc.stdout, proc.stderr))
        self.assertEqual(proc.returncode, expect, "%s\nstdout:\n%s\nstderr:\n%s" %
                         (args, proc.stdout[-3000:], proc.stderr[-3000:]))
        lines = self.parse_log(proc.stderr, args)
        self.assert_no_secret(proc.stdout + proc.stderr, args)
        return proc, lines

    def parse_log(self, stderr, args):
        lines = []
        for raw in stderr.split("\n"):
            if raw == "":
                continue
            try:
                j = json.loads(raw)
            except ValueError:
                self.fail("%s: a stderr line is not JSON: %r" % (args, raw[:300]))
            self.assertIsInstance(j, dict)
            for k in ("time", "level", "event", "message"):
                self.assertIn(k, j, raw)
            self.assertRegex(j["time"], TIME_RE)
            self.assertIn(j["level"], ("debug", "info", "warn", "error"))
            self.assertTrue(j["event"])
            lines.append(j)
        return lines

    def assert_no_secret(self, text, where):
        for secret in (PG_PASSWORD, TOKEN, API_KEY):
            self.assertNotIn(secret, text, "%s: a secret appears in the output" % (where,))

    def src(self):
        return ["--from", CHROMA_URL, "--token", TOKEN]

    def test_1_inspect(self):
        _, lines = self.c2p("inspect", *self.src(), "--collections", self.name, "--json")
        # Token from the environment only (CHROMA_API_KEY), logs chosen by CHROMA2PG_LOG_FORMAT.
        proc, _ = self.c2p("inspect", "--from", CHROMA_URL, "--collections", self.name, env_format=True)
        self.assertIn(self.name, proc.stdout)

    def test_2_migrate(self):
        proc, lines = self.c2p("--json", "migrate", *self.src(), "--to", self.url, "--collections", self.name,
                               "--batch-size", "50")
        self.assertEqual(json.loads(proc.stdout)["collections"][0]["records_written"], 300)
        done = [l for l in lines if l["event"] == "collection_done"]
        self.assertEqual([l.get("collection") for l in done], [self.name])
        self.assertTrue(any(isinstance(v, (int, float)) for l in done for k, v in l.items()
                            if k in ("records", "seconds")))
        # Work inside a collection names it: every line between the start and the end of it.
        for l in lines:
            if l["event"] in ("progress", "collection_done", "count_changed"):
                self.assertEqual(l.get("collection"), self.name, l)

    def test_3_migrate_without_json_result(self):
        """No --json: the run's summary must not break the JSON-Lines stream on stderr."""
        self.c2p("migrate", *self.src(), "--to", self.url, "--collections", self.name, "--replace")

    def test_4_verify(self):
        require_command(self, "verify")
        self.c2p("--json", "verify", *self.src(), "--to", self.url, "--collections", self.name, "--queries", "5",
                 "--report", "verify-report")

    def test_4_backup(self):
        require_command(self, "backup")
        self.c2p("--json", "backup", *self.src(), "--collections", self.name, "--out", "backups")
        dirs = [d for d in os.listdir(os.path.join(self.work.name, "backups")) if d.startswith("chroma_backup_")]
        self.assertEqual(len(dirs), 1)
        require_command(self, "backup", "verify")
        self.c2p("--json", "backup", "verify", os.path.join("backups", dirs[0]))

    def test_5_error_context(self):
        # A PostgreSQL error inside one collection's load: the staging table's name is taken by a view.
        conn = psycopg2.connect(self.db_url)
        conn.autocommit = True
        conn.cursor().execute('CREATE VIEW "c2p_%s__load" AS SELECT 1 AS x' % self.bad)
        conn.close()
        proc, lines = self.c2p("migrate", *self.src(), "--to", self.url, "--collections", self.bad, expect=1)
        err = lines[-1]
        self.assertEqual((err["level"], err["exit_code"]), ("error", 1), err)
        self.assertEqual(err.get("collection"), self.bad, err)
        self.assertEqual(err.get("sqlstate"), "42809", err)  # wrong_object_type
        self.assertIn("c2p_%s__load" % self.bad, err["message"])
        # A refused connection: the password given is not echoed back.
        wrong = self.url.replace(PG_PASSWORD, PG_PASSWORD + "-wrong")
        proc, lines = self.c2p("migrate", *self.src(), "--to", wrong, "--collections", self.name, expect=3)
        self.assertEqual((lines[-1]["level"], lines[-1]["exit_code"]), ("error", 3))
        self.assertIn(self.role, lines[-1]["message"])
        # A usage error is a JSON line too.
        proc, lines = self.c2p("migrate", "--to", self.url, expect=2)
        self.assertIn("--from", lines[-1]["message"])

    def test_9_no_secret_in_files(self):
        """Reports, backups, salvage lists: nothing written in the working directory holds a secret."""
        found = 0
        for root, _, names in os.walk(self.work.name):
            for n in names:
                found += 1
                with open(os.path.join(root, n), "rb") as f:
                    data = f.read()
                for secret in (PG_PASSWORD, TOKEN, API_KEY):
                    self.assertNotIn(secret.encode(), data, os.path.join(root, n))
        for args, out, err in self.outputs:
            self.assert_no_secret(out + err, args)


class TextLogsTest(unittest.TestCase):
    """Text logs on a terminal: the progress bar is cleared before a log line, never run into it."""

    @classmethod
    def setUpClass(cls):
        require_env(cls)
        cls.chroma = Chroma(CHROMA_URL)
        cls.name = "logtty_" + uuid.uuid4().hex[:10]
        cid = cls.chroma.create_collection(cls.name)["id"]
        ids, embs, docs, metas, uris = varied_records(3000, 32)
        cls.chroma.add(cid, ids, embs, docs, metas, uris)
        cls.db_url, cls.drop_db = new_database("logtty")

    @classmethod
    def tearDownClass(cls):
        cls.chroma.delete_collection(cls.name)
        cls.drop_db()

    def test_progress_and_logs_on_a_terminal(self):
        master, slave = pty.openpty()
        chunks = []
        reader = threading.Thread(target=lambda: self._drain(master, chunks))
        reader.start()
        proc = subprocess.run([BIN, "migrate", "--from", CHROMA_URL, "--to", self.db_url, "--collections",
                               self.name, "--batch-size", "10", "--index", "none"],
                              stdout=subprocess.PIPE, stderr=slave, text=True, timeout=600)
        os.close(slave)
        reader.join(timeout=30)
        os.close(master)
        err = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
        self.assertEqual(proc.returncode, 0, err[-3000:])
        bar = re.compile(r"\S+ \[[#.]{30}\] \d+/\d+ \d+ rec/s [0-9.]+ [KMGT]?B/s ETA \S+")
        pieces = [p for line in err.split("\n") for p in line.split("\r\x1b[K") if p]
        self.assertTrue(any(bar.fullmatch(p) for p in pieces), "no progress bar drawn:\n%r" % err[:2000])
        for p in pieces:
            if "rec/s" in p and "[" in p and "ETA" in p:
                self.assertRegex(p, r"^" + bar.pattern + r"$", "log text ran into the progress bar")
        # The completion line starts on a fresh line, whole.
        done = [p for p in pieces if "records into" in p]
        self.assertEqual(len(done), 1, pieces[-10:])
        self.assertTrue(done[0].startswith(self.name + ": 3000 records into"), done[0])

    @staticmethod
    def _drain(fd, chunks):
        while True:
            try:
                b = os.read(fd, 65536)
            except OSError:
                return
            if not b:
                return
            chunks.append(b)

    def test_no_terminal_codes_when_not_a_terminal(self):
        db_url, drop = new_database("lognotty")
        self.addCleanup(drop)
        proc = subprocess.run([BIN, "migrate", "--from", CHROMA_URL, "--to", db_url, "--collections", self.name,
                               "--index", "none"], capture_output=True, text=True, timeout=600)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        self.assertNotIn("\r", proc.stderr)
        self.assertNotIn("\x1b", proc.stderr)
        self.assertIn("3000 records into", proc.stderr)


if __name__ == "__main__":
    unittest.main()
