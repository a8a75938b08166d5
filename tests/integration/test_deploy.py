"""Checks of the deployment assets: deploy/docker-compose-pgvector.yml, deploy/.env.example,
Dockerfile, .dockerignore.

Environment: C2P_REPO (repository root; default two levels above this file).
Tools: docker-compose (Debian package docker-compose, v1.29) and python3-yaml to render and
read the compose file; a Dockerfile linter from npm (dockerfile-utils and/or dockerfilelint,
`npm install -g dockerfile-utils@0.16.3 dockerfilelint@1.8.0`) or hadolint. A missing tool
fails the checks that need it, with the reason. C2P_CHROMA_URL: a running Chroma server, for
Chroma's rendered health check.

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
SECRETS_OVERRIDE = os.path.join(REPO, "deploy", "docker-compose.secrets.yml")
ENTRYPOINT = os.path.join(REPO, "deploy", "docker-entrypoint.sh")
IMAGE_UID = "10001"
MIN_PGVECTOR = (0, 8, 3)  # 0.8.2: parallel HNSW build overflow; 0.8.3: HNSW vacuum corruption
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


def pgvector_version(image):
    """(major, minor, patch) of a pgvector/pgvector:<version>-pgNN tag."""
    m = re.fullmatch(r"pgvector/pgvector:(\d+)\.(\d+)\.(\d+)-pg\d+(-\w+)?", image)
    return tuple(int(x) for x in m.groups()[:3]) if m else None


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
        # The superuser password has no default: compose refuses to run without it (set but empty
        # is allowed: docker-compose.secrets.yml then supplies it from a file).
        self.assertRegex(self.text, r"POSTGRES_PASSWORD: \$\{POSTGRES_PASSWORD\?")
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

    def test_pgvector_at_least_0_8_3(self):
        defaults = {re.fullmatch(r"\$\{PGVECTOR_IMAGE:-([^}]+)\}", svc["image"]).group(1)
                    for name, svc in self.raw["services"].items() if name in ("postgres", "postgres-dev")}
        example = re.search(r"^PGVECTOR_IMAGE=(.*)$", read(ENV_EXAMPLE), re.M).group(1)
        for image in defaults | {example}:
            v = pgvector_version(image)
            self.assertIsNotNone(v, "%s: not pinned to a pgvector release" % image)
            self.assertGreaterEqual(v, MIN_PGVECTOR, image)
        for doc in ("README.md", "deploy/README.md", "docs/runbook.md"):
            self.assertRegex(read(os.path.join(REPO, doc)), r"pgvector (≥|>=) ?0\.8\.3|pgvector 0\.8\.3 or newer",
                             "%s does not name the minimum pgvector version" % doc)

    def test_env_example_documents_every_variable(self):
        example = read(ENV_EXAMPLE)
        # set, or shown commented out (the per-profile memory settings: set, they would apply to both)
        defined = set(re.findall(r"^#?([A-Z_][A-Z0-9_]*)=", example, re.M))
        missing = (env_refs(self.text) | env_refs(read(SECRETS_OVERRIDE))) - defined
        self.assertEqual(missing, set(), "variables used by the compose files but not in .env.example")
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
    def run_compose(cls, env_file, extra_env, *args, check=True, files=(COMPOSE,)):
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("POSTGRES_") or k.startswith("COMPOSE_")
                       or k.startswith("CHROMA") or k.startswith("PG"))}
        env.update(extra_env)
        proc = subprocess.run(
            cls.compose + ["--env-file", env_file] + [a for f in files for a in ("-f", f)] + list(args),
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
            self.assertEqual(set(enabled), {"chroma", "prepare-dirs", pg, mig}, profile)
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
            self.assertEqual(svc["depends_on"]["chroma"]["condition"], "service_healthy", profile)
            self.assertEqual(svc["depends_on"]["prepare-dirs"]["condition"], "service_completed_successfully",
                             profile)
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

    def test_env_example_renders_each_profile_with_its_own_memory(self):
        """deploy/.env.example copied as is: prod gets prod's memory settings, dev dev's."""
        want = {"prod": ("2GB", "2GB", "4gb"), "dev": ("256MB", "512MB", "1gb")}
        for profile, (pg, _) in PROFILES.items():
            proc = self.run_compose(ENV_EXAMPLE, {"COMPOSE_PROFILES": profile}, "config")
            svc = yaml.safe_load(proc.stdout)["services"][pg]
            opts = dict(svc["command"][i + 1].split("=", 1) for i, a in enumerate(svc["command"]) if a == "-c")
            shared, maint, shm = want[profile]
            self.assertEqual(opts["shared_buffers"], shared, profile)
            self.assertEqual(opts["maintenance_work_mem"], maint, profile)
            self.assertIn(str(svc["shm_size"]).lower(), (shm, str(int(shm[:-2]) << 30)), profile)

    def test_chroma_health_check_asks_a_real_chroma(self):
        """The rendered check, run here against the test Chroma server (its port for 8000): healthy;
        against a closed port: not."""
        test = self.config("prod")["services"]["chroma"]["healthcheck"]["test"]
        self.assertEqual(test[0], "CMD")
        self.assertIn("heartbeat", " ".join(test))
        url = os.environ.get("C2P_CHROMA_URL", "")
        self.assertTrue(url, "C2P_CHROMA_URL is not set: no Chroma server to check against")
        port = url.rstrip("/").rsplit(":", 1)[1]

        def run_check(p):
            # compose passes $$ through `config` unchanged; the engine turns it into $
            argv = [a.replace("$$", "$").replace("8000", p) for a in test[1:]]
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).returncode

        self.assertEqual(run_check(port), 0)
        self.assertNotEqual(run_check("1"), 0)

    def test_backup_and_report_dirs_made_writable_for_the_image_user(self):
        dockerfile = read(DOCKERFILE)
        self.assertRegex(dockerfile, r"useradd[^\n]*--uid %s\b" % IMAGE_UID)
        self.assertRegex(dockerfile, r"groupadd[^\n]*--gid %s\b" % IMAGE_UID)
        for profile, (_, mig) in PROFILES.items():
            svcs = self.config(profile)["services"]
            prep = svcs["prepare-dirs"]
            self.assertEqual(str(prep["user"]).split(":")[0], "0")
            self.assertEqual(prep["entrypoint"], ["chown", "%s:%s" % (IMAGE_UID, IMAGE_UID), "/backups", "/reports"])
            self.assertEqual(prep["image"], svcs[mig]["image"])

            def mounts(svc):
                return {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
            for target in ("/backups", "/reports"):
                self.assertEqual(mounts(prep)[target], mounts(svcs[mig])[target], "%s %s" % (profile, target))

    def test_password_from_a_secret_file(self):
        env_file = os.path.join(self.tmp, "secret.env")
        with open(env_file, "w") as f:
            f.write("POSTGRES_PASSWORD=\nPOSTGRES_PASSWORD_SECRET_FILE=/run/test/pw\n")
        for profile, (pg, mig) in PROFILES.items():
            proc = self.run_compose(env_file, {"COMPOSE_PROFILES": profile}, "config",
                                    files=(COMPOSE, SECRETS_OVERRIDE))
            cfg = yaml.safe_load(proc.stdout)
            self.assertEqual(cfg["secrets"]["postgres_password"]["file"], "/run/test/pw")
            for name, var in ((pg, "POSTGRES_PASSWORD"), (mig, "PGPASSWORD")):
                svc = cfg["services"][name]
                self.assertEqual(svc["environment"][var + "_FILE"], "/run/secrets/postgres_password", name)
                self.assertEqual(svc["environment"][var], "", name)
                self.assertEqual([s["source"] if isinstance(s, dict) else s for s in svc["secrets"]],
                                 ["postgres_password"], name)
        # the override without the file's path refuses to render
        proc = self.run_compose(self.env_file, {"COMPOSE_PROFILES": "prod"}, "config", check=False,
                                files=(COMPOSE, SECRETS_OVERRIDE))
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("POSTGRES_PASSWORD_SECRET_FILE", proc.stderr)

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
        self.assertEqual(json.loads(entry[-1].split(None, 1)[1]), ["chroma2pg-entrypoint"])
        self.assertIn("COPY deploy/docker-entrypoint.sh /usr/local/bin/chroma2pg-entrypoint", runtime)
        self.assertTrue(os.access(ENTRYPOINT, os.X_OK), "deploy/docker-entrypoint.sh is not executable")
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
        self.assertTrue(linters, "no Dockerfile linter found: npm install -g dockerfile-utils@0.16.3 "
                        "dockerfilelint@1.8.0 (or install hadolint)")
        for cmd in linters:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            self.assertEqual(proc.returncode, 0, "%s:\n%s%s" % (cmd[0], proc.stdout, proc.stderr))

    def test_linter_catches_a_broken_dockerfile(self):
        """The linters in use do report errors (so a pass above means something)."""
        linters = [c for c in (["dockerfile-utils", "lint"], ["dockerfilelint"], ["hadolint"])
                   if shutil.which(c[0])]
        self.assertTrue(linters, "no Dockerfile linter found")
        with tempfile.NamedTemporaryFile("w", suffix=".Dockerfile", delete=False) as f:
            f.write("FROM debian:12\nRUN apt-get install curl\nCOPY onlyone\nEXPOSE notaport\n")
        try:
            for cmd in linters:
                proc = subprocess.run(cmd + [f.name], capture_output=True, text=True, timeout=120)
                self.assertNotEqual(proc.returncode, 0, cmd[0])
        finally:
            os.unlink(f.name)


class EntrypointTest(unittest.TestCase):
    """deploy/docker-entrypoint.sh, run under /bin/sh with a stub chroma2pg that prints what it got."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="c2p-entry-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        stub = os.path.join(self.tmp, "chroma2pg")
        with open(stub, "w") as f:
            f.write('#!/bin/sh\nprintf "%s\\n" "PGPASSWORD=${PGPASSWORD-unset}" "CHROMA2PG_TOKEN=${CHROMA2PG_TOKEN-unset}" '
                    '"PGPASSWORD_FILE=${PGPASSWORD_FILE-unset}" "ARGS=$*"\n')
        os.chmod(stub, 0o755)
        self.secret = os.path.join(self.tmp, "pw")
        with open(self.secret, "w") as f:
            f.write("s3cret with space\n")

    def run_entry(self, **env):
        e = {"PATH": self.tmp + ":/usr/bin:/bin"}
        e.update(env)
        return subprocess.run(["/bin/sh", ENTRYPOINT, "migrate", "--jobs", "2"], capture_output=True, text=True,
                              env=e, timeout=30)

    def test_reads_file_variables(self):
        p = self.run_entry(PGPASSWORD_FILE=self.secret, CHROMA2PG_TOKEN_FILE=self.secret)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines(), ["PGPASSWORD=s3cret with space", "CHROMA2PG_TOKEN=s3cret with space",
                                                 "PGPASSWORD_FILE=unset", "ARGS=migrate --jobs 2"])

    def test_plain_variables_pass_through(self):
        p = self.run_entry(PGPASSWORD="direct", PGPASSWORD_FILE="")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("PGPASSWORD=direct", p.stdout.splitlines())

    def test_both_set_is_refused(self):
        p = self.run_entry(PGPASSWORD="direct", PGPASSWORD_FILE=self.secret)
        self.assertEqual(p.returncode, 2)
        self.assertIn("both PGPASSWORD and PGPASSWORD_FILE", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_missing_file_is_refused(self):
        p = self.run_entry(PGPASSWORD_FILE=os.path.join(self.tmp, "nope"))
        self.assertEqual(p.returncode, 3)
        self.assertIn("PGPASSWORD_FILE=", p.stderr)
        self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    unittest.main()
