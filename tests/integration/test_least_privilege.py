"""Least privilege end to end: sql/init-pgvector.sql applied to a fresh database, then migrate, verify and
sync run as a login of the migrator group (password over TCP, as docs/runbook.md creates it); a login of
the app group reads the migrated rows and is refused (42501) every write."""
import os
import shutil
import subprocess
import unittest
import urllib.parse
import uuid

import psycopg2
import psycopg2.errors

import resume_support as r
import support as s

INIT_SQL = os.path.join(s.REPO, "sql", "init-pgvector.sql")
N = 400
DIM = 8


def with_login(url, user, password):
    """`url` with its user and password replaced."""
    u = urllib.parse.urlsplit(url)
    host = u.hostname + (":%d" % u.port if u.port else "")
    netloc = "%s:%s@%s" % (urllib.parse.quote(user), urllib.parse.quote(password), host)
    return urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))


class LeastPrivilege(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
        if not os.access(psql, os.X_OK):
            raise RuntimeError("psql not found (apt-get install postgresql-client-15)")
        cls.admin_url, cls.drop_db = s.new_database("lp")
        init = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", cls.admin_url, "-f", INIT_SQL],
                              capture_output=True, text=True, timeout=120)
        if init.returncode != 0:
            cls.drop_db()
            raise RuntimeError("init-pgvector.sql failed:\n" + init.stderr)
        tag = uuid.uuid4().hex[:8]
        cls.migrator, cls.app = "lp_migrate_" + tag, "lp_app_" + tag
        pw_m, pw_a = "m-" + uuid.uuid4().hex, "a-" + uuid.uuid4().hex
        # exactly the runbook's statements
        s.pg_query(cls.admin_url, "CREATE ROLE %s LOGIN PASSWORD %%s IN ROLE chroma2pg_migrator" % cls.migrator, (pw_m,))
        s.pg_query(cls.admin_url, "ALTER ROLE %s SET role = 'chroma2pg_migrator'" % cls.migrator)
        s.pg_query(cls.admin_url, "CREATE ROLE %s LOGIN PASSWORD %%s IN ROLE chroma2pg_app" % cls.app, (pw_a,))
        cls.migrator_url = with_login(cls.admin_url, cls.migrator, pw_m)
        cls.app_url = with_login(cls.admin_url, cls.app, pw_a)

    @classmethod
    def tearDownClass(cls):
        cls.drop_db()
        for role in (cls.migrator, cls.app):
            s.pg_query(s.PG_URL, "DROP ROLE IF EXISTS %s" % role)

    def app_write_refused(self, sql):
        conn = psycopg2.connect(self.app_url)
        try:
            with self.assertRaises(psycopg2.errors.InsufficientPrivilege, msg=sql) as cm:
                conn.cursor().execute(sql)
            self.assertEqual(cm.exception.pgcode, "42501")
        finally:
            conn.close()

    def test_migrate_verify_sync_as_migrator_app_reads_only(self):
        chroma = s.Chroma(s.CHROMA_URL)
        name = "lp-" + uuid.uuid4().hex[:6]
        col, want = r.fill(chroma, name, N, DIM, seed=31)
        self.addCleanup(chroma.delete_collection, name)
        # the migrator cannot create a schema: a missing one would need CREATE on the database
        self.assertEqual(s.pg_query(self.migrator_url, "SELECT has_database_privilege(current_database(), 'CREATE')"),
                         [(False,)])

        mig = s.run("migrate", "--from", s.CHROMA_URL, "--to", self.migrator_url, "--collections", name, "--index", "hnsw")
        self.assertEqual(mig.returncode, 0, mig.stderr[-3000:])
        r.assert_parity(self, self.admin_url, name, want)
        table = r.table_of(self.admin_url, name)
        owner = s.pg_query(self.admin_url, "SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = %s",
                           (table,))
        self.assertEqual(owner, [("chroma2pg_migrator",)])

        ver = s.run("verify", "--from", s.CHROMA_URL, "--to", self.migrator_url, "--collections", name, "--queries", "5")
        self.assertEqual(ver.returncode, 0, ver.stdout[-3000:] + ver.stderr[-3000:])

        cid = col["id"]
        chroma.add(cid, ["lp-new-1", "lp-new-2"], [[0.5] * DIM, [-0.5] * DIM], ["new one", "new two"], [{"n": 1}, {"n": 2}])
        chroma.call("POST", s.API + "/collections/%s/delete" % cid, {"ids": sorted(want)[:3]})
        syn = s.run_json("sync", "--from", s.CHROMA_URL, "--to", self.migrator_url, "--collections", name)
        c = syn["collections"][0]
        self.assertEqual((c["inserted"], c["deleted"]), (2, 3), c)
        now = s.as_records(chroma.get_all(cid))
        r.assert_parity(self, self.admin_url, name, now)

        # the app reads every migrated row, the registry and the search helper ...
        self.assertEqual(s.pg_query(self.app_url, 'SELECT count(*) FROM "%s"' % table), [(len(now),)])
        self.assertEqual(s.pg_query(self.app_url, "SELECT record_count FROM chroma_collections WHERE name = %s", (name,)),
                         [(len(now),)])
        hits = s.pg_query(self.app_url, "SELECT id FROM find_similar_documents(%s, %s::vector, 3)",
                          (name, "[" + ",".join(["0.5"] * DIM) + "]"))
        self.assertEqual(hits[0][0], "lp-new-1")
        # ... and may change nothing
        some = sorted(now)[0]
        self.app_write_refused('INSERT INTO "%s" (id, embedding) VALUES (\'x\', \'[%s]\')' % (table, ",".join(["0"] * DIM)))
        self.app_write_refused('UPDATE "%s" SET document = \'changed\' WHERE id = \'%s\'' % (table, some))
        self.app_write_refused('DELETE FROM "%s" WHERE id = \'%s\'' % (table, some))
        self.app_write_refused("DELETE FROM chroma_collections")
        self.app_write_refused("CREATE TABLE app_made (x int)")
        r.assert_parity(self, self.admin_url, name, now)


if __name__ == "__main__":
    unittest.main()
