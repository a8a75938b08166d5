"""Helpers shared by the resume / fault / bad-record / sync tests: a private Chroma server filled once,
a copy of its directory as a persistent source, and exact parity checks against PostgreSQL."""
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

import psycopg2

import support as s


def fill(chroma, name, n, dim, seed=5, space="l2"):
    """Creates a collection with varied records; returns (collection, {id: (emb, doc, uri, meta)})."""
    col = chroma.create_collection(name, space=space)
    ids, embs, docs, metas, uris = s.varied_records(n, dim, seed=seed, prefix="k%d" % seed)
    chroma.add(col["id"], ids, embs, docs, metas, uris)
    return col, {i: (e, d, u, m) for i, e, d, m, u in zip(ids, embs, docs, metas, uris)}


def snapshot_dir(server):
    """Stops the server, copies its directory, starts it again; returns the copy's path."""
    server.stop()
    dst = os.path.join(tempfile.mkdtemp(prefix="c2p-persist-"), "data")
    shutil.copytree(server.dir, dst)
    server.restart()
    return dst


def table_of(url, name):
    rows = s.pg_query(url, "SELECT table_name FROM chroma_collections WHERE name = %s", (name,))
    return rows[0][0] if rows else None


def assert_parity(tc, url, name, want):
    """Every record exactly as the source holds it: ids, float32 bits, document, uri, typed metadata."""
    table = table_of(url, name)
    tc.assertIsNotNone(table, "collection %s not registered" % name)
    got = s.pg_rows(url, table)
    tc.assertEqual(len(got), len(want), "row count of %s" % name)
    tc.assertEqual(set(got), set(want), "ids of %s" % name)
    for rid, (emb, doc, uri, meta) in want.items():
        g_emb, g_doc, g_uri, g_meta = got[rid]
        if s.f32_bytes(g_emb) != s.f32_bytes(emb):
            tc.fail("embedding bits of %s differ" % rid)
        tc.assertEqual((g_doc, g_uri), (doc, uri), rid)
        g_meta = None if g_meta is None else json.loads(g_meta)
        if not s.json_types_equal(g_meta, meta or None):
            tc.fail("metadata of %s: %r != %r" % (rid, g_meta, meta))
    reg = s.pg_query(url, "SELECT record_count FROM chroma_collections WHERE name = %s", (name,))
    tc.assertEqual(reg[0][0], len(want))


def run_verify(tc, source, url, name):
    p = s.run("verify", "--from", source, "--to", url, "--collections", name, "--queries", "5", "--min-recall", "0")
    tc.assertEqual(p.returncode, 0, "verify failed:\n" + p.stdout[-3000:] + p.stderr[-3000:])


def popen(*args, env=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.Popen([s.BIN] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=e)


def checkpoints(url):
    """The committed checkpoint rows {(collection_id, range_no, range_start, range_end): records}; empty
    before migrate has created its tables."""
    try:
        rows = s.pg_query(url, "SELECT collection_id, range_no, range_start, range_end, records FROM chroma2pg_checkpoints")
    except psycopg2.errors.UndefinedTable:
        return {}
    return {tuple(r[:4]): r[4] for r in rows}


def wait_for_checkpoints(tc, p, url, count, timeout=600):
    """Polls until the target holds `count` committed checkpoint rows while `p` still runs; fails if `p` ends
    first (the data is then too small for the kill to land mid-run)."""
    deadline = time.monotonic() + timeout
    while True:
        if p.poll() is not None:
            out, err = p.communicate()
            tc.fail("migrate exited (%s) before %d checkpoints were committed: the kill cannot land mid-run\n%s"
                    % (p.returncode, count, err[-3000:]))
        if len(checkpoints(url)) >= count:
            return
        if time.monotonic() > deadline:
            tc.fail("no %d committed checkpoints within %d s" % (count, timeout))
        time.sleep(0.02)


def kill_mid_run(tc, p, url, after_kill=None):
    """kill -9 `p`, which must still be running, and waits until the server has ended its sessions on `url`
    (a COMMIT sent just before the kill settles first); returns its stderr. `after_kill` runs between the
    kill and that wait (e.g. to end a session the test itself holds)."""
    tc.assertIsNone(p.poll(), "migrate had exited before the kill")
    p.send_signal(signal.SIGKILL)
    out, err = p.communicate(timeout=600)
    tc.assertEqual(p.returncode, -signal.SIGKILL, "the kill did not land mid-run (exit %s):\n%s" % (p.returncode, err[-3000:]))
    if after_kill:
        after_kill()
    deadline = time.monotonic() + 120
    while s.pg_query(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                          " AND pid <> pg_backend_pid()")[0][0] > 0:
        tc.assertLess(time.monotonic(), deadline, "the killed run's sessions did not end")
        time.sleep(0.02)
    return err


def assert_partial(tc, url, total):
    """After a kill: an open run, a load still loading, and a staging table holding exactly the checkpointed rows,
    fewer than the source's `total`. Returns the committed record count."""
    tc.assertEqual(s.pg_query(url, "SELECT count(*) FROM chroma2pg_runs WHERE status = 'running'")[0][0], 1)
    loads = s.pg_query(url, "SELECT collection_id, staging_table, status FROM chroma2pg_loads")
    tc.assertEqual(len(loads), 1, loads)
    cid, staging, status = loads[0]
    tc.assertEqual(status, "loading")
    committed = sum(checkpoints(url).values())
    staged = s.pg_query(url, 'SELECT count(*) FROM "%s"' % staging)[0][0]
    tc.assertEqual(staged, committed, "the staging table holds rows no checkpoint covers")
    tc.assertGreater(committed, 0)
    tc.assertLess(committed, total, "the kill landed after every record was loaded")
    return committed


def kill_resume_cycle(tc, url, args, kills, seed, total):
    """Starts `migrate args` against `url` and kill -9s it `kills` times, each after 1-3 more checkpoints have
    committed (rerunning with --resume each time), then lets the last --resume finish. Asserts that each kill
    landed mid-run and left a partial state, and that each resume continued from the committed checkpoints
    (kept them, and said so) rather than starting over. Returns the last run's (exit code, stderr, stdout)."""
    rng = random.Random(seed)
    before = {}
    committed = None
    for k in range(kills + 1):
        p = popen("--json", "migrate", *args, *([] if k == 0 else ["--resume"]))
        if k == kills:
            out, err = p.communicate(timeout=900)
        else:
            wait_for_checkpoints(tc, p, url, len(before) + rng.randint(1, 3))
            err = kill_mid_run(tc, p, url)
            after = checkpoints(url)
            lost = set(before) - set(after)
            tc.assertFalse(lost, "the resumed run discarded committed checkpoints %s: it started over" % sorted(lost)[:5])
        if committed is not None:
            tc.assertIn("continuing after %d committed records" % committed, err,
                        "run %d did not continue from the checkpoints" % k)
        if k == kills:
            # The finishing run's summary counts its own work: it read and wrote what the interrupted runs
            # had not committed, not the whole collection (the table holds it all: `rows`).
            if p.returncode == 0 and committed:
                row = json.loads(out)["collections"][0]
                tc.assertEqual(row["status"], "resumed", row)
                tc.assertLess(row["records_read"], total, row)
                tc.assertEqual(row["records_written"], row["rows"] - committed, row)
                tc.assertEqual(row["rows"], total, row)
            return p.returncode, err, out
        committed = assert_partial(tc, url, total)
        before = after
