"""Integration tests for sql/init-pgvector.sql on a real PostgreSQL + pgvector.

Environment:
  C2P_PG_URL  superuser URL (or libpq conninfo) of a throw-away PostgreSQL 15 with pgvector
              0.8 available, e.g. the URL printed by `scripts/pg-cluster.sh start DIR`.
  C2P_REPO    repository root (default: two levels above this file).

Run: python3 -m unittest -v tests/integration/test_sql_assets.py

Each run creates its own database (dropped at the end) and its own login roles (dropped at
the end); the group roles chroma2pg_app / chroma2pg_migrator are cluster-wide and are left
in place (the init script creates them only when absent).

The collections the tests search are built by setup_test_collections(): by hand, in
chroma2pg's native layout. Replace that one function to run the same checks on collections
migrated by chroma2pg itself.
"""

import json
import os
import random
import re
import shutil
import subprocess
import unittest
import uuid

import sys

# Debian's python3-psycopg2 lives in /usr/lib/python3/dist-packages; a python3 from pyenv or
# a venv does not look there. Same CPython minor version -> the extension module loads.
try:
    import psycopg2  # noqa: F401
except ImportError:
    if os.path.isdir("/usr/lib/python3/dist-packages"):
        sys.path.append("/usr/lib/python3/dist-packages")

try:
    import psycopg2
    import psycopg2.errors
    import psycopg2.extensions
    import psycopg2.extras
    from psycopg2 import sql as pgsql
except ImportError:  # pragma: no cover - reported as a failure below
    psycopg2 = None

REPO = os.environ.get("C2P_REPO") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
INIT_SQL = os.path.join(REPO, "sql", "init-pgvector.sql")
PG_URL = os.environ.get("C2P_PG_URL", "")

GROUP_APP = "chroma2pg_app"
GROUP_MIGRATOR = "chroma2pg_migrator"

# The main test collection: clustered 16-d vectors, cosine space, in a table whose name
# needs quoting (the functions must use %I).
CLUSTERED = "clustered-docs"
CLUSTERED_TABLE = 'Clustered "Docs" 16d'
CLUSTERED_DIM = 16
CLUSTERED_ROWS = 2000
CLUSTERED_TOPICS = ["a", "b", "c", "d", "e"]
RARE_EVERY = 100          # 1% of the rows carry {"rare": true}
WIDE = "wide-2048"        # above pgvector's 2000-dim index limit: halfvec expression index
WIDE_DIM = 2048
WIDE_ROWS = 3000     # enough rows for the planner to prefer the index over a scan


def find_psql():
    for cand in ("/usr/lib/postgresql/15/bin/psql", shutil.which("psql")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def dsn_with(base, **kw):
    """base URL/conninfo with some keywords replaced (dbname, user, password)."""
    return psycopg2.extensions.make_dsn(base, **kw)


def vec_text(v):
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def normalise(v):
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


# --------------------------------------------------------------------------------------
# Collection setup (native layout). One function, so it can be swapped for a collection
# migrated by chroma2pg.
# --------------------------------------------------------------------------------------

def create_native_collection(cur, name, table, space, dim, rows=(), *, rows_sql=None, hnsw=True):
    """Registry row + table + (HNSW index of the space) + GIN index on metadata.

    rows: iterable of (id, embedding list, document or None, metadata dict);
    rows_sql: or a SELECT producing (id, embedding, document, uri, metadata), run server-side.
    Indexes are built after the load, as chroma2pg does."""
    opclass_suffix = {"l2": "l2_ops", "ip": "ip_ops", "cosine": "cosine_ops"}[space]
    cur.execute(
        pgsql.SQL(
            "CREATE TABLE {} (id text PRIMARY KEY, embedding vector({}) NOT NULL, "
            "document text, uri text, metadata jsonb, digest bytea)"
        ).format(pgsql.Identifier(table), pgsql.Literal(dim)))
    if rows_sql is not None:
        cur.execute(pgsql.SQL("INSERT INTO {} (id, embedding, document, uri, metadata) ")
                    .format(pgsql.Identifier(table)).as_string(cur) + rows_sql)
    else:
        psycopg2.extras.execute_values(
            cur,
            pgsql.SQL("INSERT INTO {} (id, embedding, document, uri, metadata) VALUES %s")
            .format(pgsql.Identifier(table)).as_string(cur),
            [(rid, vec_text(emb), doc, None, json.dumps(meta)) for rid, emb, doc, meta in rows],
            template="(%s, %s::vector, %s, %s, %s::jsonb)", page_size=500)
    if hnsw:
        if dim > 2000:
            cur.execute(pgsql.SQL(
                "CREATE INDEX ON {} USING hnsw ((embedding::halfvec({})) {}) "
                "WITH (m = 16, ef_construction = 100)").format(
                    pgsql.Identifier(table), pgsql.Literal(dim),
                    pgsql.SQL("halfvec_" + opclass_suffix)))
        else:
            cur.execute(pgsql.SQL(
                "CREATE INDEX ON {} USING hnsw (embedding {}) "
                "WITH (m = 16, ef_construction = 100)").format(
                    pgsql.Identifier(table), pgsql.SQL("vector_" + opclass_suffix)))
    cur.execute(pgsql.SQL("CREATE INDEX ON {} USING gin (metadata)").format(
        pgsql.Identifier(table)))
    cur.execute(pgsql.SQL("ANALYZE {}").format(pgsql.Identifier(table)))
    cur.execute(
        "INSERT INTO chroma_collections (id, name, table_name, dimension, space, metadata, "
        "configuration, source, migrated_at, record_count, index_method) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, 'test', now(), "
        "(SELECT count(*) FROM " + pgsql.Identifier(table).as_string(cur) + "), %s)",
        (str(uuid.uuid4()), name, table, dim, space,
         json.dumps({"hnsw:space": space}), json.dumps({}), "hnsw" if hnsw else None))


def setup_test_collections(conn):
    """Creates the collections the tests use. Returns nothing; tests read what they need
    (index names, ground truth) from the database itself."""
    rnd = random.Random(20240607)
    with conn.cursor() as cur:
        # 1. clustered 16-d cosine collection: 5 topic clusters, 1% rare rows.
        centers = {t: normalise([rnd.gauss(0, 1) for _ in range(CLUSTERED_DIM)])
                   for t in CLUSTERED_TOPICS}
        rare_ids = set(rnd.sample(range(CLUSTERED_ROWS), CLUSTERED_ROWS // RARE_EVERY))
        rows = []
        for i in range(CLUSTERED_ROWS):
            topic = CLUSTERED_TOPICS[rnd.randrange(len(CLUSTERED_TOPICS))]
            emb = [c + rnd.gauss(0, 0.25) for c in centers[topic]]
            meta = {"topic": topic, "n": i, "lang": "en" if i % 2 else "es"}
            if i in rare_ids:
                meta["rare"] = True
            doc = None if i % 37 == 0 else "document %d about topic %s" % (i, topic)
            rows.append(("rec-%05d" % i, emb, doc, meta))
        create_native_collection(cur, CLUSTERED, CLUSTERED_TABLE, "cosine", CLUSTERED_DIM, rows)

        # 2. tiny collections with known distances in the l2 and ip spaces.
        create_native_collection(cur, "l2-small", "l2_small", "l2", 2, [
            ("origin", [0, 0], "zero", {"k": 1}),
            ("unit", [1, 0], "one", {"k": 2}),
            ("three-four", [3, 4], "five", {"k": 3}),
        ])
        create_native_collection(cur, "ip-small", "ip_small", "ip", 2, [
            ("x", [1, 0], "x axis", {"k": 1}),
            ("diag", [0.5, 0.5], "diagonal", {"k": 2}),
            ("minus-x", [-1, 0], "negative x", {"k": 3}),
        ])

        # 3. wide collection above the 2000-dim index limit (halfvec expression index).
        #    Random vectors generated server-side (megabytes of text otherwise).
        cur.execute("SELECT setseed(0.42)")
        create_native_collection(
            cur, WIDE, "wide_docs", "cosine", WIDE_DIM, rows_sql=(
                "SELECT format('w-%%s', lpad(i::text, 4, '0')), "
                "(SELECT array_agg(random() - 0.5)::real[]::vector "
                "   FROM generate_series(1, %d) WHERE i >= 0), "
                "'wide ' || i, NULL, jsonb_build_object('i', i) "
                "FROM generate_series(0, %d) AS i" % (WIDE_DIM, WIDE_ROWS - 1)))
    conn.commit()


# --------------------------------------------------------------------------------------

def plan_nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def plan_summary(plan, depth=0):
    """Node types and index names, one line per node (plans hold huge vector literals)."""
    line = "  " * depth + plan.get("Node Type", "?")
    if "Index Name" in plan:
        line += " using " + plan["Index Name"]
    if "Relation Name" in plan:
        line += " on " + plan["Relation Name"]
    return "\n".join([line] + [plan_summary(c, depth + 1) for c in plan.get("Plans", [])])


class SqlAssetsTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if psycopg2 is None:
            raise RuntimeError("python3-psycopg2 is not installed (apt-get install python3-psycopg2)")
        if not PG_URL:
            raise RuntimeError("C2P_PG_URL is not set: no PostgreSQL to test against "
                               "(scripts/pg-cluster.sh start DIR prints one)")
        cls.psql = find_psql()
        if cls.psql is None:
            raise RuntimeError("psql not found (apt-get install postgresql-client-15)")
        cls.suffix = "%d_%s" % (os.getpid(), uuid.uuid4().hex[:8])
        cls.dbname = "c2p_sqltest_" + cls.suffix
        cls.extra_dbs = []
        cls.login_roles = []
        cls.admin = psycopg2.connect(PG_URL)
        cls.admin.autocommit = True
        with cls.admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
            if cur.fetchone() is None:
                cls.admin.close()
                raise RuntimeError("pgvector is not installed on the server "
                                   "(scripts/install-pgvector.sh)")
            cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(cls.dbname)))
        cls.db_dsn = dsn_with(PG_URL, dbname=cls.dbname)
        try:
            cls.init_runs = [cls.run_init(cls.db_dsn), cls.run_init(cls.db_dsn)]
            cls.conn = psycopg2.connect(cls.db_dsn)
            setup_test_collections(cls.conn)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        conn = getattr(cls, "conn", None)
        if conn is not None:
            conn.close()
        with cls.admin.cursor() as cur:
            for db in [cls.dbname] + cls.extra_dbs:
                cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    pgsql.Identifier(db)))
            for role in cls.login_roles:
                cur.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(role)))
        cls.admin.close()

    @classmethod
    def run_init(cls, dsn, *extra):
        return subprocess.run(
            [cls.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", *extra, "-d", dsn, "-f", INIT_SQL],
            capture_output=True, text=True, timeout=120)

    # ---- helpers ----------------------------------------------------------------------

    def setUp(self):
        self.conn.rollback()

    def query(self, sql, params=None, conn=None):
        conn = conn or self.conn
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def find(self, collection, q, k=10, mfilter=None, contains=None, conn=None):
        return self.query(
            "SELECT id, document, metadata, distance, similarity "
            "FROM find_similar_documents(%s, %s::vector, %s, %s::jsonb, %s)",
            (collection, vec_text(q), k, json.dumps(mfilter) if mfilter is not None else None,
             contains), conn=conn)

    def exact_cosine(self, q, k, where="", params=()):
        """Exact nearest neighbours by cosine distance (no index)."""
        with self.conn.cursor() as cur:
            cur.execute("SET LOCAL enable_indexscan = off")
            cur.execute("SET LOCAL enable_bitmapscan = off")
            cur.execute(
                pgsql.SQL("SELECT id, embedding <=> %s::vector AS d FROM {} {} "
                          "ORDER BY d, id LIMIT %s").format(
                    pgsql.Identifier(CLUSTERED_TABLE), pgsql.SQL(where)),
                (vec_text(q),) + tuple(params) + (k,))
            rows = cur.fetchall()
        self.conn.rollback()
        return rows

    def hnsw_index_name(self, table):
        rows = self.query(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_am am ON am.oid = i.relam WHERE x.indrelid = %s::regclass "
            "AND am.amname = 'hnsw'", (pgsql.Identifier(table).as_string(self.conn),))
        self.assertEqual(len(rows), 1, "expected one HNSW index on %s" % table)
        return rows[0][0]

    def explain_function_query(self, collection, q, k=10, mfilter=None, contains=None):
        with self.conn.cursor() as cur:
            cur.execute("SELECT find_similar_documents_sql(%s, %s, %s::jsonb, %s)",
                        (collection, k, json.dumps(mfilter) if mfilter is not None else None,
                         contains))
            text = cur.fetchone()[0]
            cur.execute("PREPARE c2p_q(vector, jsonb, text) AS " + text)
            try:
                cur.execute("EXPLAIN (FORMAT JSON) EXECUTE c2p_q(%s::vector, %s::jsonb, %s)",
                            (vec_text(q), json.dumps(mfilter) if mfilter is not None else None,
                             contains))
                plan = cur.fetchone()[0]
            finally:
                cur.execute("DEALLOCATE c2p_q")
        self.conn.rollback()
        return text, plan[0]["Plan"]

    def query_vectors(self, n, seed=7):
        """Query vectors: stored vectors perturbed a little (near, but not on, the data)."""
        rows = self.query(pgsql.SQL("SELECT embedding::text FROM {} ORDER BY id").format(
            pgsql.Identifier(CLUSTERED_TABLE)))
        rnd = random.Random(seed)
        picked = rnd.sample(rows, n)
        return [[float(x) + rnd.gauss(0, 0.05) for x in r[0].strip("[]").split(",")]
                for r in picked]

    def login(self, group, *, session_role=None):
        """A new login role, member of group, connected to the test database."""
        name = "c2p_%s_%s" % (group.split("_")[-1], uuid.uuid4().hex[:10])
        password = uuid.uuid4().hex
        with self.admin.cursor() as cur:
            cur.execute(pgsql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE {}").format(
                pgsql.Identifier(name), pgsql.Identifier(group)), (password,))
            self.login_roles.append(name)
            if session_role:
                cur.execute(pgsql.SQL("ALTER ROLE {} SET role = %s").format(
                    pgsql.Identifier(name)), (session_role,))
        conn = psycopg2.connect(dsn_with(self.db_dsn, user=name, password=password))
        self.addCleanup(conn.close)
        return conn

    def assertDenied(self, conn, sql, params=None):
        with conn.cursor() as cur:
            with self.assertRaises(psycopg2.errors.InsufficientPrivilege, msg=sql):
                cur.execute(sql, params)
        conn.rollback()

    # ---- init script ------------------------------------------------------------------

    def test_init_runs_twice_cleanly(self):
        for i, run in enumerate(self.init_runs, 1):
            self.assertEqual(run.returncode, 0, "run %d failed:\n%s" % (i, run.stderr))
            self.assertNotIn("ERROR", run.stderr)
        # And again, now that collections exist: no error, nothing lost.
        before = self.query("SELECT name, record_count FROM chroma_collections ORDER BY name")
        count = self.query(pgsql.SQL("SELECT count(*) FROM {}").format(
            pgsql.Identifier(CLUSTERED_TABLE)))[0][0]
        self.conn.commit()
        run = self.run_init(self.db_dsn)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(self.query(
            "SELECT name, record_count FROM chroma_collections ORDER BY name"), before)
        self.assertEqual(self.query(pgsql.SQL("SELECT count(*) FROM {}").format(
            pgsql.Identifier(CLUSTERED_TABLE)))[0][0], count)
        self.assertEqual(count, CLUSTERED_ROWS)

    def test_extension_and_roles(self):
        # >= 0.8.2 (compared as numbers): past the buffer overflow in parallel HNSW builds.
        version = self.query("SELECT extversion FROM pg_extension WHERE extname = 'vector'")[0][0]
        self.assertRegex(version, r"^\d+(\.\d+)*$", "pgvector extversion")
        self.assertGreaterEqual(tuple(int(p) for p in version.split(".")), (0, 8, 2),
                                "pgvector %s is older than 0.8.2" % version)
        roles = dict(self.query(
            "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN (%s, %s)",
            (GROUP_APP, GROUP_MIGRATOR)))
        self.assertEqual(roles, {GROUP_APP: False, GROUP_MIGRATOR: False})
        with open(INIT_SQL, encoding="utf-8") as f:
            text = f.read()
        code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
        self.assertNotRegex(code, r"(?i)\bPASSWORD\b", "a password in the init SQL")

    def test_database_settings(self):
        rows = self.query(
            "SELECT unnest(setconfig) FROM pg_db_role_setting s "
            "JOIN pg_database d ON d.oid = s.setdatabase "
            "WHERE d.datname = current_database() AND s.setrole = 0")
        settings = dict(r[0].split("=", 1) for r in rows)
        self.assertEqual(settings.get("random_page_cost"), "1.1")
        self.assertEqual(settings.get("jit"), "off")
        self.assertEqual(settings.get("hnsw.ef_search"), "100")
        self.assertEqual(settings.get("hnsw.iterative_scan"), "relaxed_order")
        self.assertIn("effective_io_concurrency", settings)
        # ... and a new session gets them.
        self.assertEqual(self.query("SHOW hnsw.ef_search")[0][0], "100")
        self.assertEqual(self.query("SHOW random_page_cost")[0][0], "1.1")

    # ---- cosine_similarity --------------------------------------------------------------

    def test_cosine_similarity_known_vectors(self):
        rows = self.query(
            "SELECT cosine_similarity('[1,0]', '[0,1]'), cosine_similarity('[1,0]', '[2,0]'), "
            "cosine_similarity('[1,0]', '[-3,0]'), cosine_similarity('[1,1]', '[1,0]'), "
            "cosine_similarity('[1,2,3]', '[4,5,6]'), cosine_similarity(NULL, '[1,0]')")[0]
        self.assertAlmostEqual(rows[0], 0.0, places=12)
        self.assertAlmostEqual(rows[1], 1.0, places=12)
        self.assertAlmostEqual(rows[2], -1.0, places=12)
        self.assertAlmostEqual(rows[3], 2 ** -0.5, places=6)
        self.assertAlmostEqual(rows[4], 32 / (14 ** 0.5 * 77 ** 0.5), places=6)
        self.assertIsNone(rows[5])
        flags = self.query(
            "SELECT provolatile, proisstrict, proparallel, prorettype::regtype::text "
            "FROM pg_proc WHERE oid = 'cosine_similarity(vector, vector)'::regprocedure")[0]
        self.assertEqual(flags, ("i", True, "s", "double precision"))

    # ---- find_similar_documents -----------------------------------------------------------

    def test_find_similar_matches_exact_search(self):
        k = 10
        found = total = 0
        for q in self.query_vectors(20):
            got = self.find(CLUSTERED, q, k)
            exact = self.exact_cosine(q, k)
            self.assertEqual(len(got), k)
            ids = [r[0] for r in got]
            self.assertEqual(len(set(ids)), k)
            dists = [r[3] for r in got]
            self.assertEqual(dists, sorted(dists), "results not ordered by distance")
            exact_d = dict(exact)
            for rid, doc, meta, dist, sim in got:
                self.assertAlmostEqual(sim, 1 - dist, places=9)
                if rid in exact_d:
                    self.assertAlmostEqual(dist, exact_d[rid], places=9)
            found += len(set(ids) & set(exact_d))
            total += k
            # The nearest is always found.
            self.assertEqual(ids[0], exact[0][0])
        recall = found / total
        self.assertGreaterEqual(recall, 0.98, "recall@10 of find_similar_documents = %.3f" % recall)

    def test_returns_document_and_metadata(self):
        row = self.query(pgsql.SQL(
            "SELECT id, embedding::text, document, metadata FROM {} WHERE id = 'rec-00005'")
            .format(pgsql.Identifier(CLUSTERED_TABLE)))[0]
        q = [float(x) for x in row[1].strip("[]").split(",")]
        got = self.find(CLUSTERED, q, 3)
        self.assertEqual(got[0][0], "rec-00005")
        self.assertEqual(got[0][1], row[2])
        self.assertEqual(got[0][2], row[3])
        self.assertAlmostEqual(got[0][3], 0.0, places=6)
        self.assertAlmostEqual(got[0][4], 1.0, places=6)

    def test_plan_uses_hnsw_index(self):
        index = self.hnsw_index_name(CLUSTERED_TABLE)
        q = self.query_vectors(1)[0]
        for mfilter in (None, {"lang": "en"}):
            text, plan = self.explain_function_query(CLUSTERED, q, 10, mfilter)
            scans = [n for n in plan_nodes(plan) if n.get("Node Type") == "Index Scan"]
            self.assertTrue(any(n.get("Index Name") == index for n in scans),
                            "no index scan on %s for filter %r:\n%s\n%s"
                            % (index, mfilter, text, plan_summary(plan)))
            self.assertNotIn("Seq Scan", plan_summary(plan))

    def test_function_execution_uses_hnsw_index(self):
        """auto_explain shows the plan of the query run inside the function."""
        index = self.hnsw_index_name(CLUSTERED_TABLE)
        q = self.query_vectors(1, seed=11)[0]
        with self.conn.cursor() as cur:
            try:
                cur.execute("LOAD 'auto_explain'")
            except psycopg2.Error as e:
                self.conn.rollback()
                self.fail("auto_explain not available: %s" % e)
            cur.execute("SET LOCAL auto_explain.log_min_duration = 0")
            cur.execute("SET LOCAL auto_explain.log_nested_statements = on")
            cur.execute("SET LOCAL client_min_messages = log")
            del self.conn.notices[:]
            cur.execute("SELECT * FROM find_similar_documents(%s, %s::vector, 5)",
                        (CLUSTERED, vec_text(q)))
            self.assertEqual(len(cur.fetchall()), 5)
            notices = list(self.conn.notices)
        self.conn.rollback()
        inner = [n for n in notices if "Query Text: SELECT s.id" in n]
        self.assertTrue(inner, "auto_explain logged no plan for the inner query:\n%s"
                        % "".join(notices))
        quoted = pgsql.Identifier(index).as_string(self.conn)
        self.assertRegex(inner[0], r"Index Scan using (%s|%s)\s" % (re.escape(index), re.escape(quoted)),
                         "\n".join(l for l in inner[0].splitlines() if "->" in l or "Scan" in l))

    def test_selective_filter_returns_k_rows(self):
        k = 10
        n_rare = CLUSTERED_ROWS // RARE_EVERY
        self.assertEqual(self.query(pgsql.SQL(
            "SELECT count(*) FROM {} WHERE metadata @> '{{\"rare\": true}}'").format(
                pgsql.Identifier(CLUSTERED_TABLE)))[0][0], n_rare)
        q = self.query_vectors(1, seed=3)[0]
        exact = self.exact_cosine(q, k, "WHERE metadata @> %s::jsonb", (json.dumps({"rare": True}),))
        # Whatever plan the planner picks, and with the HNSW index forced (bitmap/GIN and
        # sequential scans off), the filter must still yield k rows: iterative scan.
        for force_hnsw in (False, True):
            with self.conn.cursor() as cur:
                if force_hnsw:
                    cur.execute("SET LOCAL enable_bitmapscan = off")
                    cur.execute("SET LOCAL enable_seqscan = off")
                    cur.execute("SET LOCAL hnsw.ef_search = 40")
                    cur.execute("SET LOCAL hnsw.iterative_scan = off")
            got = self.find(CLUSTERED, q, k, {"rare": True})
            self.assertEqual(len(got), k, "force_hnsw=%s" % force_hnsw)
            self.assertTrue(all(r[2].get("rare") is True for r in got))
            overlap = len({r[0] for r in got} & {r[0] for r in exact})
            self.assertGreaterEqual(overlap, k - 1, "force_hnsw=%s" % force_hnsw)
            self.conn.rollback()

        # Control: the same index-only plan without iterative scan returns fewer rows, so
        # the check above really exercises the iterative scan.
        text = self.query("SELECT find_similar_documents_sql(%s, %s, %s::jsonb)",
                          (CLUSTERED, k, json.dumps({"rare": True})))[0][0]
        with self.conn.cursor() as cur:
            cur.execute("SET LOCAL enable_bitmapscan = off")
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute("SET LOCAL hnsw.ef_search = 40")
            cur.execute("SET LOCAL hnsw.iterative_scan = off")
            cur.execute("PREPARE c2p_ctl(vector, jsonb, text) AS " + text)
            cur.execute("EXECUTE c2p_ctl(%s::vector, %s::jsonb, NULL)",
                        (vec_text(q), json.dumps({"rare": True})))
            control = cur.fetchall()
        self.conn.rollback()
        self.assertLess(len(control), k)

    def test_settings_restored_after_call(self):
        with self.conn.cursor() as cur:
            cur.execute("SET hnsw.ef_search = 40")
            cur.execute("SET hnsw.iterative_scan = off")
        self.conn.commit()
        try:
            q = self.query_vectors(1)[0]
            self.assertEqual(len(self.find(CLUSTERED, q, 150, {"lang": "es"})), 150)
            self.assertEqual(self.query("SHOW hnsw.ef_search")[0][0], "40")
            self.assertEqual(self.query("SHOW hnsw.iterative_scan")[0][0], "off")
        finally:
            self.conn.rollback()
            with self.conn.cursor() as cur:
                cur.execute("RESET hnsw.ef_search")
                cur.execute("RESET hnsw.iterative_scan")
            self.conn.commit()

    def test_metadata_and_document_filters(self):
        q = self.query_vectors(1, seed=5)[0]
        got = self.find(CLUSTERED, q, 10, {"topic": "c", "lang": "en"}, "about topic c")
        self.assertEqual(len(got), 10)
        for rid, doc, meta, dist, sim in got:
            self.assertEqual(meta["topic"], "c")
            self.assertEqual(meta["lang"], "en")
            self.assertIn("about topic c", doc)
        exact = self.exact_cosine(
            q, 10, "WHERE metadata @> %s::jsonb AND strpos(document, %s) > 0",
            (json.dumps({"topic": "c", "lang": "en"}), "about topic c"))
        self.assertGreaterEqual(len({r[0] for r in got} & {r[0] for r in exact}), 9)
        # Case-sensitive substring, like Chroma's $contains.
        self.assertEqual(self.find(CLUSTERED, q, 10, None, "ABOUT TOPIC"), [])
        # A number inside the document.
        got = self.find(CLUSTERED, q, 5, None, "document 1234 ")
        self.assertEqual([r[0] for r in got], ["rec-01234"])
        # No match at all: empty, not an error.
        self.assertEqual(self.find(CLUSTERED, q, 5, {"topic": "zzz"}), [])

    def test_chroma_distance_conventions(self):
        got = self.find("l2-small", [0, 0], 3)
        self.assertEqual([r[0] for r in got], ["origin", "unit", "three-four"])
        self.assertEqual([round(r[3], 9) for r in got], [0.0, 1.0, 25.0])  # squared L2
        got = self.find("ip-small", [0.5, 0], 3)
        self.assertEqual([r[0] for r in got], ["x", "diag", "minus-x"])
        self.assertEqual([round(r[3], 9) for r in got], [0.5, 0.75, 1.5])  # 1 - dot
        self.assertEqual([round(r[4], 6) for r in got], [1.0, round(2 ** -0.5, 6), -1.0])
        got = self.find("l2-small", [3, 4], 1, {"k": 3}, "fiv")
        self.assertEqual([(r[0], r[1], r[2], r[3]) for r in got],
                         [("three-four", "five", {"k": 3}, 0.0)])

    def test_wide_collection_uses_halfvec_index(self):
        index = self.hnsw_index_name("wide_docs")
        row = self.query("SELECT embedding::text FROM wide_docs WHERE id = 'w-0042'")[0][0]
        q = [float(x) for x in row.strip("[]").split(",")]
        got = self.find(WIDE, q, 5)
        self.assertEqual(len(got), 5)
        self.assertEqual(got[0][0], "w-0042")
        self.assertAlmostEqual(got[0][3], 0.0, places=6)
        text, plan = self.explain_function_query(WIDE, q, 5)
        self.assertIn("halfvec(%d)" % WIDE_DIM, text)
        self.assertTrue(any(n.get("Node Type") == "Index Scan" and n.get("Index Name") == index
                            for n in plan_nodes(plan)), plan_summary(plan))

    def test_errors_are_clear(self):
        cases = [
            (("no-such-collection", [1, 0], 5), psycopg2.errors.UndefinedObject,
             "no collection named 'no-such-collection'"),
            (("l2-small", [1, 0, 0], 5), psycopg2.errors.DataException, "has 3 dimensions"),
            (("l2-small", [1, 0], 0), psycopg2.errors.InvalidParameterValue, "k must be"),
        ]
        for (coll, q, k), exc, message in cases:
            with self.assertRaises(exc) as ctx:
                self.find(coll, q, k)
            self.assertIn(message, str(ctx.exception))
            self.conn.rollback()

    # ---- views ------------------------------------------------------------------------

    def test_collections_overview(self):
        rows = self.query(
            "SELECT name, table_name, record_count, estimated_rows, dimension, space, "
            "table_exists, table_bytes, index_bytes, index_size "
            "FROM chroma2pg_collections_overview ORDER BY name")
        by_name = {r[0]: r for r in rows}
        self.assertEqual(set(by_name), {CLUSTERED, "l2-small", "ip-small", WIDE})
        r = by_name[CLUSTERED]
        self.assertEqual(r[1:7], (CLUSTERED_TABLE, CLUSTERED_ROWS, CLUSTERED_ROWS,
                                  CLUSTERED_DIM, "cosine", True))
        self.assertGreater(r[7], 0)
        self.assertGreater(r[8], 0)
        self.assertRegex(r[9], r"^\d+ (bytes|kB|MB)$")
        self.assertEqual(by_name["l2-small"][5], "l2")
        self.assertEqual(by_name[WIDE][4], WIDE_DIM)

    def test_vector_indexes_view(self):
        rows = self.query(
            "SELECT collection, method, opclasses, valid FROM chroma2pg_vector_indexes "
            "WHERE method IN ('hnsw', 'gin') ORDER BY collection, method")
        got = {(r[0], r[1]): (r[2], r[3]) for r in rows}
        self.assertEqual(got[(CLUSTERED, "hnsw")], ("vector_cosine_ops", True))
        self.assertEqual(got[(CLUSTERED, "gin")], ("jsonb_ops", True))
        self.assertEqual(got[("l2-small", "hnsw")], ("vector_l2_ops", True))
        self.assertEqual(got[("ip-small", "hnsw")], ("vector_ip_ops", True))
        self.assertEqual(got[(WIDE, "hnsw")], ("halfvec_cosine_ops", True))

    def test_vector_settings_view(self):
        rows = self.query("SELECT name, setting, advice FROM chroma2pg_vector_settings")
        settings = {r[0]: r for r in rows}
        for name in ("shared_buffers", "work_mem", "maintenance_work_mem",
                     "effective_cache_size", "max_parallel_maintenance_workers",
                     "max_parallel_workers", "hnsw.ef_search", "hnsw.iterative_scan",
                     "random_page_cost", "jit"):
            self.assertIn(name, settings)
            self.assertTrue(settings[name][2], "no advice for %s" % name)
            self.assertIsNotNone(settings[name][1], "no value for %s" % name)
        self.assertEqual(settings["hnsw.ef_search"][1], "100")
        self.assertEqual(settings["hnsw.iterative_scan"][1], "relaxed_order")
        self.assertEqual(settings["jit"][1], "off")

    # ---- roles --------------------------------------------------------------------------

    def test_app_role_is_read_only(self):
        app = self.login(GROUP_APP)
        table = pgsql.Identifier(CLUSTERED_TABLE).as_string(self.conn)
        self.assertEqual(self.query("SELECT count(*) FROM " + table, conn=app)[0][0],
                         CLUSTERED_ROWS)
        self.assertEqual(self.query("SELECT count(*) FROM chroma_collections", conn=app)[0][0], 4)
        q = self.query_vectors(1)[0]
        self.assertEqual(len(self.find(CLUSTERED, q, 5, {"topic": "a"}, conn=app)), 5)
        self.assertEqual(self.query("SELECT cosine_similarity('[1,0]', '[2,0]')",
                                    conn=app)[0][0], 1.0)
        self.assertEqual(len(self.query("SELECT * FROM chroma2pg_collections_overview",
                                        conn=app)), 4)
        self.assertTrue(self.query("SELECT * FROM chroma2pg_vector_settings", conn=app))
        app.rollback()

        self.assertDenied(app, "INSERT INTO " + table + " (id, embedding) VALUES ('x', %s)",
                          (vec_text([0.0] * CLUSTERED_DIM),))
        self.assertDenied(app, "UPDATE " + table + " SET document = 'x' WHERE id = 'rec-00001'")
        self.assertDenied(app, "DELETE FROM " + table + " WHERE id = 'rec-00001'")
        self.assertDenied(app, "TRUNCATE " + table)
        self.assertDenied(app, "DELETE FROM chroma_collections")
        self.assertDenied(app, "UPDATE chroma_collections SET space = 'l2'")
        self.assertDenied(app, "CREATE TABLE public.app_was_here (id int)")
        self.assertDenied(app, "CREATE INDEX ON " + table + " (document)")
        self.assertDenied(app, "DROP TABLE " + table)
        self.assertEqual(self.query("SELECT count(*) FROM " + table)[0][0], CLUSTERED_ROWS)

    def test_migrator_role_can_create_and_write(self):
        mig = self.login(GROUP_MIGRATOR, session_role=GROUP_MIGRATOR)
        table = "migrated by role %s" % uuid.uuid4().hex[:6]
        with mig.cursor() as cur:
            create_native_collection(cur, "by-migrator-" + table[-6:], table, "l2", 3, [
                ("p1", [1, 2, 3], "one", {"tag": "x"}),
                ("p2", [2, 3, 4], "two", {"tag": "y"}),
            ])
            ident = pgsql.Identifier(table).as_string(mig)
            cur.execute("INSERT INTO " + ident + " (id, embedding) VALUES ('p3', '[0,0,1]')")
            cur.execute("UPDATE " + ident + " SET document = 'uno' WHERE id = 'p1'")
            cur.execute("DELETE FROM " + ident + " WHERE id = 'p2'")
            # Writes into tables it did not create (made by the init-running superuser).
            cur.execute("UPDATE chroma_collections SET record_count = record_count "
                        "WHERE name = %s", (CLUSTERED,))
            cur.execute("INSERT INTO " + pgsql.Identifier(CLUSTERED_TABLE).as_string(mig)
                        + " (id, embedding) VALUES ('mig-new', %s)",
                        (vec_text([0.5] * CLUSTERED_DIM),))
            cur.execute("DELETE FROM " + pgsql.Identifier(CLUSTERED_TABLE).as_string(mig)
                        + " WHERE id = 'mig-new'")
            cur.execute("SELECT tableowner FROM pg_tables WHERE tablename = %s", (table,))
            self.assertEqual(cur.fetchone()[0], GROUP_MIGRATOR)
        mig.commit()
        self.assertEqual(self.query("SELECT id, document FROM " + ident + " ORDER BY id"),
                         [("p1", "uno"), ("p3", None)])
        # The app role reads what the migrator created later (default privileges).
        app = self.login(GROUP_APP)
        self.assertEqual(self.query("SELECT count(*) FROM " + ident, conn=app)[0][0], 2)
        got = self.find("by-migrator-" + table[-6:], [0, 0, 1], 1, conn=app)
        self.assertEqual([(r[0], round(r[3], 9)) for r in got], [("p3", 0.0)])
        self.assertDenied(app, "DELETE FROM " + ident)

    # ---- another schema ---------------------------------------------------------------

    def test_init_in_custom_schema(self):
        db = "c2p_sqltest_schema_" + self.suffix
        with self.admin.cursor() as cur:
            cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(db)))
        self.extra_dbs.append(db)
        dsn = dsn_with(PG_URL, dbname=db)
        for _ in range(2):
            run = self.run_init(dsn, "-v", "target_schema=Vector Store")
            self.assertEqual(run.returncode, 0, run.stderr)
        conn = psycopg2.connect(dsn)
        self.addCleanup(conn.close)
        with conn.cursor() as cur:
            cur.execute("SET search_path = 'Vector Store', public")
            create_native_collection(cur, "c", "tbl", "cosine", 2, [
                ("a", [1, 0], "a", {}), ("b", [0, 1], "b", {})])
            conn.commit()
            cur.execute("SET search_path = pg_catalog")
            cur.execute('SELECT id, distance FROM "Vector Store".find_similar_documents('
                        "'c', '[1,0.1]'::public.vector, 2)")
            rows = cur.fetchall()
            cur.execute("SELECT to_regclass('public.chroma_collections')")
            self.assertIsNone(cur.fetchone()[0])
        self.assertEqual([r[0] for r in rows], ["a", "b"])


if __name__ == "__main__":
    unittest.main()
