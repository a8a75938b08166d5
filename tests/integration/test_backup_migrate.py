"""migrate --from BACKUP gives the same PostgreSQL content as migrate --from the Chroma server."""
import os
import shutil
import tempfile
import unittest

import support
from support import Chroma, run_json
from test_backup_formats import delete_all, make_collection_set


class BackupMigrate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.require_env(cls)
        cls.chroma = Chroma(support.CHROMA_URL)
        cls.names = make_collection_set(cls.chroma, "mig", n=200)
        cls.tmp = tempfile.mkdtemp(prefix="c2p-backup-mig-")

    @classmethod
    def tearDownClass(cls):
        delete_all(cls.chroma, cls.names)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tables(self, url):
        return dict(support.pg_query(url, "SELECT name, table_name FROM chroma_collections"))

    def migrate_and_compare(self, backup):
        db1, drop1 = support.new_database("bkm")
        db2, drop2 = support.new_database("bkm")
        try:
            cols = ",".join(self.names)
            run_json("migrate", "--from", support.CHROMA_URL, "--to", db1, "--collections", cols, "--index", "none")
            run_json("migrate", "--from", backup, "--to", db2, "--collections", cols, "--index", "none")
            t1, t2 = self.tables(db1), self.tables(db2)
            self.assertEqual(set(t1), set(self.names))
            self.assertEqual(t1, t2)
            reg = "SELECT id::text, name, dimension, space, metadata::text, record_count FROM chroma_collections ORDER BY name"
            self.assertEqual(support.pg_query(db1, reg), support.pg_query(db2, reg))
            for name, table in t1.items():
                r1, r2 = support.pg_rows(db1, table), support.pg_rows(db2, table)
                self.assertEqual(len(r1), len(self.chroma.get_all(self.chroma.collection(name)["id"])["ids"]))
                self.assertEqual(r1, r2, name)
                d = "SELECT id, digest FROM \"%s\" ORDER BY id" % table
                self.assertEqual(support.pg_query(db1, d), support.pg_query(db2, d), name)
        finally:
            drop1()
            drop2()

    def test_jsonl_backup(self):
        b = run_json("backup", "--from", support.CHROMA_URL, "--out", os.path.join(self.tmp, "a"),
                     "--collections", ",".join(self.names))["backup"]
        self.migrate_and_compare(b)

    def test_pickle_zstd_backup(self):
        b = run_json("backup", "--from", support.CHROMA_URL, "--out", os.path.join(self.tmp, "b"),
                     "--collections", ",".join(self.names), "--format", "pickle", "--compress", "zstd")["backup"]
        self.migrate_and_compare(b)


BackupMigrateOnCurrent = support.on_chroma("current", BackupMigrate)


if __name__ == "__main__":
    unittest.main()
