#!/usr/bin/python3
"""Reading a live Chroma server (issue 22): what the no-gap read costs, and the `sync --follow`
cut-over window.

  bench/live_read.py [--records 100000] [--dim 384] [--reps 3] [--changed 0.01]

Uses the data of bench/run.py (generated through a real Chroma server once, cached in bench/.cache/),
on a fresh copy served by a real Chroma server and a fresh PostgreSQL, and measures back to back:
  - the server alone: every page by position (offset paging, as migrate reads; fetch_pages.sh with
    curl), the ids alone by position (the listing the check takes), and every record by id, 1,000 ids
    per request (Python, the ids from the listing), bytes discarded;
  - offset paging per page near the start and near the end (the deeper, the slower?);
  - chroma2pg migrate from the server (bare load) with the check against the live ids (the default)
    and without it (C2P_BENCH_NO_LIVE_CHECK=1), and --baseline-bin's default migrate in the same run;
  - sync --follow: --changed of the records updated right before the stop file; the final round's
    duration (the write-freeze window of a cut-over), from the summary; reading the server, and reading
    the persist directory the server keeps serving; each followed by verify against the server.
Medians of --reps runs; results on stdout (Markdown) and in bench/results/live_read.json.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the shared harness: generate, timed, sh, call)

HERE = bench.HERE
REPO = bench.REPO
API = bench.API


def post(url, path, body):
    req = urllib.request.Request(url + path, method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.read()


def list_ids(url, cid, page=10000):
    ids = []
    while True:
        got = json.loads(post(url, API + "/collections/%s/get" % cid, {"limit": page, "offset": len(ids),
                                                                        "include": []}))["ids"]
        ids += got
        if len(got) < page:
            return ids


def fetch_by_id(url, cid, ids, per=1000):
    include = ["embeddings", "documents", "metadatas", "uris"]
    for i in range(0, len(ids), per):
        post(url, API + "/collections/%s/get" % cid, {"ids": ids[i:i + per], "include": include})


def page_seconds(url, cid, offset, page=1000, reps=5):
    include = ["embeddings", "documents", "metadatas", "uris"]
    ts = []
    for _ in range(reps):
        t0 = time.monotonic()
        post(url, API + "/collections/%s/get" % cid, {"limit": page, "offset": offset, "include": include})
        ts.append(time.monotonic() - t0)
    return bench.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--changed", type=float, default=0.01, help="share of the records updated before the stop file")
    ap.add_argument("--results", default=os.path.join(HERE, "results", "live_read.json"))
    ap.add_argument("--baseline-bin", help="another chroma2pg binary (e.g. an older build) whose default migrate "
                                           "from the server is measured in the same run")
    a = ap.parse_args()
    n, dim = a.records, a.dim
    if not os.path.exists(bench.BIN):
        sys.exit("build the binary first (expects %s, or set C2P_BENCH_BIN)" % bench.BIN)
    cache = os.path.join(HERE, ".cache", "chroma-%d-%d" % (n, dim))
    work = tempfile.mkdtemp(prefix="c2p-live-bench-")
    chroma_dir, pg_dir = os.path.join(work, "chroma"), os.path.join(work, "pg")
    chroma_sh, pg_sh = os.path.join(REPO, "scripts/chroma-server.sh"), os.path.join(REPO, "scripts/pg-cluster.sh")
    results = {"records": n, "dim": dim, "reps": a.reps, "machine": {
        "cores": os.cpu_count(), "cpu": bench.sh("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
        "load_average_at_start": os.getloadavg()}, "rows": {}}
    rows = results["rows"]

    def record(name, walls, **extra):
        rows[name] = dict({"seconds": bench.median(walls), "runs": walls}, **extra)
        print("  %-60s %7.2fs  %s" % (name, bench.median(walls), extra or ""), file=sys.stderr)

    pg_url = None
    try:
        if not os.path.exists(os.path.join(cache, "chroma.sqlite3")):
            os.makedirs(chroma_dir)
            url = bench.sh(chroma_sh, "start", chroma_dir)
            print("generating %d x %d through Chroma (once; cached in %s)" % (n, dim, cache), file=sys.stderr)
            bench.generate(url, n, dim)
            bench.sh(chroma_sh, "stop", chroma_dir)
            shutil.rmtree(cache, ignore_errors=True)
            shutil.copytree(chroma_dir, cache)
            shutil.rmtree(chroma_dir)
        shutil.copytree(cache, chroma_dir)
        url = bench.sh(chroma_sh, "start", chroma_dir)
        cid = [c for c in bench.call(url, "GET", API + "/collections") if c["name"] == "bench"][0]["id"]
        pg_url = bench.sh(pg_sh, "start", pg_dir)

        # --- the server alone
        walls = [bench.timed([os.path.join(HERE, "fetch_pages.sh"), url, cid, str(n)])[0] for _ in range(a.reps)]
        record("server: every record by position (curl, 1,000 per page)", walls)
        walls, ids = [], []
        for _ in range(a.reps):
            t0 = time.monotonic()
            ids = list_ids(url, cid)
            walls.append(time.monotonic() - t0)
        assert len(ids) == n, len(ids)
        record("server: the ids alone by position (10,000 per page)", walls)
        walls = []
        for _ in range(a.reps):
            t0 = time.monotonic()
            fetch_by_id(url, cid, ids)
            walls.append(time.monotonic() - t0)
        record("server: every record by id (Python, 1,000 ids per request)", walls)
        first, last = page_seconds(url, cid, 0), page_seconds(url, cid, n - 1000)
        rows["server: one page of 1,000 by position"] = {"first_page_seconds": first, "last_page_seconds": last}
        print("  one page of 1,000 by position: first %.3fs, last %.3fs" % (first, last), file=sys.stderr)

        # --- migrate from the server, with and without the check
        base = [bench.BIN, "--json", "migrate", "--from", url, "--to", pg_url, "--index", "none",
                "--metadata-index", "none", "--replace", "--quiet"]
        variants = [("chroma2pg migrate (server, bare): without the check against the live ids",
                     {"C2P_BENCH_NO_LIVE_CHECK": "1"}, base),
                    ("chroma2pg migrate (server, bare): + check against the live ids (the default)", None, base)]
        if a.baseline_bin:
            variants.insert(0, ("baseline %s migrate (server, bare), default" % os.path.basename(a.baseline_bin), None,
                                [a.baseline_bin] + base[1:]))
        for name, env, cmd in variants:
            walls, rss, checks = [], [], []
            for _ in range(a.reps):
                bench.sh(bench.PSQL, pg_url, "-q", "-c", "DROP TABLE IF EXISTS bench; CHECKPOINT")
                w, r, _, out = bench.timed(cmd, env=env)
                walls.append(w)
                rss.append(r)
                live = json.loads(out)["collections"][0].get("live_source")
                if live:
                    checks.append(live["check_seconds"])
            record(name, walls, peak_rss_mb=max(rss), check_seconds=bench.median(checks) if checks else None)

        # --- sync --follow: the final round after --changed of the records were updated, reading the server,
        # or the persist directory that server keeps serving (a cut-over on the same host, writes frozen).
        k = int(n * a.changed)
        for source_name, source in (("the server", url), ("the persist directory (server running)", chroma_dir)):
            walls, applied = [], []
            for rep in range(a.reps):
                stop = os.path.join(work, "stop-%s-%d" % ("server" if source == url else "dir", rep))
                # A long interval: the stop file ends the wait, so the final round is the one after the changes.
                p = subprocess.Popen([bench.BIN, "--json", "sync", "--follow", "--interval", "600", "--stop-file", stop,
                                      "--from", source, "--to", pg_url], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                err_head = ""
                while "round 1:" not in err_head:  # the first round is over
                    line = p.stderr.readline()
                    if not line:
                        raise RuntimeError("sync --follow ended before its first round: " + err_head[-3000:])
                    err_head += line
                # Half of them by document, half by embedding, spread over the collection.
                tag = "%s-%d" % (source_name[4:8], rep)
                chosen = ids[rep::max(1, n // k)][:k]
                half = len(chosen) // 2
                post(url, API + "/collections/%s/update" % cid,
                     {"ids": chosen[:half], "documents": ["rev %s %s" % (tag, i) for i in chosen[:half]]})
                post(url, API + "/collections/%s/update" % cid,
                     {"ids": chosen[half:], "embeddings": [[0.001 * (rep + 1) * (2 if source == url else 3)] * dim
                                                          for _ in chosen[half:]]})
                open(stop, "w").close()
                out, err = p.communicate(timeout=1800)
                if p.returncode != 0:
                    raise RuntimeError("sync --follow failed (%d): %s" % (p.returncode, err[-3000:]))
                f = json.loads(out)["follow"]
                walls.append(f["last_round"]["seconds"])
                applied.append(f["last_round"]["applied"])
                # Exact: every record digest-equal to the server's (not timed).
                v = subprocess.run([bench.BIN, "verify", "--from", url, "--to", pg_url, "--queries", "1", "--k", "1"],
                                   capture_output=True, text=True)
                if v.returncode != 0:
                    raise RuntimeError("verify after sync --follow from %s failed: %s" % (source_name,
                                                                                          (v.stdout + v.stderr)[-3000:]))
            record("sync --follow from %s: final round after %d records (%.0f %%) changed" % (
                source_name, k, 100 * a.changed), walls, changes_applied=applied, verified=True)

        results["machine"]["load_average_at_end"] = os.getloadavg()
        os.makedirs(os.path.dirname(os.path.abspath(a.results)), exist_ok=True)
        with open(a.results, "w") as f:
            json.dump(results, f, indent=2)
        print("\n| run | seconds (median of %d) | runs |" % a.reps)
        print("|---|---:|---|")
        for name, r in rows.items():
            if "seconds" in r:
                print("| %s | %.2f | %s |" % (name, r["seconds"], ", ".join("%.2f" % x for x in r["runs"])))
        pr = rows["server: one page of 1,000 by position"]
        print("\nOne page of 1,000 by position: %.3f s at offset 0, %.3f s at offset %d." % (
            pr["first_page_seconds"], pr["last_page_seconds"], n - 1000))
        print("Load average (1, 5, 15 min): %s at the start, %s at the end." % (
            results["machine"]["load_average_at_start"], results["machine"]["load_average_at_end"]))
    finally:
        subprocess.run([chroma_sh, "stop", chroma_dir], capture_output=True)
        if pg_url:
            subprocess.run([pg_sh, "stop", pg_dir], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
