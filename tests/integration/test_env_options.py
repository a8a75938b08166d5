"""Every option of every command has an environment variable CHROMA2PG_<NAME>, shown in --help;
the variables work; conflicting options are refused with a message naming both.

Needs only the binary (C2P_BIN): commands are discovered from --help, so new ones are covered.
"""
import json
import os
import re
import subprocess
import unittest

from support import BIN

EXEMPT = {"--help", "--version"}


def help_text(path):
    proc = subprocess.run([BIN, *path, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (path, proc.stderr)
    return proc.stdout


def sections(text):
    out, name = {}, None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Za-z][A-Za-z ]*:", line):
            name = line[:-1]
            out[name] = []
        elif name and line.strip():
            out[name].append(line)
        elif name and not line.strip():
            name = None
    return out


def all_commands(path=()):
    """Every command path, the root () included, depth first."""
    yield path
    for line in sections(help_text(path)).get("Subcommands", []):
        if re.match(r"  \S", line):
            yield from all_commands(path + (line.split()[0],))


def env_for(long_name):
    return "CHROMA2PG_" + long_name[2:].upper().replace("-", "_")


class EnvOptionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(BIN):
            raise RuntimeError("chroma2pg binary not found at %s (set C2P_BIN)" % BIN)
        cls.commands = list(all_commands())

    def test_every_option_has_its_env_var(self):
        self.assertIn(("migrate",), self.commands)
        missing, wrong, checked = [], [], 0
        for path in self.commands:
            for line in sections(help_text(path)).get("Options", []):
                if not line.startswith("  -"):
                    continue  # a wrapped description
                names = [n for n in line.split()[0].split(",") if n.startswith("--")]
                if not names or names[0] in EXEMPT:
                    continue
                checked += 1
                where = "chroma2pg %s %s" % (" ".join(path), names[0])
                m = re.search(r"\(Env:([A-Za-z0-9_]+)\)", line)
                if not m:
                    missing.append(where)
                elif m.group(1) != env_for(names[0]):
                    wrong.append("%s: %s, expected %s" % (where, m.group(1), env_for(names[0])))
        self.assertGreater(checked, 20)
        self.assertEqual(missing, [], "options without an environment variable (add ->envname(...))")
        self.assertEqual(wrong, [], "environment variables not named CHROMA2PG_<OPTION>")

    def test_env_vars_take_effect(self):
        # CHROMA2PG_CHROMA_WAIT too: a refused server is retried for 1 s rather than the default 60.
        env = dict(os.environ, CHROMA2PG_LOG_FORMAT="json", CHROMA2PG_FROM="http://127.0.0.1:9", CHROMA2PG_CHROMA_WAIT="1")
        proc = subprocess.run([BIN, "inspect"], capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(proc.returncode, 3, proc.stderr)  # nothing listens on port 9
        lines = [json.loads(l) for l in proc.stderr.splitlines() if l.strip()]
        self.assertTrue(lines)
        self.assertEqual(lines[-1]["level"], "error")
        self.assertIn("127.0.0.1:9", lines[-1]["message"])
        self.assertTrue(any("retrying" in l["message"] for l in lines), lines)
        # The flag wins over the variable.
        proc = subprocess.run([BIN, "--log-format", "text", "inspect"], capture_output=True, text=True,
                              env=env, timeout=120)
        self.assertEqual(proc.returncode, 3)
        self.assertRaises(ValueError, json.loads, proc.stderr.splitlines()[-1])

    def test_conflicting_options_name_both(self):
        cases = [(["--quiet", "--verbose", "inspect", "--from", "x"], {}),
                 (["inspect", "--from", "x", "-v", "-q"], {}),
                 (["--verbose", "inspect", "--from", "x"], {"CHROMA2PG_QUIET": "1"})]
        for args, extra in cases:
            proc = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60,
                                  env=dict(os.environ, **extra))
            self.assertEqual(proc.returncode, 2, (args, proc.stderr))
            self.assertIn("--quiet", proc.stderr)
            self.assertIn("--verbose", proc.stderr)
            self.assertEqual(proc.stdout, "")
        # With JSON logs the refusal is a JSON line too.
        proc = subprocess.run([BIN, "--log-format", "json", "-q", "-v", "inspect", "--from", "x"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 2)
        line = json.loads(proc.stderr.strip())
        self.assertEqual((line["level"], line["exit_code"]), ("error", 2))
        self.assertIn("--quiet", line["message"])
        self.assertIn("--verbose", line["message"])


if __name__ == "__main__":
    unittest.main()
