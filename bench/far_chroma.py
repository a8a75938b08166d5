#!/usr/bin/python3
"""A Chroma server far away (issue 21): migrate through a link with a round-trip delay, against the same
migrate over plain loopback, and curl paging page after page over the same link.

  bench/far_chroma.py [--records 100000] [--dim 384] [--reps 3] [--delay-ms 10]

The issue asks for a network namespace, a veth pair and `tc netem`; this machine's kernel has no
netem qdisc ("Specified qdisc kind is unknown", no modprobe), so the delay is a user-space TCP proxy
here: every chunk each way is delivered --delay-ms after it arrived, in order (latency, not
bandwidth: --delay-ms 10 is a 20 ms round trip). Uses bench/run.py's cached data, a fresh Chroma 1.0
server on a copy of it and a fresh PostgreSQL; bare loads (--index none --metadata-index none), each
after DROP TABLE + CHECKPOINT. Markdown on stdout, JSON in bench/results/far_chroma.json.
"""
import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402


class DelayProxy:
    """Forwards TCP connections to (host, port), delivering each chunk `delay` seconds after it arrived."""

    def __init__(self, host, port, delay):
        self.up = (host, port)
        self.delay = delay
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.port = None

        async def start():
            server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            async with server:
                await server.serve_forever()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(start()), daemon=True)
        self.thread.start()
        ready.wait(10)

    async def pump(self, reader, writer):
        queue = asyncio.Queue()

        async def deliver():
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                wait = due - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        task = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                queue.put_nowait((self.loop.time() + self.delay, data))
        except ConnectionError:
            pass
        queue.put_nowait((0, None))
        try:
            await task
        except ConnectionError:
            pass

    async def handle(self, creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(*self.up)
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(self.pump(creader, uwriter), self.pump(ureader, cwriter))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay (the round trip is twice this)")
    ap.add_argument("--results", default=os.path.join(bench.HERE, "results", "far_chroma.json"))
    a = ap.parse_args()
    n = a.records
    cache = os.path.join(bench.HERE, ".cache", "chroma-%d-%d" % (a.records, a.dim))
    if not os.path.exists(os.path.join(cache, "chroma.sqlite3")):
        sys.exit("no cached data in %s: run bench/run.py --records %d --dim %d once" % (cache, a.records, a.dim))
    work = tempfile.mkdtemp(prefix="c2p-far-")
    chroma_sh, pg_sh = os.path.join(bench.REPO, "scripts/chroma-server.sh"), os.path.join(bench.REPO, "scripts/pg-cluster.sh")
    chroma_dir, pg_dir = os.path.join(work, "chroma"), os.path.join(work, "pg")
    results = {"records": n, "dim": a.dim, "reps": a.reps, "one_way_delay_ms": a.delay_ms, "binary": bench.BIN,
               "machine": {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()}, "rows": {}}
    pg = None
    try:
        shutil.copytree(cache, chroma_dir)
        url = bench.sh(chroma_sh, "start", chroma_dir)
        cid = [c for c in bench.call(url, "GET", bench.API + "/collections") if c["name"] == "bench"][0]["id"]
        pg = bench.sh(pg_sh, "start", pg_dir)
        host, port = url.rsplit("/", 1)[1].split(":")
        proxy = DelayProxy(host, int(port), a.delay_ms / 1000.0)
        far = "http://127.0.0.1:%d" % proxy.port
        t0 = time.monotonic()
        bench.call(far, "GET", bench.API + "/collections")
        results["measured_round_trip_ms"] = (time.monotonic() - t0) * 1000
        table = json.loads(bench.sh(bench.BIN, "--json", "migrate", "--from", url, "--to", pg, "--index", "none",
                                    "--metadata-index", "none", "--quiet"))["collections"][0]["table"]

        def record(name, walls, rss=None):
            results["rows"][name] = {"seconds": bench.median(walls), "records_per_s": n / bench.median(walls),
                                     "runs": walls, "peak_rss_mb": max(rss) if rss else None}
            print("  %-60s %7.2fs" % (name, bench.median(walls)), file=sys.stderr)

        for name, src in (("chroma2pg migrate, bare load, loopback", url),
                          ("chroma2pg migrate, bare load, %g ms round trip" % (2 * a.delay_ms), far)):
            walls, rss = [], []
            for _ in range(a.reps):
                bench.sh(bench.PSQL, pg, "-q", "-c", "DROP TABLE IF EXISTS %s; CHECKPOINT" % table)
                w, r, _, _ = bench.timed([bench.BIN, "migrate", "--from", src, "--to", pg, "--index", "none",
                                          "--metadata-index", "none", "--replace", "--quiet"])
                walls.append(w)
                rss.append(r)
            record(name, walls, rss)
        walls = [bench.timed([os.path.join(bench.HERE, "fetch_pages.sh"), far, cid, str(n)])[0]]
        record("curl: every page by offset, one after another, %g ms round trip" % (2 * a.delay_ms), walls)

        results["machine"]["load_average_at_end"] = os.getloadavg()
        rows = results["rows"]
        loop_s = rows["chroma2pg migrate, bare load, loopback"]["seconds"]
        os.makedirs(os.path.dirname(os.path.abspath(a.results)), exist_ok=True)
        with open(a.results, "w") as f:
            json.dump(results, f, indent=2)
        print("\n| run | seconds (median) | records/s | × loopback records/s | runs |")
        print("|---|---:|---:|---:|---|")
        for name, r in rows.items():
            print("| %s | %.2f | %.0f | %.2f | %s |" % (name, r["seconds"], r["records_per_s"], loop_s / r["seconds"],
                                                      ", ".join("%.2f" % x for x in r["runs"])))
        print("\nMeasured round trip through the proxy: %.1f ms. Load average %s at the start, %s at the end." % (
            results["measured_round_trip_ms"], results["machine"]["load_average_at_start"],
            results["machine"]["load_average_at_end"]))
    finally:
        subprocess.run([chroma_sh, "stop", chroma_dir], capture_output=True)
        if pg:
            subprocess.run([pg_sh, "stop", pg_dir], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
