"""docs/reference/ must be what scripts/update-help-docs.sh generates from the binary's --help.

Needs only the binary (C2P_BIN) and bash; no database or Chroma server.
Fix a failure with:  scripts/update-help-docs.sh "$C2P_BIN"   (then review and commit docs/reference/)
"""
import difflib
import os
import stat
import subprocess
import tempfile
import unittest

from support import BIN, REPO

SCRIPT = os.path.join(REPO, "scripts", "update-help-docs.sh")
COMMITTED = os.path.join(REPO, "docs", "reference")


def generate(binary, out_dir):
    proc = subprocess.run(["bash", SCRIPT, binary, out_dir], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError("update-help-docs.sh failed (%d): %s" % (proc.returncode, proc.stderr))


def read_tree(d):
    pages = {}
    for n in sorted(os.listdir(d)):
        if n.endswith(".md"):
            with open(os.path.join(d, n), encoding="utf-8") as f:
                pages[n] = f.read()
    return pages


def drift(expected_dir, actual_dir):
    """A unified diff of every page that differs, is missing or is extra; '' when identical."""
    want, got = read_tree(expected_dir), read_tree(actual_dir)
    out = []
    for name in sorted(set(want) | set(got)):
        a, b = want.get(name), got.get(name)
        if a == b:
            continue
        out += difflib.unified_diff((a or "").splitlines(True), (b or "").splitlines(True),
                                    "committed/" + name if a is not None else "/dev/null",
                                    "generated/" + name if b is not None else "/dev/null")
    return "".join(out)


class DocsDriftTest(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(BIN):
            raise RuntimeError("chroma2pg binary not found at %s (set C2P_BIN)" % BIN)
        self.tmp = tempfile.TemporaryDirectory(prefix="c2p-docs-")
        self.addCleanup(self.tmp.cleanup)

    def test_reference_matches_help(self):
        out = os.path.join(self.tmp.name, "ref")
        generate(BIN, out)
        d = drift(COMMITTED, out)
        self.assertEqual(d, "", "docs/reference/ is out of date with `--help`; run "
                                "`scripts/update-help-docs.sh %s` and commit the result:\n%s" % (BIN, d))

    def test_every_command_has_a_page(self):
        out = os.path.join(self.tmp.name, "ref")
        generate(BIN, out)
        pages = read_tree(out)
        root_help = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
        commands = []
        in_sub = False
        for line in root_help.splitlines():
            if line == "Subcommands:":
                in_sub = True
            elif in_sub and not line.strip():
                break
            elif in_sub and line.startswith("  ") and not line.startswith("   "):
                commands.append(line.split()[0])
        self.assertIn("migrate", commands)
        self.assertIn("inspect", commands)
        for c in commands:
            self.assertIn(c + ".md", pages)
            self.assertIn("Usage: chroma2pg %s" % c, pages[c + ".md"])
            self.assertIn("[`chroma2pg %s`](%s.md)" % (c, c), pages["README.md"])
        self.assertIn("chroma2pg.md", pages)
        # Deterministic: no temp path, build path or date leaks into the pages.
        text = "".join(pages.values())
        self.assertNotIn(self.tmp.name, text)
        self.assertNotIn(os.path.dirname(os.path.abspath(BIN)), text)
        # Another run from elsewhere, with another terminal width, is byte-identical.
        again = os.path.join(self.tmp.name, "again")
        env = dict(os.environ, COLUMNS="40", LINES="10")
        proc = subprocess.run(["bash", SCRIPT, BIN, again], capture_output=True, text=True, cwd="/tmp", env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(drift(out, again), "")

    def test_drift_is_detected(self):
        """A --help text that changed without regenerating is reported, with the changed line."""
        good = os.path.join(self.tmp.name, "good")
        generate(BIN, good)
        # A wrapper binary whose migrate --help says something else.
        fake = os.path.join(self.tmp.name, "chroma2pg")
        with open(fake, "w") as f:
            f.write('#!/bin/bash\n"%s" "$@" | sed "s/Records per batch read from the source/Rows per batch/"\n' % BIN)
        os.chmod(fake, os.stat(fake).st_mode | stat.S_IXUSR)
        changed = os.path.join(self.tmp.name, "changed")
        generate(fake, changed)
        d = drift(good, changed)
        self.assertIn("-                              Records per batch read from the source", d)
        self.assertIn("+                              Rows per batch", d)
        self.assertIn("generated/migrate.md", d)
        # A page that was removed, and one that appeared, are reported too.
        os.unlink(os.path.join(changed, "inspect.md"))
        with open(os.path.join(changed, "newcmd.md"), "w") as f:
            f.write("# chroma2pg newcmd\n")
        d = drift(good, changed)
        self.assertIn("committed/inspect.md", d)
        self.assertIn("+++ generated/newcmd.md", d)
        self.assertEqual(drift(good, good), "")


if __name__ == "__main__":
    unittest.main()
