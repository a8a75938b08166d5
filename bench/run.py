#!/usr/bin/python3
"""chroma2pg benchmark harness: one command, every figure in BENCHMARKS.md, baselines in the same run.

  bench/run.py [--records 100000] [--dim 384] [--reps 3] [--naive-reps 1] [--skip-index] [--skip-naive]
               [--skip-read] [--skip-verify]
  bench/run.py --dir DIR [--reps 3] [--skip-index]     # the directory rows only, on an existing directory

Generates the data through a real Chroma server (kept in bench/.cache/ for reruns), stops it to
get its persistent directory, restarts it for the HTTP measurements, and measures back to back on
one PostgreSQL: the binary COPY ceiling (psql \\copy of the same rows), chroma2pg from the
directory and from the server (--index none), curl fetching the same pages alone, the naive
Python baseline, and the HNSW index build. Wall time and peak RSS come from /usr/bin/time -v.
Then (issue 4) the bare read of the same records from the directory and from the server with
read_source (bench/read_source.cpp: chroma2pg's own readers, records discarded), and (issue 6)
`verify` end to end, at the lightest search settings and at the defaults, against the time to
simply read each side (read_source for the source, psql \\copy binary to /dev/null for PostgreSQL).
read_source is built with -DCHROMA2PG_BUILD_BENCH=ON next to the binary (or C2P_BENCH_READER).
With --dir, no server is involved: the ceiling, the copy-then-primary-key context row and the
directory loads are measured on DIR (for scale: a 1,000,000-record directory from
bench/make_flushed_dir.py, since writing that many records through the server takes hours here).
Results: Markdown tables on stdout and bench/results/latest.json.
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
READER = os.environ.get("C2P_BENCH_READER", os.path.join(os.path.dirname(BIN), "read_source"))
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


def repeat(reps, cmd):
    """Runs cmd reps times; returns (walls, rss, cpu, last stdout)."""
    walls, rss, cpu, out = [], [], [], ""
    for _ in range(reps):
        w, r, c, out = timed(cmd)
        walls.append(w); rss.append(r); cpu.append(c)
    return walls, rss, cpu, out


def summary(n, mb, walls, rss, cpu, **extra):
    w = median(walls)
    d = {"seconds": w, "records_per_s": n / w, "mb_per_s": mb / w, "peak_rss_mb": max(rss),
         "cpu_seconds": median(cpu), "runs": walls}
    d.update(extra)
    return d


def measure_reads(a, n, mb, cache, url, pg_url, results):
    """Issue 4 (and the read baselines of issue 6): read every record with its embedding, document,
    uri and metadata, and discard it, from the directory, from the server over HTTP, and from
    PostgreSQL. MB/s uses the size of the binary COPY file, the same for every row."""
    reads = {}
    for key, src in (("directory", cache), ("server", url)):
        walls, rss, cpu, out = repeat(a.reps, [READER, src])
        got = json.loads(out.strip().splitlines()[-1])
        if got["records"] != n:
            raise RuntimeError("read_source %s read %d records, expected %d" % (src, got["records"], n))
        reads[key] = summary(n, mb, walls, rss, cpu, tool="read_source", payload_bytes=got["payload_bytes"],
                             metadata_entries=got["metadata_entries"])
        print("  %-40s %7.2fs %9.0f rec/s  rss %6.1f MB" % ("read " + key, reads[key]["seconds"],
                                                            reads[key]["records_per_s"], reads[key]["peak_rss_mb"]),
              file=sys.stderr)
    # The same work on both sides: the same records, the same bytes of ids, vectors, documents, uris, metadata.
    for k in ("payload_bytes", "metadata_entries"):
        if reads["directory"][k] != reads["server"][k]:
            raise RuntimeError("read_source: %s differ between the directory (%d) and the server (%d)" % (
                k, reads["directory"][k], reads["server"][k]))
    copy_out = ("\\copy (SELECT id, embedding, document, uri, metadata, digest FROM c2p_bench) TO '/dev/null' "
                "WITH (FORMAT binary)")
    walls, rss, cpu, _ = repeat(a.reps, [PSQL, pg_url, "-q", "-c", copy_out])
    reads["target"] = summary(n, mb, walls, rss, cpu, tool="psql \\copy binary to /dev/null")
    print("  %-40s %7.2fs %9.0f rec/s" % ("read target (psql copy out)", reads["target"]["seconds"],
                                          reads["target"]["records_per_s"]), file=sys.stderr)
    reads["server_over_directory"] = reads["server"]["seconds"] / reads["directory"]["seconds"]
    curl = results["rows"].get("curl: fetch the same pages alone")
    if curl:
        reads["curl_pages_seconds"] = curl["seconds"]
    results["read"] = reads
    return reads


def measure_verify(a, n, cache, url, pg_url, reads, results):
    """Issue 6: verify end to end (a digest of every record on both sides), with the lightest search
    check (1 query, k 1) and with the default settings, from the directory and from the server,
    against the time to read the same source alone and PostgreSQL alone."""
    light = ["--queries", "1", "--k", "1", "--min-recall", "0"]
    out = {"table_index": None, "runs": {}}
    idx = sh(PSQL, pg_url, "-Atc", "SELECT coalesce(string_agg(am.amname, ','), 'none') FROM pg_index i "
             "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
             "WHERE i.indrelid = 'c2p_bench'::regclass AND am.amname IN ('hnsw', 'ivfflat')")
    out["table_index"] = idx
    tgt = reads["target"]["seconds"]
    for src_key, src in (("directory", cache), ("server", url)):
        for mode, extra in (("lightest search (--queries 1 --k 1)", light), ("default settings", [])):
            walls, rss, cpu, stdout = repeat(a.reps, [BIN, "--json", "verify", "--from", src, "--to", pg_url,
                                                      "--quiet"] + extra)
            rep = json.loads(stdout)
            name = "verify from the %s, %s" % (src_key, mode)
            s = reads[src_key]["seconds"]
            w = median(walls)
            out["runs"][name] = {
                "source": src_key, "mode": mode, "args": extra, "seconds": w, "records_per_s": n / w,
                "peak_rss_mb": max(rss), "cpu_seconds": median(cpu), "runs": walls,
                "source_read_seconds": s, "target_read_seconds": tgt,
                "ratio_to_sum_of_reads": w / (s + tgt), "ratio_to_max_of_reads": w / max(s, tgt),
                "verdict": rep.get("verdict", rep.get("ok")), "verification": rep.get("verification"),
                "completeness_seconds": [c.get("completeness", {}).get("seconds") for c in rep.get("collections", [])
                                         if isinstance(c, dict)]}
            if out["runs"][name]["verdict"] != "PASS":
                print("  warning: %s: verdict %r" % (name, out["runs"][name]["verdict"]), file=sys.stderr)
            print("  %-40s %7.2fs %9.0f rec/s  (reads: source %.2fs, target %.2fs)" % (
                name[:40], w, n / w, s, tgt), file=sys.stderr)
    results["verify"] = out


def print_reads(results):
    r = results.get("read")
    if not r:
        return
    print("\n| read every record (embeddings, documents, uris, metadata), discarded | seconds (median) | records/s | "
          "MB/s | peak RSS MB | CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, label in (("directory", "persistent directory (read_source)"),
                       ("server", "Chroma server over HTTP (read_source)"),
                       ("target", "PostgreSQL table (psql \\copy binary to /dev/null)")):
        x = r[key]
        print("| %s | %.2f | %.0f | %.1f | %.0f | %.1f |" % (label, x["seconds"], x["records_per_s"], x["mb_per_s"],
                                                            x["peak_rss_mb"], x["cpu_seconds"]))
    print("\nReading the directory is %.1f x faster than paging the server over HTTP (goal: >= 10 x)%s." % (
        r["server_over_directory"],
        " (curl alone fetching the same pages: %.2f s)" % r["curl_pages_seconds"] if "curl_pages_seconds" in r else ""))


def print_verify(results):
    v = results.get("verify")
    if not v:
        return
    print("\nverify, every record's digest on both sides (table's vector index: %s)\n" % v["table_index"])
    print("| run | seconds (median) | records/s | of which digest pass s | read source alone s | "
          "read target alone s | verify / (source + target) | verify / max(source, target) | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, x in v["runs"].items():
        passes = [c.get("read_both") for c in x["completeness_seconds"] if isinstance(c, dict)]
        digest = "%.2f" % sum(passes) if passes and None not in passes else "—"
        print("| %s | %.2f | %.0f | %s | %.2f | %.2f | %.2f | %.2f | %.0f |" % (
            name, x["seconds"], x["records_per_s"], digest, x["source_read_seconds"], x["target_read_seconds"],
            x["ratio_to_sum_of_reads"], x["ratio_to_max_of_reads"], x["peak_rss_mb"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--naive-reps", type=int, default=1)
    ap.add_argument("--skip-index", action="store_true")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--skip-read", action="store_true", help="skip the directory vs server read comparison (the verify comparison "
                    "still reads each side alone unless --skip-verify too)")
    ap.add_argument("--skip-verify", action="store_true", help="skip verify against reading both sides")
    ap.add_argument("--dir", help="measure only the directory rows, on this existing persistent directory (one "
                    "collection), without a Chroma server")
    ap.add_argument("--results", default=os.path.join(HERE, "results", "latest.json"),
                    help="where to write the results JSON (default bench/results/latest.json)")
    a = ap.parse_args()
    n, dim = a.records, a.dim
    if a.dir:
        a.skip_naive = a.skip_read = a.skip_verify = True
    if not os.path.exists(BIN):
        sys.exit("build the release binary first: scripts/setup.sh (expects %s)" % BIN)
    if not (a.skip_read and a.skip_verify) and not os.path.exists(READER):
        print("WARNING: skipping the read and verify comparisons: they need read_source (expected at %s; build it "
              "with: cmake -S . -B %s -DCHROMA2PG_BUILD_BENCH=ON && cmake --build %s --target read_source)" % (
                  READER, os.path.dirname(BIN), os.path.dirname(BIN)), file=sys.stderr)
        a.skip_read = a.skip_verify = True

    cache = os.path.abspath(a.dir) if a.dir else os.path.join(HERE, ".cache", "chroma-%d-%d" % (n, dim))
    work = tempfile.mkdtemp(prefix="c2p-bench-")
    chroma_dir = os.path.join(work, "chroma")
    pg_dir = os.path.join(work, "pg")
    results = {"records": n, "dim": dim, "reps": a.reps, "machine": {
        "cores": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "cpu": sh("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()}, "rows": {}}
    try:
        if a.dir and not os.path.exists(os.path.join(cache, "chroma.sqlite3")):
            sys.exit("%s: not a Chroma persistent directory" % cache)
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
        url = cid = None
        if not a.dir:
            shutil.copytree(cache, chroma_dir)  # the server gets its own copy; the directory source reads the cache
            url = sh(os.path.join(REPO, "scripts/chroma-server.sh"), "start", chroma_dir)
            cid = [c for c in call(url, "GET", API + "/collections") if c["name"] == "bench"][0]["id"]
        pg_url = sh(os.path.join(REPO, "scripts/pg-cluster.sh"), "start", pg_dir)
        rows = results["rows"]

        # Warm-up and the ceiling's input: the exact rows chroma2pg writes, dumped in binary COPY format.
        out = sh(BIN, "--json", "migrate", "--from", cache, "--to", pg_url, "--index", "none", "--quiet")
        first = json.loads(out)["collections"][0]
        table = first["table"]
        if a.dir:
            n, dim = first["records_written"], first["dimension"]
            results.update({"records": n, "dim": dim, "dir": cache})
        copy_file = os.path.join(work, "rows.copy")
        sh(PSQL, pg_url, "-c", "\\copy (SELECT id, embedding, document, uri, metadata, digest FROM %s) "
                               "TO '%s' WITH (FORMAT binary)" % (table, copy_file))
        mb = os.path.getsize(copy_file) / 1e6
        results["copy_file_mb"] = mb

        def record(name, walls, rss, cpu, note=""):
            w = median(walls)
            rows[name] = {"seconds": w, "records_per_s": n / w, "mb_per_s": mb / w, "peak_rss_mb": max(rss),
                          "cpu_seconds": median(cpu), "runs": walls, "note": note}
            print("  %-40s %7.2fs %9.0f rec/s  rss %6.1f MB" % (name, w, n / w, max(rss)), file=sys.stderr)

        # chroma2pg's own table definition (src/target/native_layout.cpp), without its primary key.
        ddl = ("DROP TABLE IF EXISTS ceiling; CREATE TABLE ceiling (id text COLLATE \"C\" NOT NULL, embedding "
               "vector(%d) NOT NULL, document text, uri text, metadata jsonb, digest bytea NOT NULL)" % dim)
        def settle():
            # Every load writes ~175 MB of WAL; a checkpoint it triggers would slow whichever run
            # comes next. Each run that writes starts after a CHECKPOINT, so no run pays for another.
            sh(PSQL, pg_url, "-q", "-c", "CHECKPOINT")

        walls, rss, cpu = [], [], []
        for _ in range(a.reps):
            sh(PSQL, pg_url, "-q", "-c", ddl)
            settle()
            w, r, c, _ = timed([PSQL, pg_url, "-q", "-c", "\\copy ceiling FROM '%s' WITH (FORMAT binary)" % copy_file])
            walls.append(w); rss.append(r); cpu.append(c)
        record("ceiling: psql \\copy binary, no indexes", walls, rss, cpu)

        # The same load plus the one index a bare migration also builds (the primary key): the work
        # PostgreSQL itself must do for a bare load, without any reading. Context, not the goal's ceiling.
        walls, rss, cpu = [], [], []
        for _ in range(a.reps):
            sh(PSQL, pg_url, "-q", "-c", ddl)
            settle()
            w, r, c, _ = timed([PSQL, pg_url, "-q", "-c", "\\copy ceiling FROM '%s' WITH (FORMAT binary)" % copy_file,
                                "-c", "ALTER TABLE ceiling ADD PRIMARY KEY (id)"])
            walls.append(w); rss.append(r); cpu.append(c)
        record("psql \\copy binary, then the primary key", walls, rss, cpu)

        # The ceiling loads a table without any index; the comparable run is a bare load (the primary
        # key stays: it is the table's identity). The GIN run shows what the metadata index costs.
        bare = ["--index", "none", "--metadata-index", "none"]
        loads = [("chroma2pg migrate, bare load (directory)", cache, bare),
                 ("chroma2pg migrate, bare load (server)", url, bare),
                 ("chroma2pg migrate --index none, GIN on metadata (directory)", cache, ["--index", "none"])]
        for name, src, opts in [l for l in loads if l[1]]:
            walls, rss, cpu = [], [], []
            for _ in range(a.reps):
                # Like the ceiling's, the previous table is dropped before the clock starts (--replace
                # would otherwise time the unlinking of the last run's files at COMMIT).
                sh(PSQL, pg_url, "-q", "-c", "DROP TABLE IF EXISTS %s" % table)
                settle()
                w, r, c, _ = timed([BIN, "migrate", "--from", src, "--to", pg_url] + opts + ["--replace", "--quiet"])
                walls.append(w); rss.append(r); cpu.append(c)
            record(name, walls, rss, cpu)

        if url:
            walls, rss, cpu = [], [], []
            for _ in range(a.reps):
                w, r, c, _ = timed([os.path.join(HERE, "fetch_pages.sh"), url, cid, str(n)])
                walls.append(w); rss.append(r); cpu.append(c)
            record("curl: fetch the same pages alone", walls, rss, cpu)

        if not a.skip_naive:
            walls, rss, cpu = [], [], []
            for _ in range(a.naive_reps):
                settle()
                w, r, c, _ = timed([os.path.join(HERE, "naive_baseline.py"), url, cid, pg_url, "naive", str(dim)])
                walls.append(w); rss.append(r); cpu.append(c)
            record("naive Python: get paging + executemany", walls, rss, cpu)

        if not a.skip_index:
            settle()
            w, r, c, out = timed([BIN, "--json", "migrate", "--from", cache, "--to", pg_url, "--replace", "--quiet"])
            idx = json.loads(out)["collections"][0]["index_seconds"]
            rows["chroma2pg migrate with HNSW (directory)"] = {
                "seconds": w, "records_per_s": n / w, "mb_per_s": mb / w, "peak_rss_mb": r, "cpu_seconds": c,
                "runs": [w], "index_seconds": idx, "note": "index build (HNSW m=16, ef_construction=64) %.1f s" % idx}
            print("  %-40s %7.2fs (index %.1fs)" % ("migrate with HNSW", w, idx), file=sys.stderr)

        if not (a.skip_read and a.skip_verify):
            reads = measure_reads(a, n, mb, cache, url, pg_url, results)
            if not a.skip_verify:
                measure_verify(a, n, cache, url, pg_url, reads, results)

        ceil = rows["ceiling: psql \\copy binary, no indexes"]["seconds"]
        for r in rows.values():
            r["ratio_to_ceiling"] = ceil / r["seconds"]
        os.makedirs(os.path.dirname(os.path.abspath(a.results)), exist_ok=True)
        with open(a.results, "w") as f:
            json.dump(results, f, indent=2)
        print("\n| run | seconds (median) | records/s | MB/s | × ceiling speed | peak RSS MB | CPU s |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, r in rows.items():
            print("| %s | %.2f | %.0f | %.1f | %.2f | %.0f | %.1f |" % (name, r["seconds"], r["records_per_s"],
                                                                  r["mb_per_s"], r["ratio_to_ceiling"],
                                                                  r["peak_rss_mb"], r["cpu_seconds"]))
        print_reads(results)
        print_verify(results)
    finally:
        subprocess.run([os.path.join(REPO, "scripts/chroma-server.sh"), "stop", chroma_dir], capture_output=True)
        subprocess.run([os.path.join(REPO, "scripts/pg-cluster.sh"), "stop", pg_dir], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
