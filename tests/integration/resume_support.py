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
        if [s.f32_bits(x) for x in g_emb] != [s.f32_bits(x) for x in emb]:
            tc.fail("embedding bits of %s differ" % rid)
        tc.assertEqual((g_doc, g_uri), (doc, uri), rid)
        g_meta = None if g_meta is None else json.loads(g_meta)
        if not s.json_types_equal(g_meta, meta or None):
            tc.fail("metadata of %s: %r != %r" % (rid, g_meta, meta))
    reg = s.pg_query(url, "SELECT record_count FROM chroma_collections WHERE name = %s", (name,))
    tc.assertEqual(reg[0][0], len(want))


def verify_available():
    return s.run("verify", "--help").returncode == 0


def run_verify(tc, source, url, name):
    if not verify_available():
        return
    p = s.run("verify", "--from", source, "--to", url, "--collections", name, "--queries", "5", "--min-recall", "0")
    tc.assertEqual(p.returncode, 0, "verify failed:\n" + p.stdout[-3000:] + p.stderr[-3000:])


def popen(*args, env=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.Popen([s.BIN] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=e)


def kill_resume_cycle(tc, args, kills, seed, max_delay):
    """Starts `migrate args`, kill -9 at `kills` random moments (each rerun with --resume), then lets
    the last --resume finish. Returns (exit codes, the last run's stderr)."""
    rng = random.Random(seed)
    codes = []
    first = True
    for k in range(kills + 1):
        p = popen("migrate", *args, *([] if first else ["--resume"]))
        first = False
        if k < kills:
            try:
                p.wait(timeout=rng.uniform(0.4, max_delay))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
        out, err = p.communicate(timeout=600)
        codes.append(p.returncode)
        if k == kills:
            return codes, err
        if p.returncode == 0:
            # finished before the kill: nothing left to resume, the rest of the cycle is moot
            return codes, err
        tc.assertEqual(p.returncode, -signal.SIGKILL, "unexpected exit %s:\n%s" % (p.returncode, err[-3000:]))
