"""The HNSW build's memory, against a PostgreSQL cluster of this test's own:

- migrate sizes maintenance_work_mem to the graph when the server's setting is smaller (and says so),
  keeps the server's when it is larger, and warns when --max-maintenance-work-mem caps it;
- a parallel build whose shared memory the server cannot allocate (a small /dev/shm, as Docker's 64 MB:
  here dynamic_shared_memory_type = mmap over a 4 MB tmpfs) is built again without parallel workers,
  with a warning, and the migration ends verified — without the fallback it would fail.

Needs root (the tmpfs mount)."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import uuid

import resume_support as r
import support as s

N, DIM = 20000, 128


def events(stderr, name):
    out = []
    for line in stderr.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == name:
            out.append(e)
    return out


class IndexMemory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s.require_env(cls)
        if os.geteuid() != 0:
            raise RuntimeError("test_index_memory needs root (a tmpfs mount for the server's shared memory)")
        cls.tmp = tempfile.mkdtemp(prefix="c2p-idxmem-")
        os.chmod(cls.tmp, 0o755)
        cls.pgdir = os.path.join(cls.tmp, "pg")
        cls.url = subprocess.check_output([s.PG_SCRIPT, "start", cls.pgdir, "--fast"], text=True).strip()
        subprocess.run([s.PG_SCRIPT, "stop", cls.pgdir], check=True, capture_output=True)
        data = os.path.join(cls.pgdir, "data")
        # Parallel builds' shared memory as files in pg_dynshmem, on a 4 MB tmpfs: a small /dev/shm.
        cls.shm = os.path.join(data, "pg_dynshmem")
        st = os.stat(data)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700,uid=%d,gid=%d" % (st.st_uid, st.st_gid),
                        "tmpfs", cls.shm], check=True)
        cls.mounted = True
        with open(os.path.join(data, "postgresql.conf"), "a") as f:
            f.write("\ndynamic_shared_memory_type = mmap\nmax_parallel_maintenance_workers = 2\n"
                    "max_worker_processes = 8\nmin_parallel_table_scan_size = 1MB\n")
        subprocess.run([s.PG_SCRIPT, "start", cls.pgdir, "--fast"], check=True, capture_output=True)
        # Written by a private server and read from its directory: what is tested is the build, and each
        # test would otherwise read the records through the server twice (migrate, verify).
        cls.server = s.ChromaServer()
        cls.name = "idxmem-" + uuid.uuid4().hex[:6]
        cls.col, cls.want = r.fill(s.Chroma(cls.server.url), cls.name, N, DIM, seed=21, space="cosine")
        cls.server.stop()
        cls.source = cls.server.dir

    @classmethod
    def tearDownClass(cls):
        subprocess.run([s.PG_SCRIPT, "stop", cls.pgdir], capture_output=True)
        if getattr(cls, "mounted", False):
            subprocess.run(["umount", cls.shm], capture_output=True)
        if hasattr(cls, "server"):
            cls.server.stop()
            shutil.rmtree(cls.server.tmp, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def server_setting(self, value):
        s.pg_query(self.url, "ALTER SYSTEM SET maintenance_work_mem = '%s'" % value)
        s.pg_query(self.url, "SELECT pg_reload_conf()")

    def migrate(self, schema, *extra):
        out = s.run("--log-format", "json", "migrate", "--from", self.source, "--to", self.url,
                    "--schema", schema, "--collections", self.name, *extra)
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        rows = s.pg_query(self.url, "SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND indexdef LIKE "
                                    "'%%USING hnsw%%'", (schema,))
        self.assertEqual(rows[0][0], 1, "no HNSW index in schema " + schema)
        v = s.run("verify", "--from", self.source, "--to", self.url, "--schema", schema,
                  "--collections", self.name)
        self.assertEqual(v.returncode, 0, v.stdout[-2000:] + v.stderr[-2000:])
        return out.stderr

    def test_sized_to_the_graph_when_the_server_has_less(self):
        self.server_setting("1MB")
        err = self.migrate("sized")
        ev = events(err, "index_memory")
        self.assertEqual(len(ev), 1, err[-2000:])
        chosen, graph = ev[0]["maintenance_work_mem"], ev[0]["graph_bytes"]
        # 20,000 × 128 floats: about 1.2 kB an element (the vector, 2m neighbours, bookkeeping).
        self.assertTrue(20 << 20 <= graph <= 40 << 20, graph)
        self.assertEqual(chosen, graph)
        self.assertEqual(ev[0]["level"], "info")
        self.assertIn("the server's is 1.0 MB", ev[0]["message"])
        self.assertEqual(events(err, "index_shared_memory"), [], "a 25 MB build should not need a retry here")

    def test_capped_by_the_option_says_so(self):
        self.server_setting("1MB")
        err = self.migrate("capped", "--max-maintenance-work-mem", "2MB")
        ev = events(err, "index_memory")
        self.assertEqual(len(ev), 1, err[-2000:])
        self.assertEqual(ev[0]["level"], "warn")
        self.assertEqual(ev[0]["maintenance_work_mem"], 2 << 20)
        self.assertIn("--max-maintenance-work-mem", ev[0]["message"])

    def test_server_setting_kept_when_larger(self):
        self.server_setting("256MB")
        err = self.migrate("kept", "--max-maintenance-work-mem", "2MB")
        self.assertEqual(events(err, "index_memory"), [], "the server's 256MB holds the graph: nothing to say")

    def test_parallel_build_without_shared_memory_builds_again_without_workers(self):
        # 64 MB of maintenance_work_mem is the parallel build's shared area: more than the 4 MB tmpfs holds.
        self.server_setting("64MB")
        err = self.migrate("shm")
        ev = events(err, "index_shared_memory")
        self.assertEqual(len(ev), 1, "the parallel build did not run out of shared memory:\n" + err[-3000:])
        self.assertIn("could not resize shared memory segment", ev[0]["message"])
        self.assertIn("shm_size", ev[0]["message"])


if __name__ == "__main__":
    unittest.main()
