"""Checks of the deployment assets: deploy/docker-compose-pgvector.yml, deploy/.env.example,
Dockerfile, .dockerignore.

Environment: C2P_REPO (repository root; default two levels above this file).
Tools: docker-compose (Debian package docker-compose, v1.29) and python3-yaml to render and
read the compose file; a Dockerfile linter from npm (dockerfile-utils and/or dockerfilelint,
`npm install -g dockerfile-utils@0.16.3 dockerfilelint@1.8.0`) or hadolint. A missing tool
fails the checks that need it, with the reason (scripts/setup.sh installs them all).

Run: python3 -m unittest -v tests/integration/test_deploy.py
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

try:
    import yaml  # noqa: F401
except ImportError:
    # Debian's python3-yaml, for a python3 from pyenv/venv of the same minor version.
    if os.path.isdir("/usr/lib/python3/dist-packages"):
        sys.path.append("/usr/lib/python3/dist-packages")
try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

REPO = os.environ.get("C2P_REPO") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
COMPOSE = os.path.join(REPO, "deploy", "docker-compose-pgvector.yml")
ENV_EXAMPLE = os.path.join(REPO, "deploy", ".env.example")
DOCKERFILE = os.path.join(REPO, "Dockerfile")
DOCKERIGNORE = os.path.join(REPO, ".dockerignore")
INIT_SQL_TARGET = "/docker-entrypoint-initdb.d/"

PROFILES = {
    # profile: (postgres service, migrate service)
    "dev": ("postgres-dev", "migrate-dev"),
    "prod": ("postgres", "migrate"),
}
TEST_PASSWORD = "dummy-Pw-4-tests"


def compose_cmd():
    exe = shutil.which("docker-compose")
    if exe:
        return [exe]
    return None


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def env_refs(text):
    """Names of the ${VAR...} references in a compose file (not $${...} escapes)."""
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


class ComposeFileTest(unittest.TestCase):
    """Static checks on the compose file as written (no interpolation)."""

    @classmethod
    def setUpClass(cls):
        cls.text = read(COMPOSE)
        if yaml is None:
            raise RuntimeError("python3-yaml is not installed (apt-get install python3-yaml)")
        cls.raw = yaml.safe_load(cls.text)

    def test_no_literal_secret(self):
        # Every password/secret/token value is an interpolation, never a literal.
        services = self.raw["services"]
        found = 0
        for name, svc in services.items():
            env = svc.get("environment") or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
            for key, value in env.items():
                if re.search(r"PASSWORD|SECRET|TOKEN|API_KEY", key):
                    found += 1
                    self.assertRegex(str(value), r"^\$\{[A-Z_]+(:?[-?][^}]*)?\}$",
                                     "%s.%s is not taken from the environment" % (name, key))
        self.assertGreater(found, 0)
        # The superuser password has no default: compose refuses to run without it.
        self.assertRegex(self.text, r"POSTGRES_PASSWORD: \$\{POSTGRES_PASSWORD:\?")
        self.assertNotIn(TEST_PASSWORD, self.text)
        self.assertNotRegex(self.text, r"postgres(ql)?://[^/\s:@]+:[^@\s]+@",
                            "a URL with a password in the compose file")

    def test_image_tags_pinned(self):
        for name, svc in self.raw["services"].items():
            image = svc.get("image")
            if not image:
                continue
            m = re.fullmatch(r"\$\{[A-Z0-9_]+:-([^}]+)\}", image)
            default = m.group(1) if m else image
            self.assertIn(":", default, "%s: image without a tag" % name)
            self.assertNotRegex(default, r":latest$", "%s: image :latest" % name)
        pg_images = {svc["image"] for name, svc in self.raw["services"].items()
                     if name in ("postgres", "postgres-dev")}
        self.assertTrue(all("pgvector/pgvector:" in i for i in pg_images), pg_images)

    def test_env_example_documents_every_variable(self):
        example = read(ENV_EXAMPLE)
        defined = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.M))
        missing = env_refs(self.text) - defined
        self.assertEqual(missing, set(), "variables used by the compose file but not in .env.example")
        for var in ("POSTGRES_SHARED_BUFFERS", "POSTGRES_EFFECTIVE_CACHE_SIZE",
                    "POSTGRES_WORK_MEM", "POSTGRES_MAINTENANCE_WORK_MEM", "POSTGRES_PASSWORD"):
            self.assertIn(var, defined)
        password = re.search(r"^POSTGRES_PASSWORD=(.*)$", example, re.M).group(1)
        self.assertRegex(password, r"(?i)change", "the example password must be a placeholder")


class RenderedComposeTest(unittest.TestCase):
    """`docker-compose config` renders the file; checks read the rendered configuration."""

    @classmethod
    def setUpClass(cls):
        cls.compose = compose_cmd()
        if cls.compose is None:
            raise RuntimeError("docker-compose not found (apt-get install docker-compose)")
        if yaml is None:
            raise RuntimeError("python3-yaml is not installed (apt-get install python3-yaml)")
        cls.tmp = tempfile.mkdtemp(prefix="c2p-compose-")
        # A private env file: a developer's deploy/.env must not leak into the test.
        cls.env_file = os.path.join(cls.tmp, "test.env")
        with open(cls.env_file, "w") as f:
            f.write("POSTGRES_PASSWORD=%s\n" % TEST_PASSWORD)
        cls.empty_env = os.path.join(cls.tmp, "empty.env")
        open(cls.empty_env, "w").close()
        cls.rendered = {}
        for profile in PROFILES:
            out = cls.run_compose(cls.env_file, {"COMPOSE_PROFILES": profile}, "config")
            cls.rendered[profile] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def run_compose(cls, env_file, extra_env, *args, check=True):
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("POSTGRES_") or k.startswith("COMPOSE_")
                       or k.startswith("CHROMA") or k.startswith("PG"))}
        env.update(extra_env)
        proc = subprocess.run(
            cls.compose + ["--env-file", env_file, "-f", COMPOSE, *args],
            capture_output=True, text=True, env=env, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError("docker-compose %s failed (%d):\n%s"
                                 % (" ".join(args), proc.returncode, proc.stderr))
        return proc

    def config(self, profile):
        return yaml.safe_load(self.rendered[profile].stdout)

    def services_of(self, profile):
        """Services enabled when `profile` is active (compose's own rule)."""
        cfg = self.config(profile)
        return {name: svc for name, svc in cfg["services"].items()
                if not svc.get("profiles") or profile in svc["profiles"]}

    def test_renders_in_both_profiles(self):
        for profile, (pg, mig) in PROFILES.items():
            out = self.rendered[profile]
            self.assertEqual(out.returncode, 0, out.stderr)
            enabled = self.services_of(profile)
            self.assertEqual(set(enabled), {"chroma", pg, mig}, profile)
            # Every dependency of an enabled service is enabled too (else `up` refuses).
            for name, svc in enabled.items():
                for dep in (svc.get("depends_on") or {}):
                    self.assertIn(dep, enabled, "%s -> %s in profile %s" % (name, dep, profile))

    def test_password_required(self):
        proc = self.run_compose(self.empty_env, {}, "config", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("POSTGRES_PASSWORD", proc.stderr)

    def test_password_comes_from_env(self):
        for profile, (pg, mig) in PROFILES.items():
            svcs = self.config(profile)["services"]
            self.assertEqual(svcs[pg]["environment"]["POSTGRES_PASSWORD"], TEST_PASSWORD)
            self.assertEqual(svcs[mig]["environment"]["PGPASSWORD"], TEST_PASSWORD)
            # Not on the command line, where `ps` would show it.
            self.assertNotIn(TEST_PASSWORD, json.dumps(svcs[mig].get("command")))
            self.assertNotIn(TEST_PASSWORD, json.dumps(svcs[pg].get("command")))

    def test_healthcheck_uses_tcp(self):
        for profile, (pg, _) in PROFILES.items():
            hc = self.config(profile)["services"][pg]["healthcheck"]
            test = hc["test"] if isinstance(hc["test"], str) else " ".join(hc["test"])
            self.assertIn("pg_isready", test, profile)
            self.assertRegex(test, r"-h\s+(127\.0\.0\.1|localhost)\b", profile)
            self.assertRegex(test, r"-U\s", profile)
            self.assertIn("start_period", hc)

    def test_init_sql_mounted(self):
        for profile, (pg, _) in PROFILES.items():
            vols = self.config(profile)["services"][pg]["volumes"]
            mounts = [v.split(":") if isinstance(v, str) else [v.get("source"), v.get("target")]
                      for v in vols]
            init = [m for m in mounts if len(m) > 1 and m[1].startswith(INIT_SQL_TARGET)]
            self.assertEqual(len(init), 1, "%s: %r" % (profile, vols))
            src = init[0][0]
            self.assertTrue(os.path.samefile(src, os.path.join(REPO, "sql", "init-pgvector.sql")),
                            src)
            self.assertTrue(init[0][1].endswith(".sql"))
            self.assertTrue(any(m[1] == "/var/lib/postgresql/data" for m in mounts if len(m) > 1),
                            "%s: no persistent data volume" % profile)

    def test_migrate_waits_for_healthy_postgres(self):
        for profile, (pg, mig) in PROFILES.items():
            svc = self.config(profile)["services"][mig]
            self.assertEqual(svc["depends_on"][pg]["condition"], "service_healthy", profile)
            self.assertIn("chroma", svc["depends_on"])
            self.assertEqual(os.path.realpath(svc["build"]["context"]), os.path.realpath(REPO))
            self.assertEqual(svc["build"].get("dockerfile", "Dockerfile"), "Dockerfile")
            cmd = svc["command"]
            self.assertEqual(cmd[0], "migrate")
            self.assertEqual(cmd[cmd.index("--from") + 1], "http://chroma:8000")
            self.assertTrue(cmd[cmd.index("--to") + 1].startswith("postgresql://postgres:5432/"))
            # The postgres service answers to "postgres" in both profiles.
            pg_svc = self.config(profile)["services"][pg]
            aliases = (pg_svc.get("networks") or {}).get("default", {}) or {}
            self.assertTrue(pg == "postgres" or "postgres" in (aliases.get("aliases") or []),
                            profile)

    def test_server_settings_and_shm(self):
        units = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "k": 1 << 10, "m": 1 << 20,
                 "g": 1 << 30, "b": 1}

        def size(s):
            m = re.fullmatch(r"(\d+)\s*([kmg]?b?)", str(s).strip().lower())
            self.assertIsNotNone(m, s)
            return int(m.group(1)) * units.get(m.group(2) or "b", 1)

        for profile, (pg, _) in PROFILES.items():
            svc = self.config(profile)["services"][pg]
            cmd = svc["command"]
            self.assertEqual(cmd[0], "postgres")
            opts = dict(cmd[i + 1].split("=", 1) for i, a in enumerate(cmd) if a == "-c")
            for key in ("shared_buffers", "effective_cache_size", "work_mem",
                        "maintenance_work_mem", "max_parallel_maintenance_workers",
                        "random_page_cost"):
                self.assertIn(key, opts, profile)
            self.assertIn("shm_size", svc, profile)
            self.assertGreaterEqual(size(svc["shm_size"]), size(opts["maintenance_work_mem"]),
                                    "%s: shm_size below maintenance_work_mem" % profile)

    def test_settings_follow_environment(self):
        proc = self.run_compose(self.env_file, {
            "COMPOSE_PROFILES": "prod", "POSTGRES_SHARED_BUFFERS": "3GB",
            "POSTGRES_MAINTENANCE_WORK_MEM": "1GB", "POSTGRES_SHM_SIZE": "2gb"}, "config")
        svc = yaml.safe_load(proc.stdout)["services"]["postgres"]
        self.assertIn("shared_buffers=3GB", svc["command"])
        self.assertIn("maintenance_work_mem=1GB", svc["command"])
        self.assertIn(str(svc["shm_size"]).lower(), ("2gb", str(2 << 30)))

    def test_profiles_differ_where_they_should(self):
        dev = self.config("dev")["services"]["postgres-dev"]
        prod = self.config("prod")["services"]["postgres"]
        # dev: reachable from the host (loopback only); prod: not published, limited, logs rotated.
        self.assertTrue(dev.get("ports"))
        for p in dev["ports"]:
            host_ip = p.get("host_ip") if isinstance(p, dict) else str(p).split(":")[0]
            self.assertEqual(host_ip, "127.0.0.1")
        self.assertFalse(prod.get("ports"))
        self.assertTrue(prod.get("mem_limit"))
        self.assertTrue(prod.get("cpus"))
        self.assertEqual(prod["logging"]["driver"], "json-file")
        self.assertIn("max-size", prod["logging"]["options"])
        self.assertEqual(prod["restart"], "unless-stopped")


class DockerfileTest(unittest.TestCase):
    """The Dockerfile cannot be built here (no Docker engine): it is linted and checked."""

    @classmethod
    def setUpClass(cls):
        cls.text = read(DOCKERFILE)
        # Join continuation lines, drop comments.
        joined = re.sub(r"\\\n", " ", "\n".join(
            l for l in cls.text.splitlines() if not l.lstrip().startswith("#")))
        cls.instructions = [l.strip() for l in joined.splitlines() if l.strip()]
        cls.stages = []
        for ins in cls.instructions:
            if ins.upper().startswith("FROM "):
                cls.stages.append([ins])
            elif cls.stages:
                cls.stages[-1].append(ins)

    def apt_packages(self, stage):
        pkgs = []
        for ins in stage:
            m = re.search(r"apt-get install ([^&]*)", ins)
            if m:
                pkgs += [w for w in m.group(1).split() if not w.startswith("-")]
        return pkgs

    def test_multi_stage_on_debian_12(self):
        self.assertGreaterEqual(len(self.stages), 2)
        for stage in self.stages:
            self.assertRegex(stage[0], r"^FROM debian:(12|bookworm)(-slim)?\b")
        runtime = self.stages[-1]
        self.assertTrue(any(re.match(r"COPY --from=\w+ /opt/chroma2pg", i) for i in runtime))
        build = " ".join(self.stages[0])
        self.assertIn("-DCMAKE_BUILD_TYPE=Release", build)
        self.assertIn("cmake --install build --prefix /opt/chroma2pg", build)

    def test_runtime_is_small_and_unprivileged(self):
        runtime = self.stages[-1]
        pkgs = self.apt_packages(runtime)
        self.assertTrue(pkgs)
        self.assertEqual([p for p in pkgs if p.endswith("-dev") or p in ("g++", "cmake", "make")],
                         [], "build tools in the runtime image")
        users = [i.split(None, 1)[1] for i in runtime if i.upper().startswith("USER ")]
        self.assertTrue(users, "no USER in the runtime stage")
        self.assertNotRegex(users[-1], r"^(root|0)(:|$)")
        entry = [i for i in runtime if i.upper().startswith("ENTRYPOINT ")]
        self.assertEqual(json.loads(entry[-1].split(None, 1)[1]), ["chroma2pg"])
        self.assertTrue(all("--no-install-recommends" in i for i in runtime if "apt-get install" in i))

    def test_runtime_libraries_match_build_packages(self):
        """Each -dev package the builder links against has its runtime library installed."""
        build = set(self.apt_packages(self.stages[0]))
        runtime = set(self.apt_packages(self.stages[-1]))
        pairs = {"libpq-dev": "libpq5", "libsqlite3-dev": "libsqlite3-0",
                 "libcurl4-openssl-dev": "libcurl4", "libsimdjson-dev": "libsimdjson14",
                 "libfmt-dev": "libfmt9", "libspdlog-dev": "libspdlog1.10",
                 "libzstd-dev": "libzstd1", "libssl-dev": "libssl3", "libxxhash-dev": "libxxhash0"}
        for dev, lib in pairs.items():
            if dev in build:
                self.assertIn(lib, runtime, "%s built against, %s missing at run time" % (dev, lib))
        # When apt knows bookworm's packages here, the names must exist.
        apt_cache = shutil.which("apt-cache")
        if apt_cache and subprocess.run([apt_cache, "show", "libpq5"], capture_output=True).returncode == 0:
            wanted = sorted(build | runtime)
            proc = subprocess.run([apt_cache, "show", "--no-all-versions", *wanted],
                                  capture_output=True, text=True)
            known = set(re.findall(r"^Package: (\S+)$", proc.stdout, re.M))
            self.assertEqual(sorted(set(wanted) - known), [], "packages apt does not know")

    def test_build_packages_cover_cmake_dependencies(self):
        cmake = os.path.join(REPO, "CMakeLists.txt")
        if not os.path.exists(cmake):
            self.fail("no CMakeLists.txt yet")
        text = read(cmake)
        # Dependencies of the tool itself: ignore the test-only block.
        text = re.split(r"if\s*\(\s*CHROMA2PG_BUILD_TESTS\s*\)", text)[0]
        needed = set(re.findall(r"find_package\(\s*(\w+)", text))
        needed |= {"pkg:" + m for m in re.findall(
            r"pkg_check_modules\([^)]*?\b(lib\w+)", text)}
        provides = {"PkgConfig": "pkg-config", "PostgreSQL": "libpq-dev",
                    "SQLite3": "libsqlite3-dev", "CURL": "libcurl4-openssl-dev",
                    "OpenSSL": "libssl-dev", "simdjson": "libsimdjson-dev",
                    "nlohmann_json": "nlohmann-json3-dev", "CLI11": "libcli11-dev",
                    "fmt": "libfmt-dev", "spdlog": "libspdlog-dev", "Threads": None,
                    "pkg:libzstd": "libzstd-dev", "pkg:libxxhash": "libxxhash-dev"}
        build = set(self.apt_packages(self.stages[0]))
        for dep in sorted(needed):
            self.assertIn(dep, provides, "CMakeLists.txt needs %s: add its Debian package to "
                          "the Dockerfile (and to this test's map)" % dep)
            if provides[dep]:
                self.assertIn(provides[dep], build, "%s needs %s in the builder" % (dep, provides[dep]))
        self.assertRegex(read(cmake), r"install\(\s*TARGETS\s+chroma2pg\b")

    def test_dockerignore_keeps_secrets_and_junk_out(self):
        lines = {l.strip() for l in read(DOCKERIGNORE).splitlines()
                 if l.strip() and not l.startswith("#")}
        for pattern in (".git", "**/.env", "build/"):
            self.assertIn(pattern, lines)
        for needed in ("src", "src/", "CMakeLists.txt", "sql", "sql/", "*"):
            self.assertNotIn(needed, lines, "the build needs %s" % needed)

    def test_lint(self):
        linters = []
        if shutil.which("hadolint"):
            linters.append(["hadolint", DOCKERFILE])
        if shutil.which("dockerfile-utils"):
            linters.append(["dockerfile-utils", "lint", DOCKERFILE])
        if shutil.which("dockerfilelint"):
            linters.append(["dockerfilelint", DOCKERFILE])
        if not linters:
            self.fail("no Dockerfile linter found: npm install -g dockerfile-utils@0.16.3 "
                      "dockerfilelint@1.8.0 (or install hadolint)")
        for cmd in linters:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            self.assertEqual(proc.returncode, 0, "%s:\n%s%s" % (cmd[0], proc.stdout, proc.stderr))

    def test_linter_catches_a_broken_dockerfile(self):
        """The linters in use do report errors (so a pass above means something)."""
        linters = [c for c in (["dockerfile-utils", "lint"], ["dockerfilelint"], ["hadolint"])
                   if shutil.which(c[0])]
        if not linters:
            self.fail("no Dockerfile linter found")
        with tempfile.NamedTemporaryFile("w", suffix=".Dockerfile", delete=False) as f:
            f.write("FROM debian:12\nRUN apt-get install curl\nCOPY onlyone\nEXPOSE notaport\n")
        try:
            for cmd in linters:
                proc = subprocess.run(cmd + [f.name], capture_output=True, text=True, timeout=120)
                self.assertNotEqual(proc.returncode, 0, cmd[0])
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()
