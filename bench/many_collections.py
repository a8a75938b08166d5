#!/usr/bin/python3
"""Many collections (issue 21): app-ready time of one migrate of K collections, index builds one at a
time or side by side.

  bench/make_flushed_dir.py bench/.cache/chroma-100000-384 /work/bench-1m 10   # 1,000,000 records
  bench/make_multi_dir.py /work/bench-1m /work/bench-4x250k 4                  # 4 x 250,000
  C2P_BENCH_BIN=build-deb/chroma2pg bench/many_collections.py --dir /work/bench-4x250k [--reps 1]

A fresh PostgreSQL (scripts/pg-cluster.sh: maintenance_work_mem 512MB, max_parallel_maintenance_workers
2); each run from an empty schema after CHECKPOINT, default options otherwise (HNSW + GIN + ANALYZE):
  - where the server builds HNSW in parallel (pgvector >= 0.8.2): the default (one build at a time,
    leader + 2 workers), --index-builds 2 (two side by side, no workers each), --jobs 2;
  - where it builds without workers (as chroma2pg does on pgvector < 0.8.2, here by the server setting
    max_parallel_maintenance_workers = 0): one at a time, as before --index-builds, and 3 side by
    side, which is what chroma2pg chooses by itself on pgvector < 0.8.2 (the server's 2 workers + 1).
Medians of --reps; Markdown on stdout, JSON in bench/results/many_collections.json.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="a persistent directory of several collections (make_multi_dir.py)")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--rows", help="only these rows, by position (0-based, comma-separated)")
    ap.add_argument("--results", default=os.path.join(bench.HERE, "results", "many_collections.json"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="c2p-many-")
    pg_sh = os.path.join(bench.REPO, "scripts/pg-cluster.sh")
    pg_dir = os.path.join(work, "pg")
    results = {"dir": a.dir, "reps": a.reps, "binary": bench.BIN,
               "machine": {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()}, "rows": {}}
    pg = None
    try:
        pg = bench.sh(pg_sh, "start", pg_dir)

        def server_workers(n):
            bench.sh(bench.PSQL, pg, "-q", "-c", "ALTER SYSTEM SET max_parallel_maintenance_workers = %d" % n)
            bench.sh(bench.PSQL, pg, "-q", "-c", "SELECT pg_reload_conf()")

        runs = [("parallel builds: default (one at a time, leader + 2 workers)", 2, []),
                ("parallel builds: --index-builds 2 (side by side, no workers each)", 2, ["--index-builds", "2"]),
                ("parallel builds: --jobs 2", 2, ["--jobs", "2"]),
                ("builds without workers: one at a time (before --index-builds)", 0, ["--index-builds", "1"]),
                ("builds without workers: --index-builds 3 (the server's max_parallel_maintenance_workers + 1)", 0,
                 ["--index-builds", "3"]),
                ("builds without workers: --index-builds 2 (the cores: chroma2pg's choice on pgvector < 0.8.2)", 0,
                 ["--index-builds", "2"])]
        if a.rows:
            runs = [runs[int(i)] for i in a.rows.split(",")]
        for name, workers, extra in runs:
            server_workers(workers)
            walls, rss, figures = [], [], []
            for _ in range(a.reps):
                bench.sh(bench.PSQL, pg, "-q", "-c", "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public; "
                                                     "CHECKPOINT")
                w, r, _, out = bench.timed([bench.BIN, "--json", "migrate", "--from", a.dir, "--to", pg, "--quiet"]
                                           + extra)
                walls.append(w)
                rss.append(r)
                res = json.loads(out)
                figures.append({"index_builds": res["index_builds"],
                                "collections": [{k: c.get(k) for k in ("name", "rows", "load_seconds", "index_seconds")}
                                                for c in res["collections"]]})
            results["rows"][name] = {"seconds": bench.median(walls), "runs": walls, "peak_rss_mb": max(rss),
                                     "figures": figures}
            print("  %-85s %7.2fs" % (name, bench.median(walls)), file=sys.stderr)
        results["machine"]["load_average_at_end"] = os.getloadavg()
        os.makedirs(os.path.dirname(os.path.abspath(a.results)), exist_ok=True)
        with open(a.results, "w") as f:
            json.dump(results, f, indent=2)
        # Each row against the one-at-a-time row of its server setting, when this sitting measured it.
        base = {}
        for name, workers, extra in runs:
            if extra in ([], ["--index-builds", "1"]):
                base[workers] = results["rows"][name]["seconds"]
        print("\n| run | seconds (median of %d) | × one at a time | peak RSS MB |" % a.reps)
        print("|---|---:|---:|---:|")
        for name, workers, _ in runs:
            r = results["rows"][name]
            ratio = "%.2f" % (r["seconds"] / base[workers]) if workers in base else "—"
            print("| %s | %.2f | %s | %.0f |" % (name, r["seconds"], ratio, r["peak_rss_mb"]))
        print("\nLoad average %s at the start, %s at the end." % (results["machine"]["load_average_at_start"],
                                                                 results["machine"]["load_average_at_end"]))
    finally:
        if pg:
            bench.sh(pg_sh, "stop", pg_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
