"""Bash completion (scripts/completion/chroma2pg.bash) against the binary under test (C2P_BIN).

Each case sources the script in a fresh bash, sets COMP_WORDS/COMP_CWORD as readline would, calls
the registered completion function and reads COMPREPLY. Needs only bash and the binary.
"""
import os
import subprocess
import tempfile
import unittest

from support import BIN, REPO

SCRIPT = os.path.join(REPO, "scripts", "completion", "chroma2pg.bash")

DRIVER = r'''
source "$SCRIPT" || exit 9
spec="$(complete -p chroma2pg)" || exit 8
fn="${spec##*-F }"; fn="${fn%% *}"
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$fn" chroma2pg "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''


class CompletionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(BIN):
            raise RuntimeError("chroma2pg binary not found at %s (set C2P_BIN)" % BIN)
        # The user types `chroma2pg`: put the binary under test on PATH under that name.
        cls.tmp = tempfile.TemporaryDirectory(prefix="c2p-completion-")
        os.symlink(os.path.abspath(BIN), os.path.join(cls.tmp.name, "chroma2pg"))
        cls.env = dict(os.environ, PATH=cls.tmp.name + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
                       SCRIPT=SCRIPT, ASAN_OPTIONS="detect_leaks=0")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def complete(self, *words):
        proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", DRIVER, "driver", "chroma2pg", *words],
                              capture_output=True, text=True, env=self.env, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return [l for l in proc.stdout.splitlines() if l]

    def test_commands(self):
        self.assertEqual(self.complete("mi"), ["migrate"])
        self.assertEqual(self.complete("ins"), ["inspect"])
        everything = self.complete("")
        for c in ("inspect", "migrate"):
            self.assertIn(c, everything)
        self.assertNotIn("--json", everything)  # no options unless a dash is typed
        self.assertEqual(self.complete("zz"), [])

    def test_options_of_the_command(self):
        self.assertEqual(self.complete("migrate", "--ten"), ["--tenant"])
        got = self.complete("migrate", "--t")
        self.assertEqual(sorted(got), ["--tenant", "--to", "--token", "--token-header"])
        # --ta: nothing of migrate starts with it (the target is --to).
        self.assertEqual(self.complete("migrate", "--ta"), [])
        # inspect has no target options; global options apply after the command too.
        self.assertNotIn("--to", self.complete("inspect", "--t"))
        self.assertEqual(self.complete("inspect", "--log"), ["--log-format"])
        # After an option's value, options are still completed, each once.
        got = self.complete("migrate", "--from", "http://x:8000", "--ind")
        self.assertEqual(got, ["--index", "--index-builds"])
        got = self.complete("migrate", "--")
        self.assertEqual(len(got), len(set(got)))
        self.assertIn("--batch-size", got)

    def test_exclude_collections_everywhere_collections_is(self):
        for cmd in ("inspect", "migrate", "backup", "verify", "sync", "restore"):
            self.assertIn("--collections", self.complete(cmd, "--coll"), cmd)
            self.assertEqual(self.complete(cmd, "--excl"), ["--exclude-collections"], cmd)
        self.assertEqual(self.complete("migrate", "--chroma-w"), ["--chroma-wait"])

    def test_global_options_before_the_command(self):
        self.assertEqual(self.complete("--log-format", "json", "mi"), ["migrate"])
        self.assertEqual(self.complete("-q", "--json", "insp"), ["inspect"])

    def test_option_values(self):
        self.assertEqual(self.complete("migrate", "--index", ""), ["hnsw", "ivfflat", "none"])
        self.assertEqual(self.complete("migrate", "--index", "iv"), ["ivfflat"])
        self.assertEqual(self.complete("--log-format", "j"), ["json"])
        # --index=<TAB>: readline splits at "=".
        self.assertEqual(self.complete("migrate", "--index", "=", "h"), ["hnsw"])
        # A free value (a URL or a directory): nothing from us, readline completes file names.
        self.assertEqual(self.complete("migrate", "--from", ""), [])

    def test_nested_commands(self):
        help_run = subprocess.run([BIN, "backup", "--help"], capture_output=True, text=True)
        self.assertEqual(help_run.returncode, 0, help_run.stderr[-2000:])
        self.assertIn("Subcommands:", help_run.stdout, "`backup --help` lists no subcommands")
        self.assertEqual(self.complete("backup", "ver"), ["verify"])
        self.assertIn("--help", self.complete("backup", "verify", "--h"))


if __name__ == "__main__":
    unittest.main()
