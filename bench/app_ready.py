#!/usr/bin/python3
"""Time until the app can query (issue 21): load + primary key + vector index + metadata index + ANALYZE.

  bench/app_ready.py [--records 100000] [--dim 384] [--reps 3] [--dir DIR] [--layouts a,b] [--compare-bin BIN]
                     [--skip-settings-row] [--memory 4GB [--also-default | --default-only]]

Uses bench/run.py's data (generated through a real Chroma server once, cached in bench/.cache/) and
a fresh PostgreSQL (scripts/pg-cluster.sh: maintenance_work_mem 512MB, max_parallel_maintenance_workers
2), and measures back to back, each run after DROP TABLE + CHECKPOINT, in rounds (every row once a
round, by hand last):
  - chroma2pg `migrate` from the persistent directory with default options (HNSW with the collection's
    Chroma parameters, GIN on metadata, ANALYZE): what a user runs;
  - the same with the build settings given (--maintenance-work-mem 2GB, --jobs 2);
  - PostgreSQL's own minimal work by hand in one psql session: `\\copy` of the exact rows chroma2pg
    writes (binary), ADD PRIMARY KEY, then SET maintenance_work_mem = '2GB' and
    max_parallel_maintenance_workers = cores, the very CREATE INDEX statements the tool ran, ANALYZE.
  - with --layouts: `migrate --layout X` with default options for each, into a schema of its own
    dropped before each run (a framework layout is staged, then published: the rows are written twice);
  - with --compare-bin: the default-options rows again with another binary (e.g. the previous commit's).
--dir measures another persistent directory (e.g. bench/make_flushed_dir.py's 1,000,000 records).
Medians of --reps; Markdown on stdout, JSON in bench/results/app_ready.json.
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
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--results", default=os.path.join(bench.HERE, "results", "app_ready.json"))
    ap.add_argument("--dir", help="a persistent directory to migrate instead of the cached one")
    ap.add_argument("--layouts", default="", help="comma-separated framework layouts to measure too")
    ap.add_argument("--compare-bin", help="a second chroma2pg binary, measured on the same default-options rows")
    ap.add_argument("--memory", default="2GB",
                    help="maintenance_work_mem by hand, and the tool's --max-maintenance-work-mem when not 2GB")
    ap.add_argument("--also-default", action="store_true",
                    help="with --memory: measure the tool's default options (its own 2GB cap) too")
    ap.add_argument("--default-only", action="store_true",
                    help="with --memory: measure the tool with its default options only (by hand still gets --memory)")
    ap.add_argument("--skip-settings-row", action="store_true", help="skip --maintenance-work-mem 2GB --jobs 2")
    a = ap.parse_args()
    cache = a.dir or os.path.join(bench.HERE, ".cache", "chroma-%d-%d" % (a.records, a.dim))
    if not os.path.exists(os.path.join(cache, "chroma.sqlite3")):
        sys.exit("no cached data in %s: run bench/run.py --records %d --dim %d once" % (cache, a.records, a.dim))
    work = tempfile.mkdtemp(prefix="c2p-appready-")
    pg_sh = os.path.join(bench.REPO, "scripts/pg-cluster.sh")
    pg_dir = os.path.join(work, "pg")
    cores = os.cpu_count() or 1
    results = {"records": a.records, "dim": a.dim, "reps": a.reps, "binary": bench.BIN,
               "machine": {"cores": cores, "load_average_at_start": os.getloadavg()}, "rows": {}}
    pg = None
    try:
        pg = bench.sh(pg_sh, "start", pg_dir)
        psql = [bench.PSQL, pg, "-q", "-v", "ON_ERROR_STOP=1"]
        out = json.loads(bench.sh(bench.BIN, "--json", "migrate", "--from", cache, "--to", pg, "--index", "none",
                                  "--quiet"))["collections"][0]
        table = out["table"]
        copy_file = os.path.join(work, "rows.copy")
        bench.sh(bench.PSQL, pg, "-c", "\\copy (SELECT id, embedding, document, uri, metadata, digest FROM %s) TO '%s' "
                                       "WITH (FORMAT binary)" % (table, copy_file))
        settings = dict(l.split("|") for l in bench.sh(
            bench.PSQL, pg, "-At", "-c", "SELECT name, current_setting(name) FROM (VALUES ('maintenance_work_mem'), "
                                         "('max_parallel_maintenance_workers'), ('shared_buffers')) v(name)").splitlines())
        results["server_settings"] = settings

        def settle(drop):
            bench.sh(bench.PSQL, pg, "-q", "-c", "DROP TABLE IF EXISTS %s; CHECKPOINT" % drop)

        def record(name, walls, rss):
            results["rows"][name] = {"seconds": bench.median(walls), "runs": walls, "peak_rss_mb": max(rss)}
            print("  %-70s %7.2fs" % (name, bench.median(walls)), file=sys.stderr)

        cap = [] if a.memory == "2GB" else ["--max-maintenance-work-mem", a.memory]
        runs = [("chroma2pg migrate, default options" + (" + " + " ".join(cap) if cap else ""), bench.BIN, cap, None)]
        if cap and a.also_default:
            runs.insert(0, ("chroma2pg migrate, default options", bench.BIN, [], None))
        if a.default_only:
            runs = [("chroma2pg migrate, default options", bench.BIN, [], None)]
        if not a.skip_settings_row:
            runs.append(("chroma2pg migrate --maintenance-work-mem 2GB --jobs 2", bench.BIN,
                         ["--maintenance-work-mem", "2GB", "--jobs", "2"], None))
        for layout in filter(None, a.layouts.split(",")):
            runs.append(("chroma2pg migrate --layout %s, default options" % layout, bench.BIN, ["--layout", layout],
                         "bench_" + layout.replace("-", "_")))
        if a.compare_bin:
            results["compare_bin"] = a.compare_bin
            for name, _, extra, schema in list(runs):
                if "--jobs" not in extra:
                    runs.append((name + " (compare-bin)", a.compare_bin, extra, schema))
        # Rounds: each rep runs every row once, the by-hand row last, so a drift of the machine's speed
        # (a virtualised host's neighbours) falls on every row alike rather than on whichever ran last.
        ddl = ("CREATE TABLE hand (id text COLLATE \"C\" NOT NULL, embedding vector(%d) NOT NULL, document text, "
               "uri text, metadata jsonb, digest bytea NOT NULL)" % a.dim)
        hand_name = "by hand in psql: \\copy, primary key, HNSW + GIN with the best settings, ANALYZE"
        walls = {name: [] for name, _, _, _ in runs + [(hand_name, None, None, None)]}
        rss = {name: [] for name in walls}
        parts = {name: [] for name in walls}
        defs = None
        for rep in range(a.reps):
            for name, binary, extra, schema in runs:
                if schema:
                    bench.sh(bench.PSQL, pg, "-q", "-c", "DROP SCHEMA IF EXISTS %s CASCADE; CHECKPOINT" % schema)
                    extra_schema = ["--schema", schema]
                else:
                    settle(table)
                    extra_schema = ["--replace"]
                w, r, _, out = bench.timed([binary, "--json", "migrate", "--from", cache, "--to", pg, "--quiet"]
                                           + extra_schema + extra)
                walls[name].append(w)
                rss[name].append(r)
                c = json.loads(out)["collections"][0]
                parts[name].append({k: c.get(k) for k in ("load_seconds", "index_seconds", "seconds")})
                if defs is None and not schema:
                    # The very CREATE INDEX statements the tool ran (its vector and metadata indexes), for the hand table.
                    defs = bench.sh(bench.PSQL, pg, "-At", "-c", "SELECT indexdef FROM pg_indexes WHERE tablename = '%s' "
                                                                 "AND indexname NOT LIKE '%%pkey'" % table).splitlines()
                    assert any("hnsw" in d for d in defs) and any("gin" in d for d in defs), defs
                    defs = [d.replace(" ON public.%s " % table, " ON public.hand ") for d in defs]
                    results["index_statements"] = defs
            settle(table)
            settle("hand")
            bench.sh(*psql, "-c", ddl)
            w, r, _, _ = bench.timed(psql + [
                "-c", "\\copy hand FROM '%s' WITH (FORMAT binary)" % copy_file,
                "-c", "ALTER TABLE hand ADD PRIMARY KEY (id)",
                "-c", "SET maintenance_work_mem = '%s'" % a.memory,
                "-c", "SET max_parallel_maintenance_workers = %d" % cores]
                + [x for d in defs for x in ("-c", d)] + ["-c", "ANALYZE hand"])
            walls[hand_name].append(w)
            rss[hand_name].append(r)
            settle("hand")
        for name, _, _, _ in runs:
            record(name, walls[name], rss[name])
            results["rows"][name]["collection_figures"] = parts[name]
        record(hand_name, walls[hand_name], rss[hand_name])

        results["machine"]["load_average_at_end"] = os.getloadavg()
        os.makedirs(os.path.dirname(os.path.abspath(a.results)), exist_ok=True)
        with open(a.results, "w") as f:
            json.dump(results, f, indent=2)
        hand = results["rows"][hand_name]
        print("\n| run | seconds (median of %d) | × by-hand time | runs |" % a.reps)
        print("|---|---:|---:|---|")
        for name, r in results["rows"].items():
            print("| %s | %.2f | %.2f | %s |" % (name, r["seconds"], r["seconds"] / hand["seconds"],
                                                 ", ".join("%.2f" % x for x in r["runs"])))
        print("\nServer: %s. Load average %s at the start, %s at the end." % (
            settings, results["machine"]["load_average_at_start"], results["machine"]["load_average_at_end"]))
    finally:
        if pg:
            bench.sh(pg_sh, "stop", pg_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
