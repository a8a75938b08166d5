"""Error paths: each gives a clear message and the documented exit code (3 environment, 2 usage)."""
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest
import urllib.request
import uuid

import support as s

TOKEN = "tok-" + uuid.uuid4().hex


class AuthProxy(http.server.ThreadingHTTPServer):
    """A token-checking reverse proxy in front of the real Chroma server, as deployments put one."""
    daemon_threads = True


def make_handler(upstream):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _forward(self):
            ok = (self.headers.get("X-Chroma-Token") == TOKEN or
                  self.headers.get("Authorization") == "Bearer " + TOKEN)
            if not ok:
                body = b'{"error":"Unauthorized"}'
                self.send_response(401)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            n = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(n) if n else None
            req = urllib.request.Request(upstream + self.path, data=data, method=self.command)
            req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = do_PUT = _forward
    return H


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


class Errors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        cls.name = "err-" + uuid.uuid4().hex[:8]
        col = cls.chroma.create_collection(cls.name)
        cls.chroma.add(col["id"], ["a", "b"], [[1.0, 2.0], [3.0, 4.0]], ["x", "y"])
        cls.proxy = AuthProxy(("127.0.0.1", 0), make_handler(s.CHROMA_URL))
        threading.Thread(target=cls.proxy.serve_forever, daemon=True).start()
        cls.proxy_url = "http://127.0.0.1:%d" % cls.proxy.server_address[1]

    @classmethod
    def tearDownClass(cls):
        cls.proxy.shutdown()
        cls.chroma.delete_collection(cls.name)

    def test_wrong_port(self):
        # --chroma-wait 0: fail at once rather than wait for a server that may be starting.
        p = s.run("inspect", "--from", "http://127.0.0.1:%d" % free_port(), "--chroma-wait", "0")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("cannot reach Chroma", p.stderr)
        self.assertIn("127.0.0.1", p.stderr)

    def test_wrong_token(self):
        p = s.run("inspect", "--from", self.proxy_url, "--token", "not-the-token")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("refused the credentials", p.stderr)
        self.assertNotIn("not-the-token", p.stderr)

    def test_right_token_by_flag_env_and_bearer(self):
        p = s.run("inspect", "--from", self.proxy_url, "--token", TOKEN, "--json", check=0)
        self.assertIn(self.name, p.stdout)
        s.run("inspect", "--from", self.proxy_url, check=0, env={"CHROMA_API_KEY": TOKEN})
        s.run("inspect", "--from", self.proxy_url, "--token-header", "authorization", check=0,
              env={"CHROMA_TOKEN": TOKEN})

    def test_unknown_collection(self):
        p = s.run("inspect", "--from", s.CHROMA_URL, "--collections", "no-such-collection-x")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("no-such-collection-x", p.stderr)
        self.assertIn(self.name, p.stderr)  # it lists what exists

    def test_unreachable_postgres_hides_password(self):
        url = "postgresql://someone:sekret-pw-123@127.0.0.1:%d/db" % free_port()
        p = s.run("migrate", "--from", s.CHROMA_URL, "--to", url, "--collections", self.name,
                  env={"CHROMA2PG_PG_CONNECT_WAIT": "2"})  # refused: retried 2 s, not the default 60
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("cannot connect to postgresql", p.stderr)
        self.assertNotIn("sekret-pw-123", p.stderr + p.stdout)

    def test_usage_errors(self):
        self.assertEqual(s.run("migrate", "--to", "x").returncode, 2)
        self.assertEqual(s.run("migrate", "--from", s.CHROMA_URL, "--index", "btree").returncode, 2)
        self.assertEqual(s.run("frobnicate").returncode, 2)
        p = s.run("inspect", "--from", "/no/such/dir")
        self.assertEqual(p.returncode, 2)
        self.assertIn("/no/such/dir", p.stderr)

    def test_postgres_without_pgvector(self):
        # A relocated copy of this machine's PostgreSQL 15 with the vector extension files removed.
        tmp = tempfile.mkdtemp(prefix="c2p-novec-")
        try:
            lib = os.path.join(tmp, "usr/lib/postgresql")
            share = os.path.join(tmp, "usr/share/postgresql")
            os.makedirs(lib)
            os.makedirs(share)
            shutil.copytree("/usr/lib/postgresql/15", os.path.join(lib, "15"), symlinks=True)
            shutil.copytree("/usr/share/postgresql/15", os.path.join(share, "15"), symlinks=True)
            for d in (os.path.join(share, "15/extension"), os.path.join(lib, "15/lib")):
                for f in os.listdir(d):
                    if f.startswith("vector"):
                        os.remove(os.path.join(d, f))
            data = os.path.join(tmp, "data")
            os.makedirs(data)
            subprocess.run(["chown", "-R", "postgres", tmp], check=True)
            os.chmod(tmp, 0o755)
            bindir = os.path.join(lib, "15/bin")
            port = free_port()
            subprocess.run(["runuser", "-u", "postgres", "--", bindir + "/initdb", "-D", data, "-A", "trust",
                            "-U", "postgres"], check=True, capture_output=True)
            # -l: the server must not inherit our pipes, or run() would wait for it to exit.
            subprocess.run(["runuser", "-u", "postgres", "--", bindir + "/pg_ctl", "-D", data, "-w",
                            "-l", os.path.join(tmp, "log"), "-o",
                            "-p %d -k %s -c listen_addresses=127.0.0.1" % (port, tmp), "start"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                p = s.run("migrate", "--from", s.CHROMA_URL, "--collections", self.name, "--to",
                          "postgresql://postgres@127.0.0.1:%d/postgres" % port)
                self.assertEqual(p.returncode, 3, p.stderr)
                self.assertIn("pgvector extension is not installed", p.stderr)
            finally:
                subprocess.run(["runuser", "-u", "postgres", "--", bindir + "/pg_ctl", "-D", data, "-m", "fast",
                                "stop"], capture_output=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()


class UnreadableSegment(unittest.TestCase):
    """A segment folder this user cannot read is the environment (exit 3, "permission denied" naming it),
    never a missing folder or file. Run as `nobody`: root reads through any permission."""
    SEG = "e958bfb6-5569-49cc-bead-c6a1706aa306"

    def setUp(self):
        s.require_env(self)
        # Under /tmp, not the suite's TMPDIR (test.sh makes it 0700, which `nobody` cannot enter).
        self.tmp = tempfile.mkdtemp(prefix="c2p-unreadable-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.dir = os.path.join(self.tmp, "chroma")
        shutil.copytree(s.fixture_dir("v0.6.3__ironhack-labs__lab-langchain-med__chroma_persist"), self.dir)
        for root, dirs, files in os.walk(self.tmp):
            os.chmod(root, 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)
        self.scratch = os.path.join(self.tmp, "scratch")  # nobody's TMPDIR (the directory snapshot)
        os.mkdir(self.scratch)
        os.chmod(self.scratch, 0o1777)
        self.seg = os.path.join(self.dir, self.SEG)
        os.chmod(self.seg, 0)
        self.addCleanup(os.chmod, self.seg, 0o755)

    def as_nobody(self, *args):
        return subprocess.run(["runuser", "-u", "nobody", "--", s.BIN] + list(args), capture_output=True, text=True,
                              timeout=300, env=dict(os.environ, TMPDIR=self.scratch))

    def test_reported_as_permission_denied_not_missing(self):
        # the control: as nobody, the same copy with the folder readable is read whole
        os.chmod(self.seg, 0o755)
        p = self.as_nobody("inspect", "--from", self.dir)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        os.chmod(self.seg, 0)
        url, drop = s.new_database("unread")
        self.addCleanup(drop)
        for args in (("inspect", "--from", self.dir), ("migrate", "--from", self.dir, "--to", url),
                     ("migrate", "--from", self.dir, "--to", url, "--salvage")):
            p = self.as_nobody(*args)
            self.assertEqual(p.returncode, 3, "%s: %s" % (args, p.stderr[-2000:]))
            self.assertIn("Permission denied", p.stderr)
            self.assertIn(self.SEG, p.stderr)
            self.assertNotIn("missing", p.stderr)
            self.assertNotIn("no vector is lost", p.stderr)
