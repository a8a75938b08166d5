"""The verify / bench report: report.json, report.md and a self-contained report.html that renders in
headless Chromium (a real screenshot, not blank, with the verdict and the record counts in the page)."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import support  # noqa: E402
from support import pg_query, run  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA PNG with zlib only; returns (width, height, rows of bytes, bytes per pixel)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def render(html_path, out_dir):
    """Screenshot and DOM text of the page in headless Chromium."""
    png = os.path.join(out_dir, "shot.png")
    profile = tempfile.mkdtemp(prefix="c2p-chromium-")
    url = "file://" + os.path.abspath(html_path)
    try:
        subprocess.run([CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile, "--screenshot=" + png,
                                                      "--window-size=1280,900", url],
                       capture_output=True, timeout=120, check=False)
        dom = subprocess.run([CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile, "--dump-dom", url],
                             capture_output=True, text=True, timeout=120, check=False).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return png, dom


class ReportRendersInChromium(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        support.require_env(cls)
        if not CHROMIUM:
            raise RuntimeError("chromium not found (Debian package `chromium`, installed by scripts/setup.sh)")
        col = support.own_collection(cls, "vreport", "vfy_report_", space="cosine")
        embs = support.clustered_vectors(1500, 32, centres=40, seed=3)
        cls.chroma.add(col["id"], ["rep-%05d" % i for i in range(1500)], embs,
                       ["doc <b>%d</b> & more" % i for i in range(1500)], [{"n": i} for i in range(1500)])
        run("migrate", "--from", support.CHROMA_URL, "--to", cls.url, "--collections", cls.name, check=0)
        cls.tmp = tempfile.mkdtemp(prefix="c2p-report-")

    @classmethod
    def tearDownClass(cls):
        support.release_own(cls)

    def check_rendering(self, html, must_contain):
        png, dom = render(html, os.path.dirname(html))
        self.assertTrue(os.path.exists(png), "chromium wrote no screenshot")
        self.assertGreater(os.path.getsize(png), 5000)
        w, h, rows, bpp = png_pixels(png)
        self.assertEqual((w, h), (1280, 900))
        colours = set()
        for row in rows[::4]:
            for x in range(0, len(row), bpp * 3):
                colours.add(row[x:x + 3])
        self.assertGreater(len(colours), 20, "the screenshot is (nearly) blank")
        for text in must_contain:
            self.assertIn(text, dom)
        return dom

    def test_pass_report(self):
        out = os.path.join(self.tmp, "pass")
        p = run("verify", "--from", support.CHROMA_URL, "--to", self.url, "--collections", self.name,
                "--queries", "30", "--report", out, check=0)
        self.assertIn("report written", p.stderr)
        for f in ("report.json", "report.md", "report.html"):
            self.assertTrue(os.path.exists(os.path.join(out, f)), f)
        r = load_json(os.path.join(out, "report.json"))
        self.assertEqual(r["verdict"], "PASS")
        self.assertEqual(r["totals"]["source_records"], 1500)
        html = read_text(os.path.join(out, "report.html"))
        # Self-contained: no external scripts, stylesheets, images or fonts.
        for bad in ("<script", "<link", "src=", "@import", "url("):
            self.assertNotIn(bad, html)
        self.assertIn("<svg", html)
        md = read_text(os.path.join(out, "report.md"))
        self.assertIn("**PASS**", md)
        self.assertIn("1,500", md)
        dom = self.check_rendering(os.path.join(out, "report.html"), ["PASS", "1,500", self.name, "pgvector"])
        self.assertIn("recall", dom.lower())

    def test_fail_report_names_the_record(self):
        table = pg_query(self.url, "SELECT table_name FROM chroma_collections WHERE name = %s", (self.name,))[0][0]
        pg_query(self.url, 'DELETE FROM public."%s" WHERE id = %%s' % table, ("rep-00042",))
        try:
            out = os.path.join(self.tmp, "fail")
            run("verify", "--from", support.CHROMA_URL, "--to", self.url, "--collections", self.name,
                "--queries", "20", "--report", out, check=1)
            r = load_json(os.path.join(out, "report.json"))
            self.assertEqual(r["verdict"], "FAIL")
            self.check_rendering(os.path.join(out, "report.html"), ["FAIL", "rep-00042", "1,500", "1,499"])
        finally:
            run("migrate", "--from", support.CHROMA_URL, "--to", self.url, "--collections", self.name, "--replace",
                check=0)

    def test_bench_report(self):
        out = os.path.join(self.tmp, "bench")
        run("bench", "--to", self.url, "--collection", self.name, "--clients", "1,2", "--duration", "0.5",
            "--ef-search", "40,100", "--insert-rows", "500", "--report", out, check=0)
        r = load_json(os.path.join(out, "report.json"))
        self.assertEqual(r["kind"], "bench")
        self.check_rendering(os.path.join(out, "report.html"), ["queries/s", "p99", self.name])


if __name__ == "__main__":
    unittest.main()
