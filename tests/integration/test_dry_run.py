"""`migrate --dry-run` and `backup --dry-run`: the plan is printed and nothing changes, in PostgreSQL
(no schema, table, extension, registry or checkpoint row) or on disk (no backup directory, no reject
directory); the estimated size is within 25% of what the migration really takes
(pg_total_relation_size of the table, TOAST and indexes) and of the backup's files; a backup
directory without room for twice the estimate is refused with exit 3 (a 1 MB tmpfs), before and
instead of a real backup, unless --skip-space-check.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import uuid

import support as s

TOLERANCE = 0.25


def catalog_snapshot(url):
    """Every relation of every schema, the extensions and schemas, and the row count of any chroma2pg table."""
    rels = s.pg_query(url, "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON "
                           "n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                           "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
                           "ORDER BY 1, 2")
    counts = {}
    for nsp, rel, kind in rels:
        if kind == "r" and (rel.startswith("c2p_") or rel.startswith("chroma") or rel.startswith("langchain")
                            or rel.startswith("data_")):
            counts["%s.%s" % (nsp, rel)] = s.pg_query(url, 'SELECT count(*) FROM "%s"."%s"' % (nsp, rel))[0][0]
    ext = s.pg_query(url, "SELECT extname, extversion FROM pg_extension ORDER BY 1")
    nsp = s.pg_query(url, "SELECT nspname FROM pg_namespace ORDER BY 1")
    return {"relations": rels, "counts": counts, "extensions": ext, "schemas": nsp}


def real_size(url, table, schema="public"):
    return s.pg_query(url, "SELECT pg_total_relation_size(%s::regclass)", ('"%s"."%s"' % (schema, table),))[0][0]


def tree(path):
    out = []
    for root, dirs, files in os.walk(path):
        out += [os.path.relpath(os.path.join(root, n), path) for n in dirs + files]
    return sorted(out)


class DryRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        tag = uuid.uuid4().hex[:8]
        # The test dataset: every metadata type, Unicode documents, None documents/metadata, uris.
        cls.hnsw = "dry_hnsw_" + tag   # 384 dimensions, cosine, default HNSW index
        cls.plain = "dry_plain_" + tag  # 64 dimensions, l2, --index none
        cls.wide = "dry_wide_" + tag    # 1536 dimensions: vectors in TOAST
        for name, space, dim, n, seed in ((cls.hnsw, "cosine", 384, 3000, 3), (cls.plain, "l2", 64, 2500, 4),
                                          (cls.wide, "ip", 1536, 600, 5)):
            col = cls.chroma.create_collection(name, {"purpose": "dry run"}, space=space)
            ids, embs, docs, metas, uris = s.varied_records(n, dim, seed=seed)
            cls.chroma.add(col["id"], ids, embs, docs, metas, uris)
        cls.url, cls.drop = s.new_database("dry")
        cls.work = tempfile.mkdtemp(prefix="c2p-dry-")

    @classmethod
    def tearDownClass(cls):
        for n in (cls.hnsw, cls.plain, cls.wide):
            cls.chroma.delete_collection(n)
        cls.drop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def c2p(self, *args, check=0, env=None):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([s.BIN] + [str(a) for a in args], capture_output=True, text=True, cwd=self.work, env=e,
                           timeout=600)
        if check is not None:
            self.assertEqual(p.returncode, check, "%s\nstdout:\n%s\nstderr:\n%s" % (args, p.stdout[-3000:], p.stderr[-3000:]))
        return p

    def plan(self, *args, check=0, env=None):
        p = self.c2p("--json", "migrate", "--from", s.CHROMA_URL, "--to", self.url, "--dry-run", *args, check=check,
                     env=env)
        return json.loads(p.stdout)

    def assert_unchanged(self, before, what):
        self.assertEqual(catalog_snapshot(self.url), before, "%s changed the database" % what)
        self.assertEqual(tree(self.work), [], "%s wrote files in the working directory" % what)

    def test_1_migrate_dry_run_changes_nothing(self):
        before = catalog_snapshot(self.url)
        cols = ",".join((self.hnsw, self.plain))
        plan = self.plan("--collections", cols)
        self.assert_unchanged(before, "migrate --dry-run --json")
        human = self.c2p("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--dry-run", "--collections", cols,
                         "--index", "ivfflat")
        self.assert_unchanged(before, "migrate --dry-run")
        self.assertIn("dry run: nothing was changed", human.stdout)
        self.assertIn("USING ivfflat", human.stdout)
        for layout in ("langchain", "llamaindex"):
            lp = self.plan("--collections", self.hnsw, "--layout", layout)
            self.assert_unchanged(before, "migrate --dry-run --layout " + layout)
            self.assertEqual(lp["layout"], layout)
            self.assertTrue(lp["collections"][0]["table"].endswith(
                "langchain_pg_embedding" if layout == "langchain" else "data_" + self.hnsw.lower()))
        # By environment too.
        self.c2p("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.plain,
                 env={"CHROMA2PG_DRY_RUN": "1"})
        self.assert_unchanged(before, "CHROMA2PG_DRY_RUN=1 migrate")

        # The plan: collections, counts, dimensions, spaces, tables, indexes with their parameters.
        self.assertTrue(plan["dry_run"])
        by = {c["name"]: c for c in plan["collections"]}
        h, p = by[self.hnsw], by[self.plain]
        self.assertEqual((h["records"], h["dimension"], h["space"]), (3000, 384, "cosine"))
        self.assertEqual((p["records"], p["dimension"], p["space"]), (2500, 64, "l2"))
        self.assertEqual(h["table"], "public.c2p_" + self.hnsw)
        self.assertEqual(h["action"], "create")
        kinds = {i["kind"]: i for i in h["indexes"]}
        self.assertEqual(set(kinds), {"primary key", "vector", "gin"})
        v = kinds["vector"]
        self.assertEqual(v["method"], "hnsw")
        self.assertEqual(v["parameters"]["opclass"], "vector_cosine_ops")
        self.assertEqual((v["parameters"]["m"], v["parameters"]["ef_construction"]), (16, 100))
        self.assertIn("USING gin (metadata)", kinds["gin"]["sql"])
        self.assertEqual(plan["totals"]["records"], 5500)
        self.assertEqual(plan["totals"]["estimated_bytes"],
                         sum(c["estimated_bytes"]["total"] for c in plan["collections"]))
        # The test database is on this machine: its free space is measured.
        space = plan["space"][0]
        self.assertEqual(space["what"], "database")
        self.assertEqual(space["status"], "ok")
        self.assertGreater(space["free_bytes"], 0)
        self.assertEqual(space["needed_bytes"], 2 * plan["totals"]["estimated_bytes"])

    def test_2_estimate_within_25_percent(self):
        cases = [(self.hnsw, []), (self.plain, ["--index", "none"]), (self.wide, []),
                 # a bare load: the primary key only (the plan and the table agree on the indexes)
                 (self.plain, ["--index", "none", "--metadata-index", "none", "--replace"])]
        for name, extra in cases:
            with self.subTest(collection=name, options=extra):
                plan = self.plan("--collections", name, *extra)
                est = plan["collections"][0]["estimated_bytes"]["total"]
                table = plan["collections"][0]["table"].split(".", 1)[1]
                self.c2p("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", name, "-q", *extra)
                real = real_size(self.url, table)
                print("\n  %s %s: estimated %d bytes, real %d (%.3f)" % (name, extra, est, real, est / real))
                self.assertLessEqual(abs(est / real - 1), TOLERANCE, "estimate %d vs real %d" % (est, real))
                n_idx = s.pg_query(self.url, "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass",
                                   ('"public"."%s"' % table,))[0][0]
                self.assertEqual(n_idx, len(plan["collections"][0]["indexes"]))

    def test_3_already_migrated(self):
        self.c2p("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.plain, "-q",
                 "--index", "none", "--replace")
        before = catalog_snapshot(self.url)
        # Without --replace the real run would refuse: so does the dry run, after printing the plan.
        p = self.c2p("--json", "migrate", "--from", s.CHROMA_URL, "--to", self.url, "--dry-run", "--collections",
                     self.plain, check=2)
        plan = json.loads(p.stdout)
        self.assertEqual(plan["collections"][0]["action"], "refused")
        self.assertEqual(plan["collections"][0]["existing_rows"], 2500)
        self.assertIn("--replace", p.stderr)
        plan = self.plan("--collections", self.plain, "--replace")
        self.assertEqual(plan["collections"][0]["action"], "replace")
        self.assert_unchanged(before, "migrate --dry-run on a migrated target")

    def test_4_conflicts(self):
        p = self.c2p("migrate", "--from", s.CHROMA_URL, "--to", self.url, "--dry-run", "--summary", "x.json", check=2)
        self.assertIn("--dry-run", p.stderr)
        self.assertIn("--summary", p.stderr)
        self.assertEqual(tree(self.work), [])

    def test_5_backup_dry_run_writes_nothing_and_estimates(self):
        out = os.path.join(self.work, "not", "there")
        for fmt, comp in (("jsonl,json,pickle", "none"), ("jsonl,pickle", "zstd")):
            with self.subTest(formats=fmt, compress=comp):
                p = self.c2p("--json", "backup", "--from", s.CHROMA_URL, "--out", out, "--collections",
                             "%s,%s" % (self.hnsw, self.plain), "--format", fmt, "--compress", comp, "--dry-run")
                self.assertEqual(tree(self.work), [], "backup --dry-run created files")
                plan = json.loads(p.stdout)
                self.assertEqual(plan["space"][0]["what"], "backup directory")
                self.assertEqual(plan["space"][0]["path"], self.work)  # the nearest existing parent
                self.assertEqual(plan["space"][0]["status"], "ok")
                for c in plan["collections"]:
                    self.assertEqual(set(c["estimated_bytes_by_format"]), {"jsonl", "json", "pickle"})
                    self.assertEqual([f["format"] for f in c["files"]], fmt.split(","))
                human = self.c2p("backup", "--from", s.CHROMA_URL, "--out", out, "--collections", self.plain,
                                 "--format", fmt, "--compress", comp, "--dry-run")
                self.assertIn("dry run: nothing was written", human.stdout)
                self.assertEqual(tree(self.work), [])
                # The real backup's files against the plan.
                res = json.loads(self.c2p("--json", "backup", "--from", s.CHROMA_URL, "--out", out, "--collections",
                                          "%s,%s" % (self.hnsw, self.plain), "--format", fmt, "--compress",
                                          comp).stdout)
                real = {f["path"]: f["bytes"] for c in res["collections"] for f in c["files"]}
                est = {f["path"]: f["estimated_bytes"] for c in plan["collections"] for f in c["files"]}
                self.assertEqual(set(real), set(est))
                for path in real:
                    self.assertLessEqual(abs(est[path] / real[path] - 1), TOLERANCE, "%s: %d vs %d" %
                                         (path, est[path], real[path]))
                shutil.rmtree(os.path.join(self.work, "not"))


class PlanIsWhatRuns(unittest.TestCase):
    """For every framework layout, the vector index --dry-run plans is the statement the real run then
    issues (its `index` log event), the table is the one it creates, the indexes it plans are exactly
    the table's afterwards, and the plan's client_config is the one the run reports. For every layout,
    native too, the staging table and checkpoint interval the plan names are the run's (its
    chroma2pg_loads row)."""
    LAYOUTS = ["langchain", "llamaindex", "langchainjs", "llamaindex-ts", "mastra", "pgvectorstore"]

    def test_each_layout(self):
        src = s.fixture_dir("v1.3__AbhiSree06__RBAC-Chatbot__vector_db")
        for layout in self.LAYOUTS:
            with self.subTest(layout=layout):
                url, drop = s.new_database("plan")
                self.addCleanup(drop)
                args = ["migrate", "--from", src, "--to", url, "--layout", layout]
                plan = json.loads(s.run("--json", *args, "--dry-run", check=0).stdout)["collections"][0]
                p = s.run("--json", "--log-format", "json", *args, check=0)
                self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                issued = [json.loads(l)["sql"] for l in p.stderr.splitlines()
                          if l.startswith("{") and json.loads(l).get("event") == "index"]
                planned = [i["sql"] for i in plan["indexes"] if i["kind"] == "vector"]
                self.assertEqual(len(planned), 1, plan["indexes"])
                self.assertEqual(issued, planned)
                ran = json.loads(p.stdout)["collections"][0]
                self.assertEqual(plan["table"].split(".", 1)[1], ran["table"])
                self.assertEqual(plan["client_config"], ran["client_config"])
                self.assert_staging_is_the_runs(plan, url)
                self.assertEqual(self.indexes_of(url, ran["table"]), sorted(i["name"] for i in plan["indexes"]))

    def indexes_of(self, url, table):
        return [r[0] for r in s.pg_query(url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND "
                                              "tablename = %s ORDER BY 1", (table,))]

    def test_registered_table_clash(self):
        """The registry gives the collection's table to another collection: the plan lists it as a problem
        and the run refuses it with the same words, both exit 1, before anything is loaded."""
        src = s.fixture_dir("v1.3__AbhiSree06__RBAC-Chatbot__vector_db")
        url, drop = s.new_database("plan")
        self.addCleanup(drop)
        args = ["migrate", "--from", src, "--to", url]
        s.run(*args, "--index", "none")
        table = s.pg_query(url, "SELECT table_name FROM chroma_collections")[0][0]
        s.pg_query(url, "UPDATE chroma_collections SET id = gen_random_uuid(), name = 'someone-else'")
        p = s.run("--json", *args, "--dry-run", check=1)
        why = "its table name %s is already used by collection 'someone-else'" % table
        self.assertIn(why, p.stderr)
        p = s.run(*args, check=1)
        self.assertIn(why, p.stderr)
        self.assertEqual(s.pg_query(url, "SELECT count(*) FROM chroma2pg_loads WHERE status <> 'done'")[0][0], 0)

    def test_existing_column(self):
        """--replace loads into the table that is there, keeping its column's type: a halfvec table replaced
        without --halfvec stays halfvec, and the plan's vector index is the one the run builds on it."""
        src = s.fixture_dir("v1.3__AbhiSree06__RBAC-Chatbot__vector_db")
        for layout in ["langchain", "llamaindex"]:
            with self.subTest(layout=layout):
                url, drop = s.new_database("plan")
                self.addCleanup(drop)
                args = ["migrate", "--from", src, "--to", url, "--layout", layout]
                s.run(*args, "--halfvec")
                plan = json.loads(s.run("--json", *args, "--replace", "--dry-run", check=0).stdout)["collections"][0]
                p = s.run("--json", "--log-format", "json", *args, "--replace", check=0)
                self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                issued = [json.loads(l)["sql"] for l in p.stderr.splitlines()
                          if l.startswith("{") and json.loads(l).get("event") == "index"]
                planned = [i["sql"] for i in plan["indexes"] if i["kind"] == "vector"]
                self.assertEqual(issued, planned)
                self.assertIn("halfvec_", planned[0])

    def test_folded_names(self):
        """Mastra and LlamaIndex TS fold a collection's name into a table name; two collections whose names
        fold alike each get a hashed table. The plan names the tables and indexes the run then creates."""
        chroma = s.Chroma(s.CHROMA_URL)
        names = ["Fold-Plan-" + uuid.uuid4().hex[:6]]
        names.append(names[0].lower().replace("-", "_"))
        for name in names:
            col = chroma.create_collection(name)
            self.addCleanup(chroma.delete_collection, name)
            ids, embs, docs, metas, uris = s.varied_records(30, 8, seed=4)
            chroma.add(col["id"], ids, embs, docs, metas, uris)
        for layout in ["mastra", "llamaindex-ts"]:
            with self.subTest(layout=layout):
                url, drop = s.new_database("plan")
                self.addCleanup(drop)
                args = ["migrate", "--from", s.CHROMA_URL, "--collections", ",".join(names), "--to", url,
                        "--layout", layout]
                plan = json.loads(s.run("--json", *args, "--dry-run", check=0).stdout)["collections"]
                p = s.run("--json", *args, check=0)
                self.assertEqual(p.returncode, 0, p.stderr[-2000:])
                ran = {c["name"]: c["table"] for c in json.loads(p.stdout)["collections"]}
                tables = {c["name"]: c["table"].split(".", 1)[1] for c in plan}
                self.assertEqual(tables, ran)
                self.assertEqual(len(set(ran.values())), 2, ran)
                for c in plan:  # neither is the folded name itself: both are hashed
                    self.assertNotEqual(tables[c["name"]], names[1], tables)
                    self.assertEqual(self.indexes_of(url, tables[c["name"]]), sorted(i["name"] for i in c["indexes"]))

    def assert_staging_is_the_runs(self, plan, url):
        staged = s.pg_query(url, "SELECT staging_table FROM chroma2pg_loads")
        self.assertEqual(["public." + staged[0][0]], [plan["staging"]])
        self.assertEqual(plan["checkpoint_records"], 50000)

    def test_native_staging(self):
        src = s.fixture_dir("v1.3__AbhiSree06__RBAC-Chatbot__vector_db")
        url, drop = s.new_database("plan")
        self.addCleanup(drop)
        args = ["migrate", "--from", src, "--to", url]
        plan = json.loads(s.run("--json", *args, "--dry-run", check=0).stdout)["collections"][0]
        self.assertIn("swapped in", plan["load"])
        text = s.run(*args, "--dry-run", check=0).stdout
        self.assertIn("  load    binary COPY into %s, a checkpoint every 50000 records" % plan["staging"], text)
        p = s.run("--json", "--log-format", "json", *args, check=0)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assert_staging_is_the_runs(plan, url)
        # The planned indexes are the run's: built on the staging table, then renamed to the planned names.
        table, staging = plan["table"].split(".", 1)[1], plan["staging"].split(".", 1)[1]
        issued = [json.loads(l)["sql"] for l in p.stderr.splitlines()
                  if l.startswith("{") and json.loads(l).get("event") == "index"]
        planned = [i["sql"] for i in plan["indexes"] if i["kind"] == "vector"]
        self.assertEqual(len(planned), 1, plan["indexes"])
        self.assertEqual(issued, [sql.replace(table, staging) for sql in planned])
        self.assertNotEqual(issued, planned)
        built = s.pg_query(url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s "
                                "ORDER BY 1", (table,))
        self.assertEqual([r[0] for r in built], sorted(i["name"] for i in plan["indexes"]))


class SpaceRefusal(unittest.TestCase):
    """A backup directory on a 1 MB tmpfs: the data needs ~4 MB, twice that is refused."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise RuntimeError("mounting a tmpfs needs root: run the tests as root (scripts/test.sh)")
        s.require_env(cls)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        cls.name = "dry_space_" + uuid.uuid4().hex[:8]
        col = cls.chroma.create_collection(cls.name)
        ids, embs, docs, metas, uris = s.varied_records(2000, 64, seed=9)
        cls.chroma.add(col["id"], ids, embs, docs, metas, uris)
        cls.tmp = tempfile.mkdtemp(prefix="c2p-space-")
        cls.small = os.path.join(cls.tmp, "small")
        os.mkdir(cls.small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", cls.small], check=True)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["umount", cls.small], check=False)
        shutil.rmtree(cls.tmp, ignore_errors=True)
        cls.chroma.delete_collection(cls.name)

    def backup(self, *extra, env=None):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run([s.BIN, "backup", "--from", s.CHROMA_URL, "--collections", self.name, "--out",
                               os.path.join(self.small, "backups"), *extra], capture_output=True, text=True,
                              env=e, timeout=300)

    def test_refused_then_overridden(self):
        for extra in (["--dry-run"], []):
            with self.subTest(args=extra):
                p = self.backup(*extra)
                self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
                self.assertIn("not enough free space", p.stderr)
                self.assertIn(self.small, p.stderr)             # the path
                self.assertIn("--skip-space-check", p.stderr)   # the override
                self.assertRegex(p.stderr, r"\(\d+ bytes\), .* needed \(\d+ bytes")  # free and needed
                self.assertEqual(os.listdir(self.small), [], "nothing may be written")
        # --json: the plan says why.
        p = self.backup("--dry-run", "--json")
        self.assertEqual(p.returncode, 3)
        space = json.loads(p.stdout)["space"][0]
        self.assertEqual((space["status"], space["path"]), ("insufficient", self.small))
        self.assertLess(space["free_bytes"], space["needed_bytes"])
        # Overridden by the flag or the environment (dry run: a real backup would fill the tmpfs).
        p = self.backup("--dry-run", "--skip-space-check")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.backup("--dry-run", env={"CHROMA2PG_SKIP_SPACE_CHECK": "1"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.listdir(self.small), [])


class DatabaseSpaceRefusal(unittest.TestCase):
    """A private PostgreSQL whose data directory is on a tmpfs left with ~6 MB free: a migration of
    ~9 MB (18 MB with the margin) is refused, dry run or not, before anything is created."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise RuntimeError("mounting a tmpfs needs root: run the tests as root (scripts/test.sh)")
        s.require_env(cls)
        cls.chroma = s.Chroma(s.CHROMA_URL)
        cls.name = "dry_dbspace_" + uuid.uuid4().hex[:8]
        col = cls.chroma.create_collection(cls.name, space="cosine")
        ids, embs, docs, metas, uris = s.varied_records(2000, 384, seed=12)
        cls.chroma.add(col["id"], ids, embs, docs, metas, uris)
        cls.tmp = tempfile.mkdtemp(prefix="c2p-dbspace-")
        cls.mnt = os.path.join(cls.tmp, "fs")
        os.mkdir(cls.mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,mode=0755", "tmpfs", cls.mnt], check=True)
        cls.cluster = os.path.join(cls.mnt, "pg")
        cls.url = subprocess.run([s.PG_SCRIPT, "start", cls.cluster, "--fast"], check=True, capture_output=True,
                                 text=True).stdout.strip().splitlines()[-1]
        st = os.statvfs(cls.mnt)
        filler = st.f_bavail * st.f_frsize - 6 * 1024 * 1024
        with open(os.path.join(cls.mnt, "filler"), "wb") as f:
            for _ in range(filler // (1 << 20)):
                f.write(b"\1" * (1 << 20))

    @classmethod
    def tearDownClass(cls):
        subprocess.run([s.PG_SCRIPT, "stop", cls.cluster], check=False, capture_output=True)
        subprocess.run(["umount", cls.mnt], check=False)
        shutil.rmtree(cls.tmp, ignore_errors=True)
        cls.chroma.delete_collection(cls.name)

    def migrate(self, *extra):
        return subprocess.run([s.BIN, "migrate", "--from", s.CHROMA_URL, "--to", self.url, "--collections", self.name,
                               *extra], capture_output=True, text=True, timeout=300, cwd=self.tmp)

    def test_refused_then_overridden(self):
        before = catalog_snapshot(self.url)
        for extra in (["--dry-run"], []):
            with self.subTest(args=extra):
                p = self.migrate(*extra)
                self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
                self.assertIn("not enough free space for the database", p.stderr)
                self.assertIn(os.path.join(self.cluster, "data"), p.stderr)  # the data directory
                self.assertIn("--skip-space-check", p.stderr)
                self.assertEqual(catalog_snapshot(self.url), before, "nothing may be created")
        plan = json.loads(self.migrate("--dry-run", "--json").stdout)
        space = plan["space"][0]
        self.assertEqual((space["what"], space["status"]), ("database", "insufficient"))
        self.assertLess(space["free_bytes"], space["needed_bytes"])
        p = self.migrate("--dry-run", "--skip-space-check")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(catalog_snapshot(self.url), before)


class Completion(unittest.TestCase):
    """The new options complete like every other (scripts/completion/chroma2pg.bash reads --help)."""

    def test_new_options_complete(self):
        from test_completion import CompletionTest
        CompletionTest.setUpClass()
        try:
            t = CompletionTest()
            self.assertEqual(t.complete("migrate", "--dry"), ["--dry-run"])
            self.assertEqual(t.complete("backup", "--dry"), ["--dry-run"])
            self.assertEqual(t.complete("migrate", "--skip-sp"), ["--skip-space-check"])
            self.assertEqual(t.complete("backup", "--skip-sp"), ["--skip-space-check"])
            for cmd in ("migrate", "backup", "restore", "sync"):
                self.assertEqual(t.complete(cmd, "--summ"), ["--summary"], cmd)
        finally:
            CompletionTest.tearDownClass()


if __name__ == "__main__":
    unittest.main()
