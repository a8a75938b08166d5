"""migrate from a Chroma server that the application keeps writing to: records deleted and added
between two page reads (the count unchanged) must not make the read skip untouched records, in one
run and across kill -9 + --resume. A small HTTP proxy in front of the real Chroma server changes the
collection through the real server when the Nth data page is requested (or holds the pages back, for
the kill), so the changes land exactly between page reads."""
import http.client
import http.server
import json
import os
import shlex
import signal
import threading
import time
import unittest
import urllib.parse
import uuid

import resume_support as r
import support as s

N = 3000
DIM = 16
BATCH = 100


class ChromaProxy:
    """Forwards every request to the real Chroma server. `before_page(n)` runs before the first request
    for records of the nth page of BATCH records (a `get` that includes embeddings) is forwarded;
    `hold_after` pages on, requests for data pages wait until release(). `positions` ({id: position in
    Chroma's read order}) places a by-id request by its ids for the hold, instead of by the records requested
    before it: a request retried after a transient error would otherwise be counted again, and held."""

    def __init__(self, upstream, before_page=None, hold_after=None, before_listing=None, positions=None):
        self.up = urllib.parse.urlparse(upstream)
        self.before_page = before_page
        self.before_listing = before_listing  # before each request for ids alone past the first page
        self.listings = 0
        self.hold_after = hold_after
        self.positions = positions
        self.pages = 0
        self.records = 0
        self.lock = threading.Lock()
        self.released = threading.Event()
        # Data pages forwarded and not yet answered, and the ids answered: with several requests in
        # flight, their arrival order is not their position order (wait_idle()).
        self.idle = threading.Condition()
        self.inflight = 0
        self.answered = set()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                kind = proxy.kind(self.path, body)
                if kind == "page":
                    # Pages are counted in BATCH records: the reader may split them into smaller requests
                    # (it sizes them to the link's round trip, and this proxy is slower than loopback).
                    with proxy.lock:
                        j = json.loads(body)
                        n = proxy.records // BATCH + 1  # the BATCH-page this request starts in
                        proxy.records += len(j.get("ids") or []) or j.get("limit") or 0
                        while proxy.pages < n:
                            proxy.pages += 1
                            if proxy.before_page:
                                proxy.before_page(proxy.pages)
                        with proxy.idle:
                            proxy.inflight += 1
                        if proxy.positions is not None and j.get("ids"):
                            n = min(proxy.positions.get(i, len(proxy.positions)) for i in j["ids"]) // BATCH + 1
                    if proxy.hold_after is not None and n > proxy.hold_after:
                        proxy.released.wait()
                elif kind == "listing":
                    with proxy.lock:
                        proxy.listings += 1
                        if proxy.before_listing:
                            proxy.before_listing(proxy.listings)
                conn = http.client.HTTPConnection(proxy.up.hostname, proxy.up.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                try:
                    self.send_response(resp.status)
                    self.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed
                    pass
                if kind == "page":
                    with proxy.idle:
                        proxy.inflight -= 1
                        proxy.answered.update(json.loads(body).get("ids") or [])
                        proxy.idle.notify_all()

            do_GET = do_POST = do_PUT = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_idle(self):
        """Until every data page forwarded so far is answered (called from before_page: the pages not yet
        counted wait for the lock it holds, so nothing new is forwarded meanwhile)."""
        with self.idle:
            self.idle.wait_for(lambda: self.inflight == 0, timeout=120)

    @staticmethod
    def kind(path, body):
        """'page': a data page of the read (records with their embeddings, fetched by the ids the
        read listed, or by position; not, e.g., the space check's sample); 'listing': ids alone, past the
        first page; else None."""
        if not path.endswith("/get"):
            return None
        try:
            j = json.loads(body)
        except ValueError:
            return None
        # By id: a page of any size (the reader sizes its requests to the link's round trip).
        if "embeddings" in j.get("include", []) and (j.get("limit") == BATCH or j.get("ids")):
            return "page"
        if j.get("include") == [] and j.get("offset", 0) > 0:
            return "listing"
        return None

    def release(self):
        self.released.set()

    def close(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class LiveRead(unittest.TestCase):
    def setUp(self):
        s.require_env(self)
        self.chroma = s.Chroma(s.CHROMA_URL)
        self.name = "live-" + uuid.uuid4().hex[:6]
        col, self.records = r.fill(self.chroma, self.name, N, DIM, seed=31)
        self.cid = col["id"]
        self.addCleanup(self.chroma.delete_collection, self.name)
        self.url, drop = s.new_database("live")
        self.addCleanup(drop)
        # Chroma's read order: the ids by position.
        self.order = self.chroma.get_all(self.cid)["ids"]
        self.assertEqual(len(self.order), N)
        self.deleted = []

    def churn(self):
        """Deletes 3 records already read (positions 100, 200, 300) and adds 3: the count is unchanged,
        every later record moves back by 3."""
        self.deleted = [self.order[100], self.order[200], self.order[300]]
        self.added = ["added-%d" % i for i in range(3)]
        self.chroma.call("POST", s.API + "/collections/%s/delete" % self.cid, {"ids": self.deleted})
        self.chroma.add(self.cid, self.added, [[0.5 + i] * DIM for i in range(3)], ["added %d" % i for i in range(3)],
                        [{"added": i} for i in range(3)])
        self.assertEqual(self.chroma.call("GET", s.API + "/collections/%s/count" % self.cid), N)

    def migrate_args(self, source):
        return ["--json", "migrate", "--from", source, "--to", self.url, "--collections", self.name,
                "--batch-size", BATCH, "--checkpoint-records", 500, "--index", "none",
                "--skip-space-check"]  # its size estimate reads a sample first: the pages counted are the load's

    def check_result(self, p):
        """No untouched record missing, the added ones read, the deleted ones reported; sync then makes
        the target exact."""
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        table = r.table_of(self.url, self.name)
        got = {row[0] for row in s.pg_query(self.url, 'SELECT id FROM "%s"' % table)}
        untouched = set(self.records) - set(self.deleted)
        missing = sorted(untouched - got)
        self.assertEqual(missing, [], "untouched records missing from the target")
        self.assertEqual(sorted(set(self.added) - got), [], "records added during the read neither read nor reported")
        res = json.loads(p.stdout)
        live = res["collections"][0]["live_source"]
        self.assertEqual(live["deleted_during_read"], 3, live)
        self.assertGreaterEqual(live["fetched_by_id"], 3, live)  # at least the added ones
        self.assertTrue(live["listing_consistent"], live)
        self.assertIn("chroma2pg sync --from", p.stderr)
        self.assertEqual(got, untouched | set(self.added) | set(self.deleted))  # the deleted: left to sync
        # sync removes what was deleted; then the target is exactly the source.
        s.run("sync", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.name, check=0)
        want = s.as_records(self.chroma.get_all(self.cid))
        r.assert_parity(self, self.url, self.name, want)

    def churn_once_read(self, proxy, n):
        """From page 6 on (positions 0-499 requested), once what was forwarded is answered and the records
        churn() deletes were read: the change lands between page reads, after they were read."""
        if n < 6 or self.deleted:
            return
        proxy.wait_idle()
        if {self.order[100], self.order[200], self.order[300]} <= proxy.answered:
            self.churn()
            self.churned_at = n

    def test_changes_between_page_reads_skip_nothing(self):
        proxy = ChromaProxy(s.CHROMA_URL, before_page=lambda n: self.churn_once_read(proxy, n))
        self.addCleanup(proxy.close)
        p = s.run(*self.migrate_args(proxy.url))
        self.assertTrue(self.deleted, "the change never happened")
        self.assertGreater(proxy.pages, self.churned_at, "the change did not land between page reads")
        self.check_result(p)

    def test_changes_between_kill_and_resume_skip_nothing(self):
        proxy = ChromaProxy(s.CHROMA_URL, hold_after=12, positions={i: k for k, i in enumerate(self.order)})
        self.addCleanup(proxy.close)
        proc = r.popen(*self.migrate_args(proxy.url))
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        # Pages 1-12 are answered, then held: the chunks of 500 records up to 1000 commit.
        deadline = time.time() + 120
        committed = 0
        while time.time() < deadline:
            rows = s.pg_query(self.url, "SELECT to_regclass('chroma2pg_checkpoints') IS NOT NULL")
            if rows and rows[0][0]:
                committed = s.pg_query(self.url, "SELECT coalesce(sum(records), 0) FROM chroma2pg_checkpoints")[0][0]
                if committed >= 1000:
                    break
            if proc.poll() is not None:
                self.fail("migrate ended before the kill: %s" % (proc.communicate(),))
            time.sleep(0.1)
        if committed != 1000:  # say what the proxy saw and what migrate logged (a retry would show there)
            proc.kill()
            _, err = proc.communicate()
            self.fail("no checkpoint at 1000 records observed (%s committed); proxy: %d pages, %d records requested, "
                      "%d in flight; migrate's log:\n%s" % (committed, proxy.pages, proxy.records, proxy.inflight,
                                                            err[-4000:]))
        self.assertIsNone(proc.poll(), "the kill must land mid-run")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        proxy.release()
        loading = s.pg_query(self.url, "SELECT status FROM chroma2pg_loads")
        self.assertEqual(loading, [("loading",)])
        # Positions 0-999 are committed; the resumed run continues at 1000, where 1003 now is.
        self.churn()
        p = s.run(*(self.migrate_args(proxy.url) + ["--resume"]))
        self.assertIn("resuming", p.stderr)
        self.check_result(p)

    def test_sync_during_changes_removes_no_untouched_record(self):
        s.run("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.name, "--index", "none",
              check=0)

        proxy = ChromaProxy(s.CHROMA_URL, before_page=lambda n: self.churn_once_read(proxy, n))
        self.addCleanup(proxy.close)
        res = s.run_json("sync", "--from", proxy.url, "--to", self.url, "--collections", self.name,
                         "--batch-size", BATCH)
        self.assertTrue(self.deleted, "the change never happened")
        self.assertGreater(proxy.pages, self.churned_at, "the change did not land between page reads")
        c = res["collections"][0]
        # Nothing untouched counts as removed; the added are inserted; the deleted were read before
        # their deletion, so the next sync removes them.
        self.assertEqual((c["deleted"], c["inserted"]), (0, 3), c)
        table = r.table_of(self.url, self.name)
        got = {row[0] for row in s.pg_query(self.url, 'SELECT id FROM "%s"' % table)}
        self.assertEqual(sorted(set(self.records) - set(self.deleted) - got), [], "untouched records removed")
        again = s.run_json("sync", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.name)
        self.assertEqual(again["collections"][0]["deleted"], 3)
        r.assert_parity(self, self.url, self.name, s.as_records(self.chroma.get_all(self.cid)))
    def layout_sync_during_changes(self, layout, ids_sql, extra=()):
        """A framework layout's sync reads the source as native sync does: the records the changes made the read
        skip are fetched by id, so none of them is removed as if deleted."""
        table = s.run_json("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.name,
                           "--layout", layout, "--index", "none", *extra)["collections"][0]["table"]
        proxy = ChromaProxy(s.CHROMA_URL, before_page=lambda n: self.churn_once_read(proxy, n))
        self.addCleanup(proxy.close)
        res = s.run_json("sync", "--from", proxy.url, "--to", self.url, "--collections", self.name,
                         "--layout", layout, "--batch-size", BATCH, *extra)
        self.assertTrue(self.deleted, "the change never happened")
        self.assertGreater(proxy.pages, self.churned_at, "the change did not land between page reads")
        c = res["collections"][0]
        self.assertEqual((c["deleted"], c["inserted"]), (0, 3), c)
        got = {row[0] for row in s.pg_query(self.url, ids_sql.format(table=table))}
        self.assertEqual(sorted(set(self.records) - set(self.deleted) - got), [], "untouched records removed")
        again = s.run_json("sync", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.name,
                           "--layout", layout, *extra)
        self.assertEqual(again["collections"][0]["deleted"], 3)
        v = s.run("verify", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.name, "--layout", layout,
                  "--queries", "5", *extra)
        self.assertEqual(v.returncode, 0, v.stdout[-3000:] + v.stderr[-3000:])

    def test_langchain_sync_during_changes_removes_no_untouched_record(self):
        # One shared table, ids stored with the collection's prefix: the check compares the source's own ids.
        self.layout_sync_during_changes(
            "langchain", "SELECT substr(id, %d) FROM langchain_pg_embedding" % (len(self.name) + 2),
            ["--langchain-id-prefix"])

    def test_mastra_sync_during_changes_removes_no_untouched_record(self):
        self.layout_sync_during_changes("mastra", 'SELECT vector_id FROM "{table}"')


class LiveReadBeyondTheBound(unittest.TestCase):
    def test_a_listing_that_keeps_moving_exits_1_with_the_sync_command(self):
        """One page of ids is 10,000: with more records, a record deleted before every page of the
        listing moves every boundary; past the bound the run says so and exits 1 with the command."""
        s.require_env(self)
        chroma = s.Chroma(s.CHROMA_URL)
        name = "live-bound-" + uuid.uuid4().hex[:6]
        cid = chroma.create_collection(name)["id"]
        self.addCleanup(chroma.delete_collection, name)
        n = 10500
        chroma.add(cid, ["b%05d" % i for i in range(n)], [[float(i), 1.0, 0.5, 0.25] for i in range(n)])
        url, drop = s.new_database("livebound")
        self.addCleanup(drop)
        victims = iter("b%05d" % i for i in range(n))

        def before_listing(k):  # one record fewer before each page past the first
            chroma.call("POST", s.API + "/collections/%s/delete" % cid, {"ids": [next(victims)]})
        proxy = ChromaProxy(s.CHROMA_URL, before_listing=before_listing)
        self.addCleanup(proxy.close)
        p = s.run("migrate", "--from", proxy.url, "--to", url, "--collections", name, "--batch-size", 1000,
                  "--index", "none")
        self.assertEqual(p.returncode, 1, p.stderr[-3000:])
        self.assertIn("changed too fast", p.stderr)
        line = [ln for ln in p.stderr.splitlines() if ln.strip().startswith("chroma2pg sync --from")]
        self.assertTrue(line, p.stderr[-3000:])
        cmd = line[-1].split("   (with the password")[0].strip()
        self.assertIn(proxy.url, cmd)
        self.assertIn("--collections '%s'" % name, cmd)
        # The printed command runs as printed (the password from PGPASSWORD) and makes the target exact.
        proxy.before_listing = None
        password = urllib.parse.urlparse(url).password
        args = shlex.split(cmd)[1:]
        s.run(*args, check=0, env={"PGPASSWORD": password} if password else None)
        want = s.as_records(chroma.get_all(cid))
        got = r.table_of(url, name)
        ids = {row[0] for row in s.pg_query(url, 'SELECT id FROM "%s"' % got)}
        self.assertEqual(ids, set(want))


if __name__ == "__main__":
    unittest.main()
