#!/usr/bin/python3
"""chroma2pg benchmark harness: one command, every figure in BENCHMARKS.md, baselines in the same run.

  bench/run.py [--records 100000] [--dim 384] [--reps 3] [--naive-reps 1] [--skip-index]

Generates the data through a real Chroma server (kept in bench/.cache/ for reruns), stops it to
get its persistent directory, restarts it for the HTTP measurements, and measures back to back on
one PostgreSQL: the binary COPY ceiling (psql \\copy of the same rows), chroma2pg from the
directory and from the server (--index none), curl fetching the same pages alone, the naive
Python baseline, and the HNSW index build. Wall time and peak RSS come from /usr/bin/time -v.
Results: a Markdown table on stdout and bench/results/latest.json.
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BIN = os.environ.get("C2P_BENCH_BIN", os.path.join(REPO, "build", "chroma2pg"))
PSQL = "/usr/lib/postgresql/15/bin/psql" if os.path.exists("/usr/lib/postgresql/15/bin/psql") else "psql"
API = "/api/v2/tenants/default_tenant/databases/default_database"


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw).stdout.strip()


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v; returns (wall seconds, peak RSS MB, cpu seconds, stdout)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=e)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s\n%s" % (" ".join(cmd), p.returncode, p.stdout[-2000:], p.stderr[-3000:]))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", p.stderr).group(1))
    sys_ = float(re.search(r"System time \(seconds\): ([\d.]+)", p.stderr).group(1))
    return wall, rss, user + sys_, p.stdout


def call(url, method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def generate(url, n, dim):
    rng = random.Random(1234)
    centres = [[rng.gauss(0, 1) for _ in range(dim)] for _ in range(300)]
    col = call(url, "POST", API + "/collections", {"name": "bench", "configuration": {"hnsw": {"space": "l2"}}})
    step = 1000
    for start in range(0, n, step):
        ids, embs, docs, metas = [], [], [], []
        for i in range(start, min(n, start + step)):
            c = centres[rng.randrange(300)]
            ids.append("doc-%08d" % i)
            embs.append([struct.unpack("<f", struct.pack("<f", x + rng.gauss(0, 0.05)))[0] for x in c])
            docs.append("Chunk %d of a document about topic %d. Lorem ipsum dolor sit amet." % (i, i % 97))
            metas.append({"source": "doc-%d.pdf" % (i // 20), "page": i % 20, "score": (i % 1000) / 1000.0,
                          "public": i % 2 == 0})
        call(url, "POST", API + "/collections/%s/add" % col["id"],
             {"ids": ids, "embeddings": embs, "documents": docs, "metadatas": metas})
        if start % 20000 == 0:
            print("  generated %d/%d" % (start, n), file=sys.stderr)
    return col["id"]


def median(xs):
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--naive-reps", type=int, default=1)
    ap.add_argument("--skip-index", action="store_true")
    ap.add_argument("--skip-naive", action="store_true")
    a = ap.parse_args()
    n, dim = a.records, a.dim
    if not os.path.exists(BIN):
        sys.exit("build the release binary first: scripts/setup.sh (expects %s)" % BIN)

    cache = os.path.join(HERE, ".cache", "chroma-%d-%d" % (n, dim))
    work = tempfile.mkdtemp(prefix="c2p-bench-")
    chroma_dir = os.path.join(work, "chroma")
    pg_dir = os.path.join(work, "pg")
    results = {"records": n, "dim": dim, "reps": a.reps, "machine": {
        "cores": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "cpu": sh("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()}, "rows": {}}
    try:
        if not os.path.exists(os.path.join(cache, "chroma.sqlite3")):
            os.makedirs(chroma_dir)
            url = sh(os.path.join(REPO, "scripts/chroma-server.sh"), "start", chroma_dir)
            print("generating %d x %d through Chroma (once; cached in %s)" % (n, dim, cache), file=sys.stderr)
            t0 = time.monotonic()
            generate(url, n, dim)
            results["generate_seconds"] = time.monotonic() - t0
            sh(os.path.join(REPO, "scripts/chroma-server.sh"), "stop", chroma_dir)
            shutil.rmtree(cache, ignore_errors=True)
            shutil.copytree(chroma_dir, cache)
            shutil.rmtree(chroma_dir)
        shutil.copytree(cache, chroma_dir)  # the server gets its own copy; the directory source reads the cache
        url = sh(os.path.join(REPO, "scripts/chroma-server.sh"), "start", chroma_dir)
        cid = [c for c in call(url, "GET", API + "/collections") if c["name"] == "bench"][0]["id"]
        pg_url = sh(os.path.join(REPO, "scripts/pg-cluster.sh"), "start", pg_dir)
        rows = results["rows"]

        # Warm-up and the ceiling's input: the exact rows chroma2pg writes, dumped in binary COPY format.
        sh(BIN, "migrate", "--from", cache, "--to", pg_url, "--index", "none", "--quiet")
        copy_file = os.path.join(work, "rows.copy")
        sh(PSQL, pg_url, "-c", "\\copy (SELECT id, embedding, document, uri, metadata, digest FROM c2p_bench) "
                               "TO '%s' WITH (FORMAT binary)" % copy_file)
        mb = os.path.getsize(copy_file) / 1e6
        results["copy_file_mb"] = mb

        def record(name, walls, rss, cpu, note=""):
            w = median(walls)
            rows[name] = {"seconds": w, "records_per_s": n / w, "mb_per_s": mb / w, "peak_rss_mb": max(rss),
                          "cpu_seconds": median(cpu), "runs": walls, "note": note}
            print("  %-40s %7.2fs %9.0f rec/s  rss %6.1f MB" % (name, w, n / w, max(rss)), file=sys.stderr)

        ddl = ("DROP TABLE IF EXISTS ceiling; CREATE TABLE ceiling (id text, embedding vector(%d), document text, "
               "uri text, metadata jsonb, digest bytea)" % dim)
        walls, rss, cpu = [], [], []
        for _ in range(a.reps):
            sh(PSQL, pg_url, "-q", "-c", ddl)
            w, r, c, _ = timed([PSQL, pg_url, "-q", "-c", "\\copy ceiling FROM '%s' WITH (FORMAT binary)" % copy_file])
            walls.append(w); rss.append(r); cpu.append(c)
        record("ceiling: psql \\copy binary, no indexes", walls, rss, cpu)

        for name, src in (("chroma2pg migrate --index none (directory)", cache),
                          ("chroma2pg migrate --index none (server)", url)):
            walls, rss, cpu = [], [], []
            for _ in range(a.reps):
                w, r, c, _ = timed([BIN, "migrate", "--from", src, "--to", pg_url, "--index", "none", "--replace",
                                    "--quiet"])
                walls.append(w); rss.append(r); cpu.append(c)
            record(name, walls, rss, cpu)

        walls, rss, cpu = [], [], []
        for _ in range(a.reps):
            w, r, c, _ = timed([os.path.join(HERE, "fetch_pages.sh"), url, cid, str(n)])
            walls.append(w); rss.append(r); cpu.append(c)
        record("curl: fetch the same pages alone", walls, rss, cpu)

        if not a.skip_naive:
            walls, rss, cpu = [], [], []
            for _ in range(a.naive_reps):
                w, r, c, _ = timed([os.path.join(HERE, "naive_baseline.py"), url, cid, pg_url, "naive", str(dim)])
                walls.append(w); rss.append(r); cpu.append(c)
            record("naive Python: get paging + executemany", walls, rss, cpu)

        if not a.skip_index:
            w, r, c, out = timed([BIN, "--json", "migrate", "--from", cache, "--to", pg_url, "--replace", "--quiet"])
            idx = json.loads(out)["collections"][0]["index_seconds"]
            rows["chroma2pg migrate with HNSW (directory)"] = {
                "seconds": w, "records_per_s": n / w, "mb_per_s": mb / w, "peak_rss_mb": r, "cpu_seconds": c,
                "runs": [w], "index_seconds": idx, "note": "index build (HNSW m=16, ef_construction=64) %.1f s" % idx}
            print("  %-40s %7.2fs (index %.1fs)" % ("migrate with HNSW", w, idx), file=sys.stderr)

        ceil = rows["ceiling: psql \\copy binary, no indexes"]["seconds"]
        for r in rows.values():
            r["ratio_to_ceiling"] = ceil / r["seconds"]
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        with open(os.path.join(HERE, "results", "latest.json"), "w") as f:
            json.dump(results, f, indent=2)
        print("\n| run | seconds (median) | records/s | MB/s | × ceiling speed | peak RSS MB | CPU s |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, r in rows.items():
            print("| %s | %.2f | %.0f | %.1f | %.2f | %.0f | %.1f |" % (name, r["seconds"], r["records_per_s"],
                                                                  r["mb_per_s"], r["ratio_to_ceiling"],
                                                                  r["peak_rss_mb"], r["cpu_seconds"]))
    finally:
        subprocess.run([os.path.join(REPO, "scripts/chroma-server.sh"), "stop", chroma_dir], capture_output=True)
        subprocess.run([os.path.join(REPO, "scripts/pg-cluster.sh"), "stop", pg_dir], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
