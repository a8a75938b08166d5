"""Shared helpers for integration tests: the real Chroma server, the real PostgreSQL, the binary.

Environment (set by scripts/test.sh, or by hand):
  C2P_BIN         path of the chroma2pg binary under test
  C2P_PG_URL      superuser URL of a throw-away PostgreSQL with pgvector available
  C2P_CHROMA_URL  a running Chroma 1.0 server (shared; tests use unique collection names)
  C2P_CHROMA_CURRENT_URL  a running current Chroma (npm chromadb 3.5.0), likewise shared; the
                  server tests run once per server (chroma_servers, on_chroma)
  C2P_REPO        repository root
  C2P_DUMP_SOURCE the tests/tools/dump_source binary (default $C2P_REPO/build/dump_source)
"""
import hashlib
import json
import math
import os
import random
import shutil
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import psycopg2

REPO = os.environ.get("C2P_REPO", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("C2P_BIN", os.path.join(REPO, "build", "chroma2pg"))
PG_URL = os.environ.get("C2P_PG_URL", "")
CHROMA_URL = os.environ.get("C2P_CHROMA_URL", "")
# Which Chroma CHROMA_URL is and ChromaServer starts; on_chroma switches both for a class.
CHROMA_VERSION = "1.0"
CHROMA_SCRIPT = os.path.join(REPO, "scripts", "chroma-server.sh")
DUMP = os.environ.get("C2P_DUMP_SOURCE") or os.path.join(REPO, "build", "dump_source")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "chroma-real")
PG_SCRIPT = os.path.join(REPO, "scripts", "pg-cluster.sh")
API = "/api/v2/tenants/default_tenant/databases/default_database"


def chroma_servers():
    """[(version, URL)] of every Chroma server the tests run against: the pinned 1.0 and the current
    one (the server of Chroma 1.3-1.5 users). A missing one is an error, never a skip."""
    servers = [("1.0", os.environ.get("C2P_CHROMA_URL", "")),
               ("current", os.environ.get("C2P_CHROMA_CURRENT_URL", ""))]
    missing = ["C2P_CHROMA_URL" if v == "1.0" else "C2P_CHROMA_CURRENT_URL" for v, u in servers if not u]
    if missing:
        raise RuntimeError("integration tests need %s (run scripts/test.sh)" % ", ".join(missing))
    return servers


def on_chroma(version, cls):
    """A subclass of the TestCase cls whose class fixtures and tests run against the Chroma `version`
    of chroma_servers(): CHROMA_URL and CHROMA_VERSION (so ChromaServer too) are switched while they
    run. Tests read support.CHROMA_URL at call time. Usage, after the class:
        MigrateServerOnCurrent = support.on_chroma("current", MigrateServer)"""
    def switched(fn):
        def call(*a, **k):
            global CHROMA_URL, CHROMA_VERSION
            saved = CHROMA_URL, CHROMA_VERSION
            CHROMA_URL, CHROMA_VERSION = dict(chroma_servers())[version], version
            try:
                return fn(*a, **k)
            finally:
                CHROMA_URL, CHROMA_VERSION = saved
        return call

    class OnChroma(cls):
        @classmethod
        def setUpClass(k):
            switched(super().setUpClass)()

        @classmethod
        def tearDownClass(k):
            switched(super().tearDownClass)()

        def run(self, result=None):
            return switched(super().run)(result)

    OnChroma.__name__ = OnChroma.__qualname__ = "%s_on_chroma_%s" % (cls.__name__, version.replace(".", "_"))
    OnChroma.__doc__, OnChroma.__module__ = cls.__doc__, cls.__module__
    return OnChroma


def require_env(testcase):
    missing = [n for n, v in (("C2P_PG_URL", PG_URL), ("C2P_CHROMA_URL", CHROMA_URL)) if not v]
    if missing:
        raise RuntimeError("integration tests need %s (run scripts/test.sh)" % ", ".join(missing))
    if not os.path.exists(BIN):
        raise RuntimeError("chroma2pg binary not found at %s" % BIN)


def fixture_dir(name=""):
    """A real Chroma directory of tests/fixtures/chroma-real (C2P_FIXTURES overrides); a missing fixture
    fails the test."""
    root = os.environ.get("C2P_FIXTURES") or FIXTURES
    path = os.path.join(root, name)
    if not os.path.isdir(path):
        raise RuntimeError("fixture %r not found under %s" % (name, root))
    return path


def tree_hash(d):
    """{relative path: sha256} of every file under d: proves a command did not change a byte."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def f32(x):
    """Round a Python float to float32, as Chroma stores it."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f32_bytes(v):
    """The vector as float32 bytes, in one struct call: equal bytes are equal bits, element by element (a
    20,000-record check compares millions of floats)."""
    return struct.pack("<%df" % len(v), *v)


def f32_bits_list(v):
    return list(struct.unpack("<%dI" % len(v), f32_bytes(v)))


def assert_f32_equal(tc, got, want, msg=None):
    """Bit-exact float32 equality; on a difference, the message lists the bits."""
    if f32_bytes(got) != f32_bytes(want):
        tc.assertEqual(f32_bits_list(got), f32_bits_list(want), msg)


def f32_hex(x):
    """A float32's bit pattern as dump_source prints it."""
    return "%08x" % f32_bits(x)


def typed(v):
    """A metadata value from Chroma's JSON as (type, value): 1 != 1.0 != True."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", v)
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, list):
        return ("array", [typed(x) for x in v])
    raise TypeError(v)


def typed_dump(v):
    """A metadata value as dump_source prints it ({"int": 3}, {"float": "0x1.8p+0"}, ...) as (type, value)."""
    (k, x), = v.items()
    if k == "float":
        return ("float", float.fromhex(x))
    if k == "array":
        return ("array", [typed_dump(e) for e in x])
    return (k, x)


def dump_source(directory, *args):
    """chroma2pg's persistent source over directory, via dump_source: (exit code, stderr,
    {collection id: collection_info}, {collection id: {record id: record}})."""
    if not os.path.exists(DUMP):
        raise RuntimeError("dump_source not found at %s (set C2P_DUMP_SOURCE)" % DUMP)
    p = subprocess.run([DUMP, directory, *args], capture_output=True, text=True)
    infos, recs = {}, {}
    for line in p.stdout.splitlines():
        j = json.loads(line)
        if "collection_info" in j:
            infos[j["collection_info"]["id"]] = j["collection_info"]
            recs.setdefault(j["collection_info"]["id"], {})
        else:
            recs.setdefault(j["collection_id"], {})[j["id"]] = j
    return p.returncode, p.stderr, infos, recs


# ---------------------------------------------------------------- Chroma HTTP
class Chroma:
    def __init__(self, url, token=None):
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method, path, body=None, timeout=120):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("X-Chroma-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s -> HTTP %s: %s" % (method, path, e.code, e.read()[:500]))
        return json.loads(raw) if raw else None

    def create_collection(self, name, metadata=None, space=None):
        body = {"name": name}
        if metadata:
            body["metadata"] = metadata
        if space:
            body["configuration"] = {"hnsw": {"space": space}}
        return self.call("POST", API + "/collections", body)

    def delete_collection(self, name):
        try:
            self.call("DELETE", API + "/collections/" + name)
        except RuntimeError:
            pass

    def collection(self, name):
        return self.call("GET", API + "/collections/" + name)

    def add(self, cid, ids, embeddings, documents=None, metadatas=None, uris=None, op="add"):
        body = {"ids": ids, "embeddings": embeddings}
        if documents is not None:
            body["documents"] = documents
        if metadatas is not None:
            body["metadatas"] = metadatas
        if uris is not None:
            body["uris"] = uris
        # Chroma refuses bodies that are too large (HTTP 413): send in slices.
        step = max(1, min(len(ids), 2000000 // max(1, 12 * len(embeddings[0]) if embeddings else 1)))
        for i in range(0, len(ids), step):
            part = {k: v[i:i + step] for k, v in body.items()}
            self.call("POST", API + "/collections/%s/%s" % (cid, op), part)

    def get_all(self, cid, page=1000):
        out = {"ids": [], "embeddings": [], "documents": [], "metadatas": [], "uris": []}
        offset = 0
        while True:
            r = self.call("POST", API + "/collections/%s/get" % cid,
                          {"limit": page, "offset": offset,
                           "include": ["embeddings", "documents", "metadatas", "uris"]})
            n = len(r["ids"])
            for k in out:
                vals = r.get(k)
                out[k].extend(vals if vals is not None else [None] * n)
            if n < page:
                return out
            offset += n

    def query(self, cid, embeddings, k):
        return self.call("POST", API + "/collections/%s/query" % cid,
                         {"query_embeddings": embeddings, "n_results": k,
                          "include": ["distances"]})


def as_records(got):
    """{id: (embedding, document, uri, metadata)} from a get_all() answer."""
    recs = {}
    for i, rid in enumerate(got["ids"]):
        recs[rid] = (got["embeddings"][i], got["documents"][i], got["uris"][i], got["metadatas"][i])
    return recs


SCRIPTS = ["English text", "Español: ñandú, corazón", "Deutsch: Größe", "日本語のテキスト", "中文文本",
           "العربية", "עברית", "Русский текст", "हिन्दी", "emoji 🎉🚀👩‍💻", "Ελληνικά", "한국어"]


def clustered_vectors(n, dim, centres=50, seed=1, spread=0.08):
    """Vectors around a few cluster centres, as real embeddings are (uniform noise has no neighbours)."""
    rng = random.Random(seed)
    cs = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(centres)]
    out = []
    for i in range(n):
        c = cs[rng.randrange(centres)]
        out.append([f32(x + rng.gauss(0, spread)) for x in c])
    return out


def varied_records(n, dim, seed=7, prefix="r"):
    """ids, embeddings, documents (some None), metadatas of every type (some None), uris (some None)."""
    rng = random.Random(seed)
    ids = ["%s-%06d" % (prefix, i) for i in range(n)]
    embs = clustered_vectors(n, dim, centres=max(2, min(200, n // 20)), seed=seed)
    docs, metas, uris = [], [], []
    for i in range(n):
        docs.append(None if i % 7 == 3 else "%s #%d %s" % (SCRIPTS[i % len(SCRIPTS)], i, "x" * (i % 5)))
        if i % 11 == 5:
            metas.append(None)
        else:
            m = {"i": i, "neg": -i * 1000003, "f": i + 0.5, "whole_float": float(i % 3), "b": i % 2 == 0,
                 "s": SCRIPTS[(i * 3) % len(SCRIPTS)], "big": 2 ** 53 + i}
            if i % 4 == 0:
                m["tiny"] = 1e-300
            metas.append(m)
        uris.append(None if i % 3 else "s3://bucket/doc-%d.txt?v=%d" % (i, i % 4))
    return ids, embs, docs, metas, uris


# ---------------------------------------------------------------- a test class's own data
def own_collection(cls, db_prefix, name_prefix, **create):
    """For setUpClass: a fresh database (cls.url, cls.drop), the Chroma client (cls.chroma) and a new
    collection named name_prefix + a random suffix (cls.name, cls.cid). Returns the collection."""
    require_env(cls)
    cls.url, cls.drop = new_database(db_prefix)
    cls.chroma = Chroma(CHROMA_URL)
    cls.name = name_prefix + uuid.uuid4().hex[:8]
    col = cls.chroma.create_collection(cls.name, **create)
    cls.cid = col["id"]
    return col


def release_own(cls):
    """For tearDownClass: removes whatever own_collection (and a cls.tmp directory) got to make."""
    if hasattr(cls, "name"):
        cls.chroma.delete_collection(cls.name)
    if hasattr(cls, "drop"):
        cls.drop()
    if hasattr(cls, "tmp"):
        shutil.rmtree(cls.tmp, ignore_errors=True)


# ---------------------------------------------------------------- PostgreSQL
def new_database(prefix="t"):
    """Creates a fresh database; returns (url, dropper)."""
    name = "%s_%s" % (prefix, uuid.uuid4().hex[:10])
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE "%s"' % name)
    admin.close()
    base, _, _ = PG_URL.rpartition("/")
    url = base + "/" + name

    def drop():
        a = psycopg2.connect(PG_URL)
        a.autocommit = True
        a.cursor().execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        a.close()
    return url, drop


def pg_rows(url, table, schema="public"):
    """{id: (embedding floats, document, uri, metadata json text)} read back from a native table."""
    conn = psycopg2.connect(url)
    cur = conn.cursor()
    cur.execute('SELECT id, embedding::real[], document, uri, metadata::text FROM "%s"."%s"' % (schema, table))
    rows = {r[0]: (list(r[1]), r[2], r[3], r[4]) for r in cur.fetchall()}
    conn.close()
    return rows


def pg_query(url, sql, params=None):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(sql, params)
    rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


def json_types_equal(a, b):
    """Deep equality that also requires equal JSON types (1 != 1.0 != True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_types_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_types_equal(x, y) for x, y in zip(a, b))
    return a == b


# ---------------------------------------------------------------- the binary
def run(*args, check=None, env=None, timeout=900):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True, env=e, timeout=timeout)
    if check is not None and p.returncode != check:
        raise AssertionError("chroma2pg %s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s" %
                             (" ".join(map(str, args)), p.returncode, check, p.stdout[-4000:], p.stderr[-4000:]))
    return p


def run_json(*args, check=0, env=None):
    p = run("--json", *args, check=check, env=env)
    return json.loads(p.stdout)


class ChromaServer:
    """A private Chroma server on a fresh directory (for tests that kill or restart it), of the
    version CHROMA_VERSION names (restart keeps it)."""

    def __init__(self, version=None, copy_of=None):
        """copy_of: a persistent directory the server starts on a copy of (Chroma migrates, and
        from 1.5.9 writes to, any directory it opens: never let it open a fixture itself)."""
        self.version = version or CHROMA_VERSION
        self.tmp = tempfile.mkdtemp(prefix="c2p-chroma-")
        self.dir = os.path.join(self.tmp, "data")
        if copy_of:
            shutil.copytree(copy_of, self.dir)
        else:
            os.makedirs(self.dir)
        self.url = subprocess.check_output([CHROMA_SCRIPT, "start", self.dir], text=True,
                                           env=dict(os.environ, CHROMA_VERSION=self.version)).strip()

    def stop(self):
        subprocess.run([CHROMA_SCRIPT, "stop", self.dir], check=False, capture_output=True)

    def kill9(self):
        subprocess.run([CHROMA_SCRIPT, "kill9", self.dir], check=False, capture_output=True)

    def restart(self):
        subprocess.run([CHROMA_SCRIPT, "restart", self.dir], check=True, capture_output=True)
