# shellcheck shell=bash
# Shared helpers for chroma2pg scripts. Source it; do not execute it.
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Repository root = parent of the directory holding this file.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export REPO_ROOT
TOOLS_DIR="${CHROMA2PG_TOOLS_DIR:-$REPO_ROOT/.tools}"
export TOOLS_DIR

PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
export PG_BINDIR

# Compiles go through ccache once setup.sh has installed it, so the next build of the same sources
# (the next test run, the package test's Release build, a clean clone) is quick. Paths are hashed
# relative to the repository, so every clone shares the cache. CMake reads these on a first configure.
if command -v ccache >/dev/null 2>&1 && [[ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ]]; then
  export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR="$REPO_ROOT" CCACHE_NOHASHDIR=1
fi

_script_name() { basename "${0:-chroma2pg}"; }

# log MSG... : progress message on stderr (keeps stdout clean for values).
log() { printf '[%s] %s\n' "$(_script_name)" "$*" >&2; }

# vlog MSG... : only when VERBOSE=1.
vlog() { if [[ "${VERBOSE:-0}" == 1 ]]; then log "$@"; fi; }

# die MSG... : error message on stderr and exit 1.
die() { printf '[%s] ERROR: %s\n' "$(_script_name)" "$*" >&2; exit 1; }

# need_cmd CMD... : die unless every command exists.
need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "required command not found: $c (run scripts/setup.sh --no-build)"
  done
}

# run_quiet DESC CMD... : run CMD with output captured; on failure show the tail and die.
run_quiet() {
  local desc="$1"; shift
  local out
  out="$(mktemp "${TMPDIR:-/tmp}/chroma2pg-run.XXXXXX")"
  if ! "$@" >"$out" 2>&1; then
    printf '[%s] ERROR: %s failed: %s\n--- last 40 lines of output ---\n' "$(_script_name)" "$desc" "$*" >&2
    tail -n 40 "$out" >&2
    rm -f "$out"
    exit 1
  fi
  rm -f "$out"
}

# free_port : print a TCP port on 127.0.0.1 that is free right now.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
    return
  fi
  local p _
  for _ in $(seq 1 200); do
    p=$(( 20000 + (RANDOM % 40000) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  die "could not find a free TCP port"
}

# port_in_use PORT : true if something listens on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# abspath PATH : absolute path (PATH need not exist; its parent should).
abspath() {
  local p="$1"
  if [[ -d "$p" ]]; then (cd "$p" && pwd -P); return; fi
  local d b
  d="$(dirname "$p")"; b="$(basename "$p")"
  [[ -d "$d" ]] || mkdir -p "$d"
  printf '%s/%s\n' "$(cd "$d" && pwd -P)" "$b"
}

# pkg_installed PKG : true if the Debian package is installed.
pkg_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true)" == ii* ]]
}
