"""Issue 18 end to end: `chroma2pg migrate --layout langchainjs|llamaindex-ts|mastra|pgvectorstore` from a
real Chroma server (a private one per class, Chroma 1.0 and the current one) and from a real user's persistent directory, then the
framework's own client reads the tables configured ONLY with the `client_config` migrate reports (plus
the connection), through a role that may only SELECT:

- the reported table names (`Support.FAQ-v2` kept by langchainjs/pgvectorstore, folded to
  `support_faq_v2` by llamaindex-ts/mastra) and the client_config of docs/layouts.md;
- top-10 of 10 query vectors per collection (cosine, l2 and, but for llamaindex-ts, ip) equal
  Chroma's own /query top-10: ids, order, and distances after each client's convention;
- metadata filters (string equality, numeric > and >=, bool) return what Chroma's filtered /query
  returns; NULL/empty documents, the uri, no metadata and every hit's payload are as documented;
- `verify --layout X` passes; one row's metadata changed in PostgreSQL fails it naming the record;
  `sync --layout X` after adds/updates/deletes in Chroma makes it pass and the client sees the change;
- a real user's directory (tests/fixtures/chroma-real) migrated with --from DIR verifies, and the
  client's top-10 (unfiltered and filtered) equals the exact top-10 computed from dump_source's output;
  for every layout, the Python langchain (PGVector) and llamaindex (PGVectorStore) ones by their SQL.

The JS clients run through tests/js/query.mjs (test_js_clients' harness); the Python PGVectorStore is
replayed (its column check and its search SQL) as in test_js_clients.PgVectorStoreReplay."""
import json
import math
import random
import shutil
import struct
import sys
import types
import unittest

import support as s
import test_js_clients as jc   # the JS harness and the read-only role; its tests are not collected here

DIM = 16
N = 300
NAMES = {"cosine": "Support.FAQ-v2", "l2": "Support.FAQ-l2", "ip": "Support.FAQ-ip"}
FOLDED = {"Support.FAQ-v2": "support_faq_v2", "Support.FAQ-l2": "support_faq_l2", "Support.FAQ-ip": "support_faq_ip",
          "Support.FAQ-sync": "support_faq_sync"}
SYNC_NAME = "Support.FAQ-sync"
LANGS = ("en", "fr", "de")
# Records of faq_records() the payload checks look at.
NAMED_ID, NULL_DOC_ID, EMPTY_DOC_ID, URI_ID, NO_META_ID = "Doc 2/ü", "Doc 3/ü", "Doc 4/ü", "Doc 5/ü", "Doc 6/ü"
REAL_FIXTURE = "v1.3__AbhiSree06__RBAC-Chatbot__vector_db"   # company_docs: 287 records, 384-d, cosine, documents
REAL_NAME = "company_docs"

# (id column, metadata column, its type) of each layout's table: for tampering with one row.
ROW_SQL = {"langchainjs": ("id", "metadata", "jsonb"), "llamaindex-ts": ("id", "metadata", "jsonb"),
           "mastra": ("vector_id", "metadata", "jsonb"), "pgvectorstore": ("langchain_id", "langchain_metadata", "json")}

# The vector index of each layout (docs/layouts.md): column, operator class (None: the space's), and the
# name where a client finds it by name (Mastra's describeIndex) or the store names its own (PGVectorStore).
VECTOR_INDEX = {"langchainjs": ("embedding", None), "llamaindex-ts": ("embeddings", "cosine"),
                "mastra": ("embedding", None), "pgvectorstore": ("embedding", None)}
INDEX_NAME = {"llamaindex-ts": "%s_embeddings_idx", "mastra": "%s_vector_idx", "pgvectorstore": "%slangchainvectorindex"}


def setUpModule():
    jc.setUpModule()   # installs (or checks) the pinned node and clients


# ---------------------------------------------------------------- data
def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [s.f32(x / n) for x in v]


def faq_records(n, seed, normalise=False):
    """Records as an app keeps them in Chroma: ids with a space, a slash and ü; string/int/float/bool
    metadata; NULL documents, one empty document, uris, one record without metadata."""
    embs = s.clustered_vectors(n, DIM, centres=15, seed=seed)
    out = []
    for i, e in enumerate(embs):
        doc = None if i % 9 == 3 else ("" if i == 4 else "Answer %d: %s" % (i, s.SCRIPTS[i % len(s.SCRIPTS)]))
        meta = None if i == 6 else {"lang": LANGS[i % 3], "n": i, "f": (i % 40) * 0.25, "b": i % 2 == 0,
                                    "title": "Frage %d – Größe/ü" % i}
        out.append({"id": "Doc %d/ü" % i, "embedding": unit(e) if normalise else e, "document": doc,
                    "metadata": meta, "uri": "s3://faq/%d.txt?v=2" % i if i % 10 == 5 else None})
    return out


def fill(chroma, name, space, records):
    col = chroma.create_collection(name, metadata={"team": "support"}, space=space)
    chroma.add(col["id"], [r["id"] for r in records], [r["embedding"] for r in records],
               [r["document"] for r in records], [r["metadata"] for r in records], [r["uri"] for r in records])
    return col["id"]


def chroma_records(chroma, cid):
    """{id: record} as Chroma itself returns them (what the migrated rows must equal)."""
    return {rid: {"id": rid, "embedding": e, "document": d, "uri": u, "metadata": m}
            for rid, (e, d, u, m) in s.as_records(chroma.get_all(cid)).items()}


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


# Chroma's distance of each space (l2 is squared), computed here on the float32 values.
CHROMA_DIST = {"cosine": jc.cosine, "l2": lambda a, b: jc.euclidean(a, b) ** 2, "ip": lambda a, b: 1 - dot(a, b)}


def well_separated(dists, k=10, gap=1e-4):
    """True when the k+1 smallest distances differ pairwise by more than gap (relative): no order is
    left to float rounding."""
    d = sorted(dists)[:k + 1]
    return len(d) >= k and all(b - a > gap * max(1.0, abs(a)) for a, b in zip(d, d[1:]))


def pick_queries(records, space, count, seed, keep=lambda r: True, normalise=False):
    """count query vectors near stored ones whose top-10 (among the records passing keep) has no near tie."""
    rng = random.Random(seed)
    pool = [r for r in records if keep(r)]
    dist = CHROMA_DIST[space]
    out = []
    for _ in range(2000):
        base = records[rng.randrange(len(records))]["embedding"]
        q = [s.f32(x + rng.gauss(0, 0.05)) for x in base]
        q = unit(q) if normalise else q
        if well_separated([dist(r["embedding"], q) for r in pool]):
            out.append(q)
            if len(out) == count:
                return out
    raise AssertionError("no %d well separated queries for %s (the test data has ties)" % (count, space))


# The filters of the issue: Chroma's where, a predicate on the Chroma metadata, and each client's spelling.
FILTERS = [
    ("string equality", {"lang": "en"}, lambda m: m.get("lang") == "en",
     {"langchainjs": {"lang": "en"},
      "llamaindex-ts": {"filters": [{"key": "lang", "value": "en", "operator": "=="}]},
      "mastra": {"lang": {"$eq": "en"}}, "pgvectorstore": {"lang": {"$eq": "en"}}}),
    ("numeric >", {"n": {"$gt": 150}}, lambda m: m.get("n", -1) > 150,
     {"langchainjs": {"n": {"gt": 150}},
      "llamaindex-ts": {"filters": [{"key": "n", "value": 150, "operator": ">"}]},
      "mastra": {"n": {"$gt": 150}}, "pgvectorstore": {"n": {"$gt": 150}}}),
    ("numeric >=", {"f": {"$gte": 5.25}}, lambda m: m.get("f", -1) >= 5.25,
     {"langchainjs": {"f": {"gte": 5.25}},
      "llamaindex-ts": {"filters": [{"key": "f", "value": 5.25, "operator": ">="}]},
      "mastra": {"f": {"$gte": 5.25}}, "pgvectorstore": {"f": {"$gte": 5.25}}}),
    ("bool", {"b": True}, lambda m: m.get("b") is True,
     {"langchainjs": {"b": True},
      "llamaindex-ts": {"filters": [{"key": "b", "value": True, "operator": "=="}]},
      "mastra": {"b": {"$eq": True}}, "pgvectorstore": {"b": {"$eq": True}}}),
]


def chroma_query(chroma, cid, vectors, k, where=None):
    """[[(id, distance)]] per query vector, from Chroma's own /query."""
    body = {"query_embeddings": vectors, "n_results": k, "include": ["distances"]}
    if where:
        body["where"] = where
    r = chroma.call("POST", s.API + "/collections/%s/query" % cid, body)
    return [list(zip(ids, ds)) for ids, ds in zip(r["ids"], r["distances"])]


# ---------------------------------------------------------------- the clients
class PgVectorStoreReader:
    """langchain-postgres PGVectorStore (Python, 0.0.17, commit 2948fbe), configured only with
    client_config, replayed with psycopg2: create()'s column check, then
    similarity_search_with_score_by_vector's SQL with _handle_field_filter's WHERE."""
    STRATEGY = {"EUCLIDEAN": ("<->", "l2_distance"), "COSINE_DISTANCE": ("<=>", "cosine_distance"),
                "INNER_PRODUCT": ("<#>", "inner_product")}
    OPS = {"$eq": "=", "$ne": "!=", "$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}
    CAST = {int: "INTEGER", float: "FLOAT", bool: "BOOLEAN"}

    def __init__(self, url, config):
        self.url = url
        self.table, self.schema = config["table_name"], config.get("schema_name", "public")
        self.op, self.fn = self.STRATEGY[config.get("distance_strategy", "COSINE_DISTANCE")]
        cols = dict(s.pg_query(url, "SELECT column_name, data_type FROM information_schema.columns "
                                    "WHERE table_name = %s AND table_schema = %s", (self.table, self.schema)))
        for col in ("langchain_id", "content", "embedding"):
            if col not in cols:
                raise AssertionError("PGVectorStore.create: column %s of %s.%s does not exist (%r)"
                                     % (col, self.schema, self.table, cols))
        if cols["content"] != "text" and "char" not in cols["content"]:
            raise AssertionError("PGVectorStore.create: content is %s" % cols["content"])
        if cols["embedding"] not in ("USER-DEFINED", "vector"):
            raise AssertionError("PGVectorStore.create: embedding is %s" % cols["embedding"])
        if "langchain_metadata" not in cols:
            raise AssertionError("PGVectorStore.create: no langchain_metadata: metadata would be lost")

    def where(self, filt):
        if not filt:
            return "", {}
        (field, cond), = filt.items()
        (op, value), = cond.items()
        if isinstance(value, str):
            return "WHERE langchain_metadata->>'%s' %s %%(v)s" % (field, self.OPS[op]), {"v": value}
        return ("WHERE (langchain_metadata->>'%s')::%s %s %%(v)s" % (field, self.CAST[type(value)], self.OPS[op]),
                {"v": value})

    def query(self, vectors, k, filt=None):
        where, params = self.where(filt)
        sql = ('SELECT "langchain_id", "content", "embedding", "langchain_metadata", {fn}("embedding", %(q)s) as distance '
               'FROM "{schema}"."{table}" {where} ORDER BY "embedding" {op} %(q)s LIMIT %(k)s;').format(
            fn=self.fn, schema=self.schema, table=self.table, where=where, op=self.op)
        out = []
        for v in vectors:
            rows = s.pg_query(self.url, sql, dict(params, q=str([float(x) for x in v]), k=k))
            # Document(page_content=content, metadata=langchain_metadata or {}, id=str(langchain_id))
            out.append([{"id": str(r[0]), "document": r[1], "metadata": r[3] or {}, "distance": r[4]} for r in rows])
        return out


class PythonLegacyReader:
    """langchain-postgres PGVector and LlamaIndex PGVectorStore (Python), configured only with client_config,
    replayed with psycopg2: the SQL each issues for a query with one string-equality filter, as
    docs/layouts.md records it from their sources (PGVector: the collection by name, then its rows, a
    jsonb_path_match filter; PGVectorStore: data_<lowercased table_name>, metadata_->>'k' = 'v')."""
    OPS = {"cosine": "<=>", "l2": "<->", "inner": "<#>"}

    def __init__(self, layout, url, config):
        self.layout, self.url, self.config = layout, url, config

    def query(self, vectors, k, filt=None):
        (key, value), = filt.items() if filt else ((None, None),)
        out = []
        for v in vectors:
            q = str([float(x) for x in v])
            if self.layout == "langchain":
                op = self.OPS[self.config.get("distance_strategy", "cosine")]
                uuid_ = s.pg_query(self.url, "SELECT uuid FROM langchain_pg_collection WHERE name = %s",
                                   (self.config["collection_name"],))[0][0]
                where = ("AND jsonb_path_match(e.cmetadata, CAST('$.%s == $value' AS JSONPATH), "
                         "CAST(%%(val)s AS JSONB))" % key) if key else ""
                rows = s.pg_query(self.url, "SELECT e.id, e.document, e.cmetadata, e.embedding %s %%(q)s AS distance "
                                            "FROM langchain_pg_embedding e JOIN langchain_pg_collection c ON "
                                            "e.collection_id = c.uuid WHERE e.collection_id = %%(u)s::UUID %s "
                                            "ORDER BY distance ASC LIMIT %%(k)s" % (op, where),
                                  {"q": q, "u": uuid_, "k": k, "val": json.dumps({"value": value})})
                out.append([{"id": r[0], "document": r[1], "metadata": r[2] or {}, "distance": r[3]} for r in rows])
            else:
                table = '"%s"."data_%s"' % (self.config["schema_name"], self.config["table_name"].lower())
                where = "WHERE metadata_->>'%s' = %%(val)s" % key if key else ""
                rows = s.pg_query(self.url, "SELECT id, node_id, text, metadata_, embedding <=> %%(q)s AS distance "
                                            "FROM %s %s ORDER BY distance asc LIMIT %%(k)s" % (table, where),
                                  {"q": q, "k": k, "val": value})
                out.append([{"id": r[1], "document": r[2], "metadata": r[3] or {}, "distance": r[4]} for r in rows])
        return out


# Layouts read here by replaying a Python store's SQL; the others by their JS client through query.mjs.
PYTHON_READERS = ("pgvectorstore", "langchain", "llamaindex")


def client_query(layout, url, config, vectors, k=10, filt=None, filts=None):
    """Each query vector's hits as the layout's client returns them, configured only with config; filts, if
    given, is the client's filter of each query vector (one run of a JS client asks them all)."""
    if filts is not None:
        assert filt is None and len(filts) == len(vectors)
        if layout in PYTHON_READERS:
            return [client_query(layout, url, config, [v], k, f)[0] for v, f in zip(vectors, filts)]
        return jc.harness("query", layout, url, config, query_vectors=vectors, k=k, filters=filts)["results"]
    if layout == "pgvectorstore":
        return PgVectorStoreReader(url, config).query(vectors, k, filt)
    if layout in ("langchain", "llamaindex"):
        return PythonLegacyReader(layout, url, config).query(vectors, k, filt)
    opts = {"query_vectors": vectors, "k": k}
    if filt is not None:
        opts["filter"] = filt
    return jc.harness("query", layout, url, config, **opts)["results"]


def to_chroma_distance(layout, space, hit):
    """A hit's score or distance in Chroma's convention for the collection's space (docs/layouts.md)."""
    if layout == "langchainjs":      # raw pgvector operator value: <=>, <-> (√l2), <#> (−ip)
        d = hit["distance"]
        return {"cosine": d, "l2": d * d, "ip": 1 + d}[space]
    if layout in ("langchain", "llamaindex"):  # the operator's value (llamaindex: always <=>)
        d = hit["distance"]
        return {"cosine": d, "l2": d * d, "ip": 1 + d}[space]
    if layout == "pgvectorstore":    # cosine_distance, l2_distance (√l2), inner_product (ip)
        d = hit["distance"]
        return {"cosine": d, "l2": d * d, "ip": 1 - d}[space]
    if layout == "llamaindex-ts":    # similarity 1 − cosine distance, whatever the space; l2 only on unit vectors
        cd = 1 - hit["score"]
        return {"cosine": cd, "l2": 2 * cd}[space]
    if layout == "mastra":           # cosine 1 − d, euclidean 1 / (1 + √l2), dotproduct ip
        sc = hit["score"]
        return {"cosine": 1 - sc, "l2": (1 / sc - 1) ** 2, "ip": 1 - sc}[space]
    raise ValueError(layout)


def js_equal(a, b):
    """Equality of JSON as a JS client returns it: numbers by value (JS reads 1.0 as 1), bools are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(js_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(js_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def payload_problem(layout, r, hit):
    """None when the hit carries the record r as the layout documents it, else what differs."""
    if layout in ("langchainjs", "pgvectorstore", "langchain", "llamaindex"):  # '' + the NULL marker
        want_doc, want_meta = r["document"] or "", jc.stored_metadata(r, null_marker=True)
    elif layout == "llamaindex-ts":                       # NULL stays NULL, read as ""
        want_doc, want_meta = r["document"] or "", jc.stored_metadata(r)
    else:                                                 # mastra: the document is metadata "text", absent for NULL
        want_doc, want_meta = None, jc.stored_metadata(r, text_key="text")
    same_meta = (js_equal if layout in ("langchainjs", "llamaindex-ts", "mastra") else s.json_types_equal)(
        hit["metadata"], want_meta)
    if hit.get("document") != want_doc or not same_meta:
        return "%s %r: got document %r metadata %r, want %r %r" % (layout, r["id"], hit.get("document"),
                                                                    hit["metadata"], want_doc, want_meta)
    return None


def expected_config(layout, name, space):
    """client_config of docs/layouts.md "Proposed layouts for issue 18" for a collection in schema public."""
    return {
        "langchainjs": {"tableName": name, "schemaName": "public", "dimensions": DIM, "skipInitializationCheck": True,
                        "distanceStrategy": {"cosine": "cosine", "l2": "euclidean", "ip": "innerProduct"}[space]},
        "llamaindex-ts": {"schemaName": "public", "tableName": FOLDED[name], "dimensions": DIM, "performSetup": False},
        "mastra": {"indexName": FOLDED[name]},
        "pgvectorstore": {"table_name": name, "schema_name": "public",
                          "distance_strategy": {"cosine": "COSINE_DISTANCE", "l2": "EUCLIDEAN",
                                                "ip": "INNER_PRODUCT"}[space]},
    }[layout]


def expected_table(layout, name):
    return name if layout in ("langchainjs", "pgvectorstore") else FOLDED[name]


def quote(ident):
    return '"%s"' % ident.replace('"', '""')


def class_reader(cls, url):
    """test_js_clients.reader_url for a class fixture (the role is dropped before the database is)."""
    return jc.reader_url(types.SimpleNamespace(addCleanup=cls.addClassCleanup), url)


def migrate(source, url, layout, names):
    """migrate --json; (its JSON, its stderr, {collection name: its collections[] entry})."""
    p = s.run("--json", "migrate", "--from", source, "--to", url, "--layout", layout, "--collections", ",".join(names),
              check=0)
    result = json.loads(p.stdout)
    return result, p.stderr, {c["name"]: c for c in result["collections"]}


def verify(source, url, layout, names, check):
    p = s.run("--json", "verify", "--from", source, "--to", url, "--layout", layout, "--collections", ",".join(names),
              check=check)
    return p, json.loads(p.stdout)


# ---------------------------------------------------------------- migrated from a Chroma server
class FrameworkClients:
    """Mixin: one layout, a private Chroma server with the collections of NAMES, migrated into a fresh
    database, read by the layout's client with only the client_config migrate printed."""
    layout = None
    spaces = ("cosine", "l2", "ip")
    normalise = ()   # spaces whose vectors are unit vectors (llamaindex-ts reads l2 by cosine)

    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.server = s.ChromaServer()
        cls.addClassCleanup(lambda: (cls.server.stop(), shutil.rmtree(cls.server.tmp, ignore_errors=True)))
        cls.chroma = s.Chroma(cls.server.url)
        cls.cols = {}
        for i, space in enumerate(cls.spaces):
            norm = space in cls.normalise
            cid = fill(cls.chroma, NAMES[space], space, faq_records(N, seed=180 + i, normalise=norm))
            recs = chroma_records(cls.chroma, cid)
            cls.cols[space] = types.SimpleNamespace(
                name=NAMES[space], cid=cid, records=recs, norm=norm,
                queries=pick_queries(list(recs.values()), space, 10, seed=i, normalise=norm))
        cls.names = [NAMES[sp] for sp in cls.spaces]
        cls.url, drop = s.new_database("fw" + cls.layout.replace("-", "")[:6])
        cls.addClassCleanup(drop)
        cls.result, cls.migrate_stderr, cls.reported = migrate(cls.server.url, cls.url, cls.layout, cls.names)
        cls.reader = class_reader(cls, cls.url)

    def config(self, name):
        c = self.reported.get(name)
        self.assertIsNotNone(c, "migrate --json reports no collection %r: %r" % (name, list(self.reported)))
        self.assertIn("client_config", c, "%s: no client_config in %r" % (self.layout, c))
        return c["client_config"]

    def assertRanking(self, space, hits, want, label):
        """hits: the client's; want: Chroma's [(id, distance)]."""
        self.assertEqual([h["id"] for h in hits], [rid for rid, _ in want], label)
        for h, (rid, d) in zip(hits, want):
            got = to_chroma_distance(self.layout, space, h)
            self.assertLessEqual(abs(got - d), 1e-5 * max(1.0, abs(d)),
                                 "%s: distance of %r: client %r (%r in Chroma's convention), Chroma %r"
                                 % (label, rid, h, got, d))

    def assertPayloads(self, records, hits):
        problems = [p for p in (payload_problem(self.layout, records[h["id"]], h) for h in hits) if p]
        self.assertEqual(problems, [])

    def test_reported_tables_and_client_config(self):
        for space in self.spaces:
            name = NAMES[space]
            c = self.reported.get(name)
            self.assertIsNotNone(c, "migrate --json: no collection %r in %r" % (name, list(self.reported)))
            print("%s: Chroma %r -> table %r, client_config %s" % (self.layout, name, c.get("table"),
                                                                 json.dumps(c.get("client_config"))), file=sys.stderr)
            table = expected_table(self.layout, name)
            self.assertEqual(c.get("table"), table, "%s %r" % (self.layout, name))
            self.assertEqual(c.get("client_config"), expected_config(self.layout, name, space), "%s %r" % (self.layout, name))
            self.assertEqual(s.pg_query(self.url, "SELECT count(*) FROM public.%s" % quote(table)), [(N,)])
            # The vector index each client's query can use: on its column, with the space's operator
            # class (llamaindex-ts: cosine always), named as the spec names it where a client looks it up.
            hnsw = s.pg_query(self.url, "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c "
                                        "ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam WHERE am.amname = 'hnsw' "
                                        "AND i.indrelid = %s::regclass", ("public." + quote(table),))
            self.assertEqual(len(hnsw), 1, hnsw)
            column, ops = VECTOR_INDEX[self.layout]
            self.assertIn("hnsw (%s vector_%s_ops)" % (column, ops or space), hnsw[0][1])
            if self.layout in INDEX_NAME:
                self.assertEqual(hnsw[0][0], INDEX_NAME[self.layout] % table)

    def test_top10_equals_chromas(self):
        before = jc.schema_snapshot(self.url)
        for space, col in self.cols.items():
            want = chroma_query(self.chroma, col.cid, col.queries, 10)
            got = client_query(self.layout, self.reader, self.config(col.name), col.queries)
            self.assertEqual(len(got), len(col.queries))
            for i, (hits, w) in enumerate(zip(got, want)):
                self.assertRanking(space, hits, w, "%s %s query %d" % (self.layout, col.name, i))
                self.assertPayloads(col.records, hits)
        self.assertEqual(jc.schema_snapshot(self.url), before, "%s: the client changed the tables" % self.layout)

    def test_filters_equal_chromas(self):
        for space, col in self.cols.items():
            qs, filts, wants, labels = [], [], [], []
            for j, (what, where, keep, spelled) in enumerate(FILTERS):
                some = pick_queries(list(col.records.values()), space, 2, seed=40 + j,
                                    keep=lambda r: keep(r["metadata"] or {}), normalise=col.norm)
                wants += chroma_query(self.chroma, col.cid, some, 10, where)
                qs += some
                filts += [spelled[self.layout]] * len(some)
                labels += ["%s %s filter %s query %d" % (self.layout, col.name, what, i) for i in range(len(some))]
            got = client_query(self.layout, self.reader, self.config(col.name), qs, filts=filts)
            self.assertEqual(len(got), len(qs))
            for hits, w, label in zip(got, wants, labels):
                self.assertEqual(len(w), 10)
                self.assertRanking(space, hits, w, label)
                self.assertPayloads(col.records, hits)

    def test_null_empty_uri_and_no_metadata_records(self):
        # Queried by their own vectors: the record is its own nearest neighbour under cosine and l2
        # (not under ip, where a longer vector can be nearer; the ip collection's payloads are checked
        # on every hit of the top-10 and filter tests).
        for space, col in self.cols.items():
            if space == "ip":
                continue
            r = col.records
            # The data is what the test means it to be (Chroma kept the special cases).
            self.assertIsNone(r[NULL_DOC_ID]["document"])
            self.assertEqual(r[EMPTY_DOC_ID]["document"], "")
            self.assertTrue(r[URI_ID]["uri"])
            self.assertFalse(r[NO_META_ID]["metadata"])
            ids = [NAMED_ID, NULL_DOC_ID, EMPTY_DOC_ID, URI_ID, NO_META_ID]
            got = client_query(self.layout, self.reader, self.config(col.name), [r[i]["embedding"] for i in ids], k=1)
            for rid, hits in zip(ids, got):
                self.assertEqual([h["id"] for h in hits], [rid], "%s %s: query by %r's own vector" % (self.layout, col.name, rid))
                self.assertIsNone(payload_problem(self.layout, r[rid], hits[0]))
            null_hit = got[1][0]
            if self.layout in ("langchainjs", "pgvectorstore"):
                self.assertEqual((null_hit["document"], null_hit["metadata"].get("_chroma_document_null")), ("", True))
            elif self.layout == "llamaindex-ts":
                self.assertEqual(null_hit["document"], "")
            else:
                self.assertNotIn("text", null_hit["metadata"])
                self.assertEqual(got[2][0]["metadata"].get("text"), "")

    def test_verify_passes(self):
        p, r = verify(self.server.url, self.url, self.layout, self.names, check=0)
        self.assertEqual(r["verdict"], "PASS", r.get("failures"))
        self.assertEqual({c["name"]: c["completeness"]["matching"] for c in r["collections"]},
                         {n: N for n in self.names})

    def test_tampered_row_then_sync(self):
        # A row changed in PostgreSQL fails verify naming it; sync after adds, updates and deletes in
        # Chroma repairs it and applies them; verify passes and the client sees the changes.
        cid = fill(self.chroma, SYNC_NAME, "cosine", faq_records(80, seed=77))
        self.addCleanup(self.chroma.delete_collection, SYNC_NAME)
        before = chroma_records(self.chroma, cid)
        url, drop = s.new_database("fwsy")
        self.addCleanup(drop)
        src = self.server.url
        _, _, reported = migrate(src, url, self.layout, [SYNC_NAME])
        table, config = reported[SYNC_NAME]["table"], reported[SYNC_NAME]["client_config"]
        verify(src, url, self.layout, [SYNC_NAME], check=0)

        idc, metac, metat = ROW_SQL[self.layout]
        tampered = "Doc 10/ü"
        n = s.pg_query(url, "UPDATE public.{t} SET {m} = ({m}::jsonb || '{{\"lang\": \"tampered\"}}')::{ty} "
                            "WHERE {i} = %s RETURNING 1".format(t=quote(table), m=metac, ty=metat, i=idc), (tampered,))
        self.assertEqual(len(n), 1, "no row %r in %s.%s" % (tampered, table, idc))
        p, r = verify(src, url, self.layout, [SYNC_NAME], check=1)
        self.assertEqual(r["verdict"], "FAIL")
        diff = r["collections"][0]["completeness"]["different_records"]
        self.assertEqual([(d["id"], d["fields"]) for d in diff], [(tampered, ["metadata"])])
        self.assertIn(tampered, p.stderr)

        new = {"id": "Doc new/ü", "embedding": [s.f32(0.1 * (k + 1)) for k in range(DIM)], "document": "neue Antwort",
               "metadata": {"lang": "es", "n": 1000, "f": 0.5, "b": True}, "uri": "s3://faq/new.txt"}
        self.chroma.add(cid, [new["id"]], [new["embedding"]], [new["document"]], [new["metadata"]], [new["uri"]])
        updated, deleted = "Doc 11/ü", "Doc 12/ü"
        self.chroma.call("POST", s.API + "/collections/%s/update" % cid,
                         {"ids": [updated], "metadatas": [{"lang": "it", "n": 2000}], "documents": ["aktualisiert"]})
        self.chroma.call("POST", s.API + "/collections/%s/delete" % cid, {"ids": [deleted]})
        res = s.run_json("sync", "--from", src, "--to", url, "--layout", self.layout, "--collections", SYNC_NAME)
        c = res["collections"][0]
        self.assertEqual((c["inserted"], c["updated"], c["deleted"]), (1, 2, 1), c)
        verify(src, url, self.layout, [SYNC_NAME], check=0)

        recs = chroma_records(self.chroma, cid)
        reader = jc.reader_url(self, url)
        probes = [new["id"], updated, tampered]
        got = client_query(self.layout, reader, config, [recs[i]["embedding"] for i in probes], k=1)
        for rid, hits in zip(probes, got):
            self.assertEqual([h["id"] for h in hits], [rid])
            self.assertIsNone(payload_problem(self.layout, recs[rid], hits[0]))
        self.assertEqual(recs[updated]["document"], "aktualisiert")
        gone = client_query(self.layout, reader, config, [before[deleted]["embedding"]], k=5)[0]
        self.assertNotIn(deleted, [h["id"] for h in gone])


class LangchainjsClient(FrameworkClients, unittest.TestCase):
    layout = "langchainjs"


class LlamaindexTsClient(FrameworkClients, unittest.TestCase):
    """LlamaIndex TS always searches by cosine: its l2 collection holds unit vectors, where l2 = 2 × cosine
    distance and the neighbours are Chroma's; migrate must warn that they are not otherwise."""
    layout = "llamaindex-ts"
    spaces = ("cosine", "l2")
    normalise = ("l2",)

    def test_l2_collection_warns(self):
        warned = [ln for ln in self.migrate_stderr.splitlines() if NAMES["l2"] in ln and "normalised" in ln]
        self.assertTrue(warned, self.migrate_stderr)
        self.assertFalse([ln for ln in self.migrate_stderr.splitlines() if NAMES["cosine"] in ln and "normalised" in ln])


class MastraClient(FrameworkClients, unittest.TestCase):
    layout = "mastra"

    def test_describe_index_reports_the_space(self):
        for space, metric in (("cosine", "cosine"), ("l2", "euclidean"), ("ip", "dotproduct")):
            desc = jc.harness("describe", "mastra", self.reader, self.config(NAMES[space]))
            self.assertEqual(sorted(desc["indexes"]), sorted(FOLDED[n] for n in self.names))
            self.assertEqual({k: desc["describe"].get(k) for k in ("metric", "type", "dimension", "count")},
                             {"metric": metric, "type": "hnsw", "dimension": DIM, "count": N}, space)

    def test_ip_collection_warns_of_min_score(self):
        # Mastra's default minScore = -1 drops records whose inner product is <= -1 (docs/layouts.md).
        warned = [ln for ln in self.migrate_stderr.splitlines() if NAMES["ip"] in ln and "minScore" in ln]
        self.assertTrue(warned, self.migrate_stderr)


class PgVectorStoreClient(FrameworkClients, unittest.TestCase):
    layout = "pgvectorstore"


# The same against the current Chroma (the server of Chroma 1.3-1.5 users).
LangchainjsClientOnCurrent = s.on_chroma("current", LangchainjsClient)
LlamaindexTsClientOnCurrent = s.on_chroma("current", LlamaindexTsClient)
MastraClientOnCurrent = s.on_chroma("current", MastraClient)
PgVectorStoreClientOnCurrent = s.on_chroma("current", PgVectorStoreClient)


# ---------------------------------------------------------------- migrated from a real user's directory
def f32_from_hex(h):
    return struct.unpack(">f", bytes.fromhex(h))[0]


def plain(typed):
    """A (type, value) of support.typed_dump as JSON holds it."""
    t, x = typed
    return [plain(e) for e in x] if t == "array" else x


class RealUserDirectory(unittest.TestCase):
    """A real user's persistent directory (REAL_FIXTURE, written by Chroma 1.3) migrated with each layout
    from the directory itself: verify passes, the directory is unchanged, and the client's top-10 of
    stored vectors (unfiltered and with a department filter) is the exact top-10 under cosine."""

    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.dir = s.fixture_dir(REAL_FIXTURE)
        code, err, infos, recs = s.dump_source(cls.dir)
        if code != 0:
            raise AssertionError("dump_source %s: exit %d\n%s" % (cls.dir, code, err))
        (cid, info), = infos.items()
        assert (info["name"], info["space"], len(recs[cid])) == (REAL_NAME, "cosine", 287), info
        cls.records = {rid: {"id": rid, "embedding": [f32_from_hex(h) for h in r["embedding"]],
                             "document": r["document"], "uri": r["uri"],
                             "metadata": {k: plain(s.typed_dump(v)) for k, v in r["metadata"].items()} if r["metadata"] else None}
                       for rid, r in recs[cid].items()}
        ordered = sorted(cls.records.values(), key=lambda r: r["id"])
        keep = lambda r: r["metadata"]["department"] == "finance"
        cls.queries = []   # (vector, keep) of stored vectors whose top-10 has no near tie
        for r in ordered[::7]:
            for k in (None, keep):
                pool = [x for x in ordered if k is None or k(x)]
                if len(cls.queries) < 6 and well_separated([jc.cosine(x["embedding"], r["embedding"]) for x in pool],
                                                           gap=1e-5):
                    cls.queries.append((r["embedding"], k))

    def check_layout(self, layout):
        before = s.tree_hash(self.dir)
        url, drop = s.new_database("fwreal")
        self.addCleanup(drop)
        _, _, reported = migrate(self.dir, url, layout, [REAL_NAME])
        c = reported[REAL_NAME]
        print("%s: Chroma %r -> table %r, client_config %s" % (layout, REAL_NAME, c.get("table"),
                                                             json.dumps(c.get("client_config"))), file=sys.stderr)
        self.assertEqual(c.get("table"), {"langchain": "langchain_pg_embedding",
                                          "llamaindex": "data_" + REAL_NAME.lower()}.get(layout, REAL_NAME))
        reader = jc.reader_url(self, url)
        filt = {"langchainjs": {"department": "finance"}, "langchain": {"department": "finance"},
                "llamaindex": {"department": "finance"},
                "llamaindex-ts": {"filters": [{"key": "department", "value": "finance", "operator": "=="}]},
                "mastra": {"department": {"$eq": "finance"}}, "pgvectorstore": {"department": {"$eq": "finance"}}}[layout]
        self.assertGreaterEqual(len(self.queries), 4)
        got = client_query(layout, reader, c["client_config"], [q for q, _ in self.queries],
                           filts=[filt if keep else None for _, keep in self.queries])
        for i, ((q, keep), hits) in enumerate(zip(self.queries, got)):
            want = jc.exact(list(self.records.values()), q, jc.cosine, 10, keep=keep or (lambda r: True))
            label = "%s query %d%s" % (layout, i, " (department = finance)" if keep else "")
            self.assertEqual([h["id"] for h in hits], [rid for rid, _ in want], label)
            for h, (rid, d) in zip(hits, want):
                self.assertLessEqual(abs(to_chroma_distance(layout, "cosine", h) - d), 1e-5, "%s: %r" % (label, rid))
                self.assertIsNone(payload_problem(layout, self.records[rid], h))
        verify(self.dir, url, layout, [REAL_NAME], check=0)
        self.assertEqual(s.tree_hash(self.dir), before, "the fixture's bytes changed")

    def test_langchainjs(self):
        self.check_layout("langchainjs")

    def test_llamaindex_ts(self):
        self.check_layout("llamaindex-ts")

    def test_mastra(self):
        self.check_layout("mastra")

    def test_pgvectorstore(self):
        self.check_layout("pgvectorstore")

    def test_mastra_in_its_own_schema(self):
        # --schema rag: client_config carries schemaName, which Mastra's PgVector constructor takes.
        url, drop = s.new_database("fwschema")
        self.addCleanup(drop)
        p = s.run("--json", "migrate", "--from", self.dir, "--to", url, "--layout", "mastra", "--schema", "rag",
                  check=0)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        c = json.loads(p.stdout)["collections"][0]
        self.assertEqual(c["client_config"], {"indexName": REAL_NAME, "schemaName": "rag"})
        q = next(v for v, keep in self.queries if keep is None)
        hits = client_query("mastra", url, c["client_config"], [q])[0]
        self.assertEqual([h["id"] for h in hits], [rid for rid, _ in jc.exact(list(self.records.values()), q,
                                                                               jc.cosine, 10)])
        s.run("verify", "--from", self.dir, "--to", url, "--layout", "mastra", "--schema", "rag", check=0)

    def test_langchain_python_sql(self):
        self.check_layout("langchain")

    def test_llamaindex_python_sql(self):
        self.check_layout("llamaindex")


if __name__ == "__main__":
    unittest.main()
