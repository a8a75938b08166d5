"""What a new user meets on the command line: the password in --to is gone from `ps` while the run
goes on; Ctrl-C / SIGTERM end a run with one line saying what was committed and the command that
continues it (which then finishes exactly); an unknown command gets "did you mean"; --from with
Chroma's API path, and no PostgreSQL target at all, are usage errors that say what to type;
--exclude-collections (names, globs, repeated) on migrate and backup; a Chroma server that starts a
few seconds after chroma2pg is waited for."""
import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

import resume_support as r
import support as s

# Large enough that each run is observably running when it is signalled: every interrupt test waits for
# an observed event (a committed 1,000-record checkpoint, a partial file, records staged 100 at a time)
# and asserts that the signal landed before the end.
N = 10000
DIM = 32


def url_password(url):
    return urllib.parse.urlsplit(url).password


def wait_for(pred, timeout, what, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except Exception:
            pass
        if proc is not None and proc.poll() is not None:
            raise AssertionError("chroma2pg ended (exit %s) before %s:\n%s" % (proc.returncode, what,
                                                                                proc.stderr.read()[-3000:]))
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def checkpoints(url):
    return s.pg_query(url, "SELECT count(*) FROM chroma2pg_checkpoints")[0][0]


def clean_env(**extra):
    """The environment without any way to find PostgreSQL."""
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith("PG") or k in ("DATABASE_URL",) or k.startswith("CHROMA2PG_"))}
    e.update(extra)
    return e


class RunningMigration(unittest.TestCase):
    """A private Chroma server with one collection large enough that a migration is observably running."""

    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.server = s.ChromaServer()
        cls.chroma = s.Chroma(cls.server.url)
        cls.name = "ux-" + uuid.uuid4().hex[:6]
        cls.col, cls.want = r.fill(cls.chroma, cls.name, N, DIM)
        cls.tmp = tempfile.mkdtemp(prefix="c2p-ux-")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.server.tmp, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def migrate_args(self, url):
        return ["migrate", "--from", self.server.url, "--to", url, "--checkpoint-records", 1000, "--jobs", 1,
                "--batch-size", 200, "--reject-dir", os.path.join(self.tmp, "rejects"), "--index", "none"]

    def test_password_and_token_are_not_in_ps(self):
        url, drop = s.new_database("ux")
        self.addCleanup(drop)
        secret = url_password(url)
        self.assertTrue(secret, "the test cluster's URL has a password")
        token = "tok-" + uuid.uuid4().hex
        # As a Release build runs: re-executed once with glibc.malloc.hugetlb (off by default in
        # this sanitizer build), so the blanking is checked in the process that runs the migration.
        p = r.popen(*self.migrate_args(url), "--token", token, env={"CHROMA2PG_MALLOC_HUGE_PAGES": "1"})
        # Observed mid-run: a checkpoint is committed and the process is still going.
        wait_for(lambda: checkpoints(url) > 0, 120, "a committed checkpoint", p)
        with open("/proc/%d/cmdline" % p.pid, "rb") as f:
            cmdline = f.read().decode()
        ps = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(p.pid)], capture_output=True, text=True).stdout
        self.assertIsNone(p.poll(), "the migration should still be running when ps is read")
        for shown in (cmdline, ps):
            self.assertNotIn(secret, shown)
            self.assertNotIn(token, shown)
            self.assertIn("migrate", shown)
            self.assertIn(self.server.url, shown)  # the rest of the command line is untouched
        self.assertIn(url.replace(secret, "*" * len(secret)), cmdline)
        # /proc/PID/environ is the environment of the last exec: the re-exec's, where the host's
        # transparent huge pages are in madvise mode (the only mode where the tunable helps).
        with open("/proc/%d/environ" % p.pid, "rb") as f:
            environ = f.read().decode().split("\0")
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            madvise = "[madvise]" in f.read()
        reexecuted = any(e.startswith("GLIBC_TUNABLES=") and "glibc.malloc.hugetlb=1" in e for e in environ)
        self.assertEqual(reexecuted, madvise, [e for e in environ if e.startswith(("GLIBC_", "CHROMA2PG_"))])
        out, err = p.communicate(timeout=600)
        self.assertEqual(p.returncode, 0, err[-3000:])
        r.assert_parity(self, url, self.name, self.want)

    def interrupt(self, url, sig):
        p = r.popen(*self.migrate_args(url))
        wait_for(lambda: checkpoints(url) > 0, 120, "a committed checkpoint", p)
        p.send_signal(sig)
        out, err = p.communicate(timeout=300)
        return p.returncode, err

    def check_interrupted_then_resume(self, sig, code, name):
        url, drop = s.new_database("ux")
        self.addCleanup(drop)
        rc, err = self.interrupt(url, sig)
        self.assertEqual(rc, code, err[-3000:])
        lines = [l for l in err.splitlines() if "interrupted by" in l]
        self.assertEqual(len(lines), 1, err[-3000:])
        line = lines[0]
        self.assertIn("migration interrupted by " + name, line)
        secret = url_password(url)
        self.assertNotIn(secret, line)
        self.assertIn("PGPASSWORD", line)  # says how to give the password that was left out
        # Landed mid-run: some but not all records committed, per the line and per the checkpoints.
        m = re.search(r"'%s' \((\d+) of (\d+) records committed\)" % re.escape(self.name), line)
        self.assertIsNotNone(m, line)
        self.assertGreater(int(m.group(1)), 0)
        self.assertLess(int(m.group(1)), N)
        self.assertEqual(int(m.group(2)), N)
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM chroma2pg_runs WHERE status = 'running'")[0][0], 1)
        # The command it prints continues the run and ends exact.
        cmd = line.split("continue with: ", 1)[1]
        cmd = cmd[:cmd.rindex(" (left out:")] if " (left out:" in cmd else cmd
        argv = shlex.split(cmd)
        self.assertEqual(argv[0], s.BIN)
        self.assertIn("--resume", argv)
        env = dict(os.environ, PGPASSWORD=secret)
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        self.assertIn("resuming the migration", done.stderr)
        r.assert_parity(self, url, self.name, self.want)
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM chroma2pg_runs WHERE status = 'running'")[0][0], 0)

    def test_sigint_prints_one_line_and_its_resume_command_finishes(self):
        self.check_interrupted_then_resume(signal.SIGINT, 130, "SIGINT")

    def test_sigterm_too(self):
        self.check_interrupted_then_resume(signal.SIGTERM, 143, "SIGTERM")

    def test_backup_interrupted_leaves_no_partial_backup(self):
        out = os.path.join(self.tmp, "backups-" + uuid.uuid4().hex[:6])
        os.makedirs(out)
        p = r.popen("backup", "--from", self.server.url, "--out", out, "--batch-size", 100)

        def partial_has_data():
            for d in glob.glob(os.path.join(out, ".*partial*")):
                for root, _, files in os.walk(d):
                    if any(os.path.getsize(os.path.join(root, f)) > 0 for f in files):
                        return True
            return False
        wait_for(partial_has_data, 120, "a partial backup file", p)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 130, err[-3000:])
        lines = [l for l in err.splitlines() if "interrupted by" in l]
        self.assertEqual(len(lines), 1, err)
        self.assertIn("backup interrupted by SIGINT: 0 of 1 collection(s) written", lines[0])
        self.assertIn("run it again: ", lines[0])
        self.assertEqual(os.listdir(out), [])  # a backup is whole or absent

    def test_restore_interrupted_then_continued(self):
        """Restored into the same server under a new name: SIGINT once the staging collection holds records,
        then the printed command continues it to every record, with no staging collection left."""
        new = self.name + "-back"
        p = r.popen("restore", "--from", self.server.url, "--to-chroma", self.server.url, "--collections", self.name,
                    "--rename", "%s=%s" % (self.name, new), "--batch-size", 100)

        def staging_count():
            for c in self.chroma.call("GET", s.API + "/collections"):
                if c["name"].startswith(new + "-c2p-restoring"):
                    return self.chroma.call("GET", s.API + "/collections/%s/count" % c["id"])
            return 0
        wait_for(lambda: staging_count() > 0, 120, "a staging collection with records", p)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 130, err[-3000:])
        kept = staging_count()
        self.assertGreater(kept, 0)
        self.assertLess(kept, N, "the interrupt landed after the restore had finished")
        lines = [l for l in err.splitlines() if "interrupted by" in l]
        self.assertEqual(len(lines), 1, err)
        self.assertIn("restore interrupted by SIGINT: 0 of 1 collection(s) restored; the records sent so far are "
                      "kept and are not sent again; continue with the same command: ", lines[0])
        argv = shlex.split(lines[0].split("continue with the same command: ", 1)[1])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        self.addCleanup(self.chroma.delete_collection, new)
        names = [c["name"] for c in self.chroma.call("GET", s.API + "/collections")]
        self.assertIn(new, names)
        self.assertFalse([n for n in names if "c2p-restoring" in n], names)
        # Every record as the source server itself returns it (Chroma keeps an absent metadata as {} here).
        got = s.as_records(self.chroma.get_all(self.chroma.collection(new)["id"]))
        had = s.as_records(self.chroma.get_all(self.col["id"]))
        self.assertEqual(set(got), set(self.want))
        for rid, g in got.items():
            s.assert_f32_equal(self, g[0], had[rid][0], rid)
            self.assertEqual((g[1], g[2]), had[rid][1:3], rid)
            self.assertTrue(s.json_types_equal(g[3], had[rid][3]), (rid, g[3], had[rid][3]))


class UsageHints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)

    def test_unknown_command_did_you_mean(self):
        p = s.run("migrat", "--from", s.CHROMA_URL)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("unknown command 'migrat'; did you mean 'migrate'?", p.stderr)
        p = s.run("--log-format", "text", "bakup")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("did you mean 'backup'?", p.stderr)
        p = s.run("frobnicate")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("unknown command 'frobnicate'", p.stderr)
        self.assertNotIn("did you mean", p.stderr)
        self.assertIn("migrate", p.stderr)  # it lists the commands

    def test_from_with_api_path(self):
        for path in ("/api/v2", "/api/v1/", "/api/v2/heartbeat"):
            p = s.run("inspect", "--from", s.CHROMA_URL + path)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("give the server's address, %s (chroma2pg adds /api/v2/... itself)" % s.CHROMA_URL, p.stderr)

    def test_options_a_layout_cannot_honour_are_refused(self):
        # Never silently ignored: refused before anything is read or written. (--resume, --restart and
        # --checkpoint-records apply to every layout: test_resume_layouts.)
        p = s.run("migrate", "--from", s.CHROMA_URL, "--to", s.PG_URL, "--layout", "llamaindex",
                  "--langchain-id-prefix", "--resume")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--langchain-id-prefix applies to --layout langchain only", p.stderr)
        self.assertNotIn("migrating", p.stderr)
        # sync and verify ask the layout the same question, with the same answer.
        for cmd in ("sync", "verify"):
            p = s.run(cmd, "--from", s.CHROMA_URL, "--to", s.PG_URL, "--layout", "mastra", "--langchain-id-prefix")
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("--langchain-id-prefix applies to --layout langchain only", p.stderr)
        # A framework layout's indexes are its framework's: --metadata-index would be ignored, so it is refused,
        # given on the command line or in the environment, in the run and in its dry run alike.
        for layout in ("langchain", "mastra"):
            for how in (["--metadata-index", "none"], ["--metadata-index", "gin", "--dry-run"]):
                p = s.run("migrate", "--from", s.CHROMA_URL, "--to", s.PG_URL, "--layout", layout, *how)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("--metadata-index applies to the native layout: the %s layout gets the indexes its "
                              "framework's store creates" % layout, p.stderr)
                self.assertNotIn("migrating", p.stderr)
        p = s.run("migrate", "--from", s.CHROMA_URL, "--to", s.PG_URL, "--layout", "langchain", "--dry-run",
                  env={"CHROMA2PG_METADATA_INDEX": "none"})
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--metadata-index applies to the native layout", p.stderr)

    def test_no_postgres_target(self):
        for cmd in (["migrate"], ["sync"], ["verify"]):
            p = subprocess.run([s.BIN, *cmd, "--from", s.CHROMA_URL], capture_output=True, text=True,
                               env=clean_env(), timeout=120)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("no PostgreSQL target", p.stderr)
            for looked_at in ("DATABASE_URL", "PGHOST", "PGDATABASE", "CHROMA2PG_TO", "--to postgresql://"):
                self.assertIn(looked_at, p.stderr)
        # A PG* variable is a target: then libpq's own answer (here: nothing listens) is exit 3.
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            port = so.getsockname()[1]
        # (refused: retried for 2 s, not the default 60; test_pg_robustness tests the retrying)
        p = subprocess.run([s.BIN, "migrate", "--from", s.CHROMA_URL, "--pg-connect-wait", "2"], capture_output=True,
                           text=True, env=clean_env(PGHOST="127.0.0.1", PGPORT=str(port)), timeout=120)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("cannot connect to postgresql", p.stderr)


class ExcludeCollections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A private server: a backup without --collections takes every collection, and on the shared server
        # other tests create and delete theirs meanwhile (one deleted mid-backup fails the backup, rightly).
        s.require_env(cls)
        cls.server = s.ChromaServer()
        cls.url = cls.server.url
        cls.chroma = s.Chroma(cls.url)
        cls.tag = uuid.uuid4().hex[:6]
        cls.names = ["keep-%s" % cls.tag, "tmp-a-%s" % cls.tag, "tmp-b-%s" % cls.tag, "scratch-%s" % cls.tag]
        cls.other = "other"   # no exclusion matches it
        for i, n in enumerate(cls.names + [cls.other]):
            col = cls.chroma.create_collection(n)
            cls.chroma.add(col["id"], ["%s-%d" % (n, k) for k in range(3)], [[float(i), float(k)] for k in range(3)])
        cls.tmp = tempfile.mkdtemp(prefix="c2p-exclude-")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.server.tmp, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_migrate(self):
        url, drop = s.new_database("ux")
        self.addCleanup(drop)
        # --collections picks four; a glob and a repeated option take three away; one exclusion matches nothing.
        p = s.run("migrate", "--from", self.url, "--to", url, "--collections", ",".join(self.names),
                  "--exclude-collections", "tmp-*-%s,no-such-%s" % (self.tag, self.tag),
                  "--exclude-collections", "scratch-" + self.tag, "--index", "none", check=0)
        got = sorted(n for (n,) in s.pg_query(url, "SELECT name FROM chroma_collections"))
        self.assertEqual(got, ["keep-" + self.tag])
        warn = [l for l in p.stderr.splitlines() if "no-such-" + self.tag in l]
        self.assertEqual(len(warn), 1, p.stderr)
        self.assertIn("matches no collection", warn[0])

    def test_backup(self):
        out = os.path.join(self.tmp, "b-" + uuid.uuid4().hex[:6])
        os.makedirs(out)
        # Without --collections: everything in the source except the exclusions (env var form too).
        env = {"CHROMA2PG_EXCLUDE_COLLECTIONS": "*-%s" % self.tag}
        s.run("backup", "--from", self.url, "--out", out, "--exclude-collections", "keep-" + self.tag,
              check=0)
        s.run("backup", "--from", self.url, "--out", os.path.join(out, "env"), env=env, check=0)
        manifests = sorted(glob.glob(os.path.join(out, "chroma_backup_*", "manifest.json")))
        self.assertEqual(len(manifests), 1)
        with open(manifests[0]) as f:
            names = {c["name"] for c in json.load(f)["collections"]}
        self.assertEqual(names, {"tmp-a-%s" % self.tag, "tmp-b-%s" % self.tag, "scratch-%s" % self.tag, self.other})
        env_manifest = glob.glob(os.path.join(out, "env", "chroma_backup_*", "manifest.json"))
        with open(env_manifest[0]) as f:
            names = {c["name"] for c in json.load(f)["collections"]}
        self.assertEqual(names, {self.other})


class ChromaStartingLate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)

    def test_waits_for_a_server_that_starts_later(self):
        tmp = tempfile.mkdtemp(prefix="c2p-late-")
        data = os.path.join(tmp, "data")
        self.addCleanup(shutil.rmtree, tmp, True)
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            port = so.getsockname()[1]
        with open(data + ".port", "w") as f:  # chroma-server.sh starts on this port
            f.write("%d\n" % port)
        url = "http://127.0.0.1:%d" % port
        t0 = time.time()
        p = r.popen("inspect", "--from", url, "--json")
        time.sleep(4)
        self.assertIsNone(p.poll(), "chroma2pg gave up before the server started")
        self.addCleanup(subprocess.run, [s.CHROMA_SCRIPT, "stop", data], capture_output=True)
        started = subprocess.run([s.CHROMA_SCRIPT, "start", data], capture_output=True, text=True, check=True)
        self.assertEqual(started.stdout.strip(), url)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertLess(time.time() - t0, 75)
        json.loads(out)  # the result came through
        waits = [l for l in err.splitlines() if "is not answering yet" in l]
        self.assertGreaterEqual(len(waits), 2, err)
        self.assertIn(url, waits[0])

    def test_gives_up_after_chroma_wait(self):
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            port = so.getsockname()[1]
        t0 = time.time()
        p = s.run("inspect", "--from", "http://127.0.0.1:%d" % port, "--chroma-wait", "3")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("cannot reach Chroma", p.stderr)
        self.assertIn("waited", p.stderr)
        self.assertLess(time.time() - t0, 20)


if __name__ == "__main__":
    unittest.main()
