"""Issue 4: migrating a Chroma persistent directory gives the same PostgreSQL content as migrating
the same data through the Chroma server's HTTP API.

A private Chroma server (1.0, then the current one) writes collections in all three spaces (l2, ip, cosine) with varied
records (every metadata type incl. bools, whole floats such as 1.0, ints beyond 2^53, Unicode
strings, None documents and metadata, uris): more records than the HNSW sync threshold, so most
vectors live in the HNSW files, plus a tail that lives only in the write-ahead log, with updates,
upserts and deletes on both sides of the last flush. Then:
  A: migrate over HTTP from the running server;
  B: stop the server, migrate the directory;
  C: restart the server, migrate the directory while it runs.
Every table of B and C must equal A's: table definitions and indexes, the registry rows, and every
collection-table row: id, embedding (text and float32 bits from vector_send), document, uri,
metadata (text and typed JSON), digest. The directory's bytes must not change under any of our
commands. Finally the test flips one bit of one float (then one metadata value's type) in C and
checks that the comparison reports exactly that record and field, so the comparison can fail.

Columns excluded from the comparison, because they differ by design between two runs or two
source kinds (everything else is compared):
  chroma_collections.source        the source description: the server URL vs the directory path
  chroma_collections.migrated_at   when the row was written
  chroma2pg_runs.run_id            random per run
  chroma2pg_runs.started_at, finished_at, client_pid
  chroma2pg_runs.options->'source' the source spec again (the other options are compared)
  chroma2pg_loads.run_id, started_at, finished_at
  chroma2pg_loads.staging_table    contains the run id
  chroma2pg_checkpoints.run_id, committed_at
chroma2pg_runs.options->'collections' is compared as a set: it lists the collections in the order
the source listed them (the server: its own order; the directory: by name, then id).
"""
import os
import random
import shutil
import struct
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402
from support import API  # noqa: E402

import psycopg2  # noqa: E402

DIM = 24
SPACES = ("l2", "ip", "cosine")
COLLECTION_META = {"owner": "tëst ✓", "version": 3, "ratio": 0.5, "whole": 1.0, "flag": True, "off": False}

# (table, column) pairs never compared; see the module docstring for why.
EXCLUDED = {
    ("chroma_collections", "source"), ("chroma_collections", "migrated_at"),
    ("chroma2pg_runs", "run_id"), ("chroma2pg_runs", "started_at"), ("chroma2pg_runs", "finished_at"),
    ("chroma2pg_runs", "client_pid"),
    ("chroma2pg_loads", "run_id"), ("chroma2pg_loads", "started_at"), ("chroma2pg_loads", "finished_at"),
    ("chroma2pg_loads", "staging_table"),
    ("chroma2pg_checkpoints", "run_id"), ("chroma2pg_checkpoints", "committed_at"),
}


def vector_bits(raw):
    """pgvector's binary send format: int16 dim, int16 unused, dim big-endian float32."""
    raw = bytes(raw)
    dim, _ = struct.unpack(">hh", raw[:4])
    return tuple("%08x" % w for w in struct.unpack(">%dI" % dim, raw[4:4 + 4 * dim]))


def canonical(v):
    """A value as an exact, type-tagged, order-independent form (1 != 1.0 != True)."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", v.hex())
    if isinstance(v, dict):
        return ("dict", tuple(sorted((k, canonical(x)) for k, x in v.items())))
    if isinstance(v, (list, tuple)):
        return ("list", tuple(canonical(x) for x in v))
    if isinstance(v, (bytes, memoryview)):
        return ("bytes", bytes(v).hex())
    if v is None:
        return ("null",)
    return (type(v).__name__, str(v))


def snapshot(url):
    """{"tables": {schema.table: definition}, "rows": {schema.table: {key: {column: value}}}} of every
    user table: columns with types, constraints, indexes and every row; vector columns also as bits."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")
    tables = cur.fetchall()
    snap = {"tables": {}, "rows": {}}
    for schema, table in tables:
        q = '"%s"."%s"' % (schema, table)
        cur.execute("SELECT column_name, data_type, udt_name, is_nullable, "
                    "format_type(a.atttypid, a.atttypmod) FROM information_schema.columns c "
                    "JOIN pg_attribute a ON a.attrelid = %s::regclass AND a.attname = c.column_name "
                    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (q, schema, table))
        cols = cur.fetchall()
        cur.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s ORDER BY 1",
                    (schema, table))
        indexes = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY 1",
                    (q,))
        constraints = [r[0] for r in cur.fetchall()]
        snap["tables"]["%s.%s" % (schema, table)] = {"columns": cols, "indexes": indexes, "constraints": constraints}
        select = []
        names = []
        for name, _, udt, _, _ in cols:
            if (table, name) in EXCLUDED:
                continue
            if udt in ("vector", "halfvec"):
                select += ['"%s"::text' % name, '%s_send("%s")' % (udt, name)]
                names += [name + "::text", name + "::bits"]
            elif udt == "jsonb":
                # Both the canonical text and the typed value (psycopg2 parses jsonb: 1 -> int, 1.0 -> float).
                select += ['"%s"::text' % name, '"%s"' % name]
                names += [name + "::text", name]
            else:
                select += ['"%s"' % name]
                names += [name]
        cur.execute("SELECT %s FROM %s" % (", ".join(select), q))
        rows = {}
        for r in cur.fetchall():
            row = {}
            for n, v in zip(names, r):
                if n.endswith("::bits"):
                    v = vector_bits(v) if v is not None else None
                elif table == "chroma2pg_runs" and n == "options" and isinstance(v, dict):
                    v = {k: (sorted(x) if k == "collections" else x) for k, x in v.items() if k != "source"}
                elif table == "chroma2pg_runs" and n == "options::text":
                    continue  # compared as the typed value without 'from'
                elif isinstance(v, memoryview):
                    v = bytes(v)
                row[n] = v
            key = row.get("id", row.get("collection_id"))
            if table == "chroma2pg_checkpoints":
                key = (row["collection_id"], row["range_no"], row["range_start"])
            if key is None or key in rows:
                key = canonical(row)
            rows[key] = row
        snap["rows"]["%s.%s" % (schema, table)] = rows
    conn.close()
    return snap


def differences(a, b, limit=20):
    """Every difference between two snapshots, as readable lines (empty: identical)."""
    out = []
    if sorted(a["tables"]) != sorted(b["tables"]):
        out.append("tables differ: %s vs %s" % (sorted(a["tables"]), sorted(b["tables"])))
    for t in sorted(set(a["tables"]) & set(b["tables"])):
        if a["tables"][t] != b["tables"][t]:
            out.append("%s: definition differs:\n  %s\n  %s" % (t, a["tables"][t], b["tables"][t]))
        ra, rb = a["rows"][t], b["rows"][t]
        missing = sorted(set(ra) - set(rb), key=repr)
        extra = sorted(set(rb) - set(ra), key=repr)
        if missing:
            out.append("%s: %d rows only in the first, e.g. %s" % (t, len(missing), missing[:5]))
        if extra:
            out.append("%s: %d rows only in the second, e.g. %s" % (t, len(extra), extra[:5]))
        for k in sorted(set(ra) & set(rb), key=repr):
            x, y = ra[k], rb[k]
            for col in x:
                if canonical(x[col]) != canonical(y.get(col)):
                    if col.endswith("::bits") and y.get(col) is not None:
                        idx = [i for i, (p, q) in enumerate(zip(x[col], y[col])) if p != q]
                        out.append("%s row %r: %s differs at component(s) %s: %s vs %s" % (
                            t, k, col, idx[:8], [x[col][i] for i in idx[:8]], [y[col][i] for i in idx[:8]]))
                    else:
                        out.append("%s row %r: %s differs:\n  %r\n  %r" % (t, k, col, x[col], y.get(col)))
                    if len(out) >= limit:
                        return out
    return out


def collection_tables(snap):
    return sorted(t for t in snap["rows"] if t.split(".", 1)[1].startswith("c2p_"))


class DirectoryVsHttp(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        support.require_env(cls)
        cls.drops = []
        cls.server = support.ChromaServer()
        cls.running = True
        try:
            cls._write_data()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.running:
            cls.server.stop()
            cls.running = False
        for d in cls.drops:
            d()
        shutil.rmtree(cls.server.tmp, ignore_errors=True)

    @classmethod
    def _write_data(cls):
        """The same shape of history as test_persistent_server: 600 adds, then updates and deletes,
        then adds past the 1000-record HNSW sync threshold (the flush), then in the WAL-only tail:
        updates, upserts of existing and new ids, deletes and adds."""
        ch = support.Chroma(cls.server.url)
        cls.colls = {}
        for n, space in enumerate(SPACES):
            name = "dvh_%s_%s" % (space, uuid.uuid4().hex[:8])
            meta = dict(COLLECTION_META)
            cid = ch.create_collection(name, metadata=meta, space=space)["id"]
            cls.colls[space] = (name, cid)
            ids, embs, docs, metas, uris = support.varied_records(1400, DIM, seed=11 + n, prefix="v%d" % n)
            rnd = random.Random(100 + n)
            extra = support.clustered_vectors(200, DIM, centres=10, seed=200 + n)

            def add(lo, hi):
                ch.add(cid, ids[lo:hi], embs[lo:hi], docs[lo:hi], metas[lo:hi], uris[lo:hi])

            def post(op, body):
                ch.call("POST", API + "/collections/%s/%s" % (cid, op), body)

            for lo in range(0, 600, 200):
                add(lo, lo + 200)
            # Before the flush: new embeddings and metadata (a key removed with None), deletes.
            post("update", {"ids": ids[0:20], "embeddings": extra[0:20],
                            "metadatas": [{"s": None, "new": "u%d ü" % i, "one": 1.0, "t": True} for i in range(20)]})
            post("delete", {"ids": ids[20:30]})
            for lo in range(600, 1300, 100):
                add(lo, lo + 100)
            # After the flush (the WAL-only tail): documents, uris and metadata changed (types
            # included: an int becomes a float, a bool is removed), upserts of existing and new ids,
            # deletes (of records in the HNSW files and of records updated before), and adds.
            post("update", {"ids": ids[100:130], "documents": ["updated %d ✎" % i for i in range(100, 130)],
                            "uris": ["file:///u/%d" % i for i in range(100, 130)],
                            "metadatas": [{"f": 9.5, "i": float(i), "b": None} for i in range(100, 130)]})
            post("update", {"ids": ids[400:410], "embeddings": extra[20:30]})
            post("upsert", {"ids": ids[1290:1310], "embeddings": extra[30:50],
                            "metadatas": [{"ups": i, "z": rnd.random()} for i in range(1290, 1310)],
                            "documents": ["upserted %d" % i for i in range(1290, 1310)]})
            post("delete", {"ids": ids[640:650] + ids[5:8]})
            add(1310, 1340)
        cls.expected = {space: support.as_records(ch.get_all(cid)) for space, (_, cid) in cls.colls.items()}

    def migrate(self, src, label):
        url, drop = support.new_database("dvh")
        type(self).drops.append(drop)
        out = support.run_json("migrate", "--from", src, "--to", url, "--quiet")
        self.assertEqual(sorted(c["name"] for c in out["collections"]),
                         sorted(n for n, _ in self.colls.values()), label)
        return url

    def inspect_dir(self):
        out = support.run_json("inspect", "--from", self.server.dir)
        return {c["name"]: c for c in out["collections"]}

    def print_origins(self, label, details):
        print("\n%s: records/hnsw/wal per space: %s" % (label, {
            space: (details[n]["records"], details[n]["details"].get("vectors_from_hnsw"),
                    details[n]["details"].get("vectors_from_wal")) for space, (n, _) in self.colls.items()}))

    def check_against_server(self, snap, label):
        """A's tables hold exactly what the server's get returned (bit-exact), so equal snapshots
        cannot be trivially equal."""
        for space, (name, cid) in self.colls.items():
            t = [x for x in snap["rows"] if x.endswith(".c2p_" + name)]
            self.assertEqual(len(t), 1, "%s: table for %s among %s" % (label, name, sorted(snap["rows"])))
            rows = snap["rows"][t[0]]
            exp = self.expected[space]
            self.assertEqual(sorted(rows), sorted(exp), "%s %s: ids" % (label, space))
            for rid, (emb, doc, uri, meta) in exp.items():
                r = rows[rid]
                self.assertEqual(r["embedding::bits"], tuple("%08x" % b for b in support.f32_bits_list(emb)),
                                 "%s %s %s embedding" % (label, space, rid))
                self.assertEqual((r["document"], r["uri"]), (doc, uri), "%s %s %s" % (label, space, rid))
                self.assertTrue(support.json_types_equal(r["metadata"], meta or None) or
                                (not meta and r["metadata"] in (None, {})),
                                "%s %s %s metadata: %r vs server %r" % (label, space, rid, r["metadata"], meta))

    def test_all(self):
        # A: over HTTP from the running server.
        a_url = self.migrate(self.server.url, "http")
        snap_a = self.check_snapshot_a(a_url)

        # B: the directory after the server stopped.
        self.server.stop()
        type(self).running = False
        details = self.inspect_dir()
        self.print_origins("server stopped", details)
        for space, (name, _) in self.colls.items():
            d = details[name]["details"]
            self.assertEqual(details[name]["records"], len(self.expected[space]), details[name])
            self.assertGreater(d["vectors_from_hnsw"], 900, (space, d))
            self.assertGreater(d["vectors_from_wal"], 0, (space, d))
        before = support.tree_hash(self.server.dir)
        b_url = self.migrate(self.server.dir, "directory, server stopped")
        self.assertEqual(before, support.tree_hash(self.server.dir), "the directory changed under migrate (stopped)")
        snap_b = snapshot(b_url)
        self.assert_same(snap_a, snap_b, "HTTP (A) vs directory with the server stopped (B)")

        # C: the directory while the (restarted) server runs on it.
        self.server.restart()
        type(self).running = True
        support.Chroma(self.server.url).collection(self.colls["l2"][0])  # the server is up and has loaded it
        self.print_origins("server restarted", self.inspect_dir())
        before = support.tree_hash(self.server.dir)
        c_url = self.migrate(self.server.dir, "directory, server running")
        self.assertEqual(before, support.tree_hash(self.server.dir), "the directory changed under migrate (running)")
        snap_c = snapshot(c_url)
        self.assert_same(snap_a, snap_c, "HTTP (A) vs directory with the server running (C)")

        # The comparison can fail: one bit of one float, then one metadata type, changed in C.
        self.check_detects_tampering(snap_a, c_url)

    def assert_same(self, a, b, label):
        diffs = differences(a, b)
        if diffs:
            self.fail("%s: %d difference(s) (at most 20 listed):\n%s" % (label, len(diffs),
                                                              "\n".join(diffs)))

    def check_snapshot_a(self, a_url):
        snap = snapshot(a_url)
        self.assertEqual(len(collection_tables(snap)), 3, sorted(snap["rows"]))
        self.check_against_server(snap, "A (http)")
        reg = [t for t in snap["rows"] if t.endswith(".chroma_collections")]
        self.assertEqual(len(reg), 1)
        self.assertEqual(sorted(r["space"] for r in snap["rows"][reg[0]].values()), sorted(SPACES))
        for r in snap["rows"][reg[0]].values():
            self.assertTrue(support.json_types_equal(r["metadata"], COLLECTION_META), r["metadata"])
            self.assertEqual(r["dimension"], DIM)
        return snap

    def check_detects_tampering(self, snap_a, c_url):
        name = self.colls["cosine"][0]
        table = [t for t in collection_tables(snap_a) if t.endswith(".c2p_" + name)][0]
        rid = sorted(snap_a["rows"][table])[7]
        words = list(snap_a["rows"][table][rid]["embedding::bits"])
        words[5] = "%08x" % (int(words[5], 16) ^ 1)  # the least significant mantissa bit
        floats = [struct.unpack(">f", bytes.fromhex(w))[0] for w in words]
        schema, tname = table.split(".", 1)
        q = '"%s"."%s"' % (schema, tname)
        text = "[" + ",".join(repr(x) for x in floats) + "]"
        support.pg_query(c_url, "UPDATE %s SET embedding = %%s::vector WHERE id = %%s" % q, (text, rid))
        diffs = differences(snap_a, snapshot(c_url))
        self.assertTrue(any("embedding::bits differs at component(s) [5]" in d and repr(rid) in d for d in diffs),
                        diffs)
        # Restore the float, then change one metadata value's type only (an int 3 -> 3.0).
        text = "[" + ",".join(repr(struct.unpack(">f", bytes.fromhex(w))[0])
                              for w in snap_a["rows"][table][rid]["embedding::bits"]) + "]"
        support.pg_query(c_url, "UPDATE %s SET embedding = %%s::vector WHERE id = %%s" % q, (text, rid))
        rid2 = next(k for k, r in sorted(snap_a["rows"][table].items()) if r["metadata"] and "i" in r["metadata"]
                    and isinstance(r["metadata"]["i"], int))
        support.pg_query(c_url, "UPDATE %s SET metadata = jsonb_set(metadata, '{i}', "
                                "to_jsonb((metadata->>'i')::numeric + 0.0)) WHERE id = %%s" % q, (rid2,))
        diffs = differences(snap_a, snapshot(c_url))
        self.assertTrue(diffs and all(repr(rid2) in d and "metadata" in d for d in diffs), diffs)
        print("\ntampering caught: %d difference(s), e.g. %s" % (len(diffs), diffs[0].splitlines()[0]))


DirectoryVsHttpOnCurrent = support.on_chroma("current", DirectoryVsHttp)


if __name__ == "__main__":
    unittest.main()
