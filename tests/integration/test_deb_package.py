"""The Debian package: builds with CPack, declares its dependencies, installs with apt, runs, removes.

Builds a Release binary in <repo>/build-deb (never the ASan binary under test: a sanitizer build
must not be packaged); a first build takes a few minutes on 2 cores, later runs are incremental.
Installing needs root (a throw-away test machine): without it, the install checks are skipped.
Environment: C2P_CHROMA_URL (the installed binary inspects it), C2P_REPO.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import uuid

from support import CHROMA_URL, REPO, Chroma

BUILD = os.path.join(REPO, "build-deb")


def run(cmd, timeout=1800, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if proc.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(cmd), proc.returncode,
                                                        proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc.stdout


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(chroma2pg VERSION ([0-9.]+)", f.read()).group(1)


def installed():
    return subprocess.run(["dpkg-query", "-W", "-f=${Status}", "chroma2pg"], capture_output=True,
                          text=True).stdout.startswith("install ok installed")


class DebPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("cmake", "cpack", "dpkg-deb", "dpkg-shlibdeps"):
            if not shutil.which(tool):
                raise RuntimeError("%s is missing (apt-get install cmake dpkg-dev)" % tool)
        run(["cmake", "-S", REPO, "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release", "-DCHROMA2PG_BUILD_TESTS=OFF", "-DCHROMA2PG_BUILD_BENCH=OFF",
             "-DCHROMA2PG_SANITIZE=OFF"])
        run(["cmake", "--build", BUILD, "--target", "chroma2pg", "-j", str(min(os.cpu_count() or 1, 2))])
        for old in glob.glob(os.path.join(BUILD, "chroma2pg_*.deb")):
            os.unlink(old)
        run(["cpack", "-G", "DEB"], cwd=BUILD)
        debs = glob.glob(os.path.join(BUILD, "chroma2pg_*.deb"))
        if len(debs) != 1:
            raise AssertionError("expected one chroma2pg_*.deb in %s, found %s" % (BUILD, debs))
        cls.deb = debs[0]

    def field(self, name):
        return run(["dpkg-deb", "-f", self.deb, name]).strip()

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "chroma2pg")
        self.assertEqual(self.field("Version"), project_version())
        self.assertIn(os.path.basename(self.deb), ("chroma2pg_%s_%s.deb" % (project_version(), self.field("Architecture")),))
        self.assertRegex(self.field("Maintainer"), r".+<[^@>]+@[^>]+>")
        self.assertIn("pgvector", self.field("Description"))
        # dpkg-shlibdeps found every shared library the binary links: PostgreSQL, curl, SQLite…
        depends = [d.split()[0] for d in self.field("Depends").split(", ")]
        for lib in ("libc6", "libstdc++6", "libpq5", "libcurl4", "libsqlite3-0", "libssl3", "libzstd1",
                    "libxxhash0", "libsimdjson14", "libfmt9"):
            self.assertIn(lib, depends, "Depends: %s" % self.field("Depends"))
        self.assertFalse([d for d in depends if "asan" in d or "ubsan" in d], depends)

    def test_contents_match_cmake_install(self):
        listing = run(["dpkg-deb", "-c", self.deb])
        files = {l.split()[-1].lstrip(".") for l in listing.splitlines() if not l.startswith("d")}
        for f in ("/usr/bin/chroma2pg", "/usr/share/chroma2pg/sql/init-pgvector.sql",
                  "/usr/share/doc/chroma2pg/runbook.md", "/usr/share/doc/chroma2pg/reference/README.md",
                  "/usr/share/doc/chroma2pg/reference/migrate.md",
                  "/usr/share/bash-completion/completions/chroma2pg"):
            self.assertIn(f, files)
        # `cmake --install` lays out exactly the same files under its prefix.
        with tempfile.TemporaryDirectory(prefix="c2p-install-") as prefix:
            run(["cmake", "--install", BUILD, "--prefix", prefix + "/usr"])
            tree = set()
            for root, _, names in os.walk(prefix):
                tree |= {os.path.join(root, n)[len(prefix):] for n in names}
            self.assertEqual(tree, files)

    def test_install_run_remove(self):
        if os.geteuid() != 0:
            self.fail("installing a package needs root")
        if not CHROMA_URL:
            raise RuntimeError("C2P_CHROMA_URL is not set (run scripts/test.sh)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if installed():
            run(["apt-get", "remove", "-y", "chroma2pg"], env=env)
        deb_dir, deb_name = os.path.split(self.deb)
        run(["apt-get", "install", "-y", "./" + deb_name], cwd=deb_dir, env=env)
        try:
            self.assertTrue(installed())
            out = run(["/usr/bin/chroma2pg", "--version"])
            rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                 text=True).stdout.strip() or "unknown"
            self.assertEqual(out.strip(), "chroma2pg %s (git %s)" % (project_version(), rev))

            chroma = Chroma(CHROMA_URL)
            name = "deb_" + uuid.uuid4().hex[:10]
            cid = chroma.create_collection(name, {"origin": "deb-test"}, space="cosine")["id"]
            self.addCleanup(chroma.delete_collection, name)
            chroma.add(cid, ["a", "b", "c"], [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]],
                       ["doc a", None, "doc c"], [{"k": 1}, None, {"k": "x"}], None)
            # Run from / with no project files around: everything comes from the package.
            out = run(["/usr/bin/chroma2pg", "inspect", "--from", CHROMA_URL, "--collections", name, "--json"],
                      cwd="/", env={"PATH": "/usr/bin:/bin"})
            cols = json.loads(out)["collections"]
            self.assertEqual([(c["name"], c["records"], c["dimension"], c["space"]) for c in cols],
                             [(name, 3, 3, "cosine")])
            # The installed completion file is found by name, as bash-completion loads it.
            proc = subprocess.run(["bash", "--norc", "-c", 'source /usr/share/bash-completion/completions/chroma2pg; '
                                   'COMP_WORDS=(chroma2pg mi); COMP_CWORD=1; _chroma2pg; echo "${COMPREPLY[*]}"'],
                                  capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
            self.assertEqual(proc.stdout.strip(), "migrate", proc.stderr)
            self.assertTrue(os.path.exists("/usr/share/chroma2pg/sql/init-pgvector.sql"))
        finally:
            run(["apt-get", "remove", "-y", "chroma2pg"], env=env)
        self.assertFalse(installed())
        self.assertFalse(os.path.exists("/usr/bin/chroma2pg"))


if __name__ == "__main__":
    unittest.main()
