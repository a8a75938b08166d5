#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (run as root):
#   installs what is missing (scripts/setup.sh), builds with ASan + UBSan into build-asan/,
#   starts a throw-away PostgreSQL + pgvector and two real Chroma servers (the pinned 1.0 and the
#   current one; the server tests run against both), runs ctest (unit, integration, fault and fuzz
#   tests), and stops the services whatever happens.
# Usage: scripts/test.sh [ctest args…]   e.g. scripts/test.sh -R integration.test_migrate
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

scripts/setup.sh --no-build
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # again: setup may have just installed ccache
BUILD_DIR="${C2P_TEST_BUILD_DIR:-$REPO_ROOT/build-asan}"
log "building with ASan + UBSan in $BUILD_DIR"
run_quiet "cmake configure" cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHROMA2PG_SANITIZE=ON
run_quiet "cmake build" cmake --build "$BUILD_DIR" -j"$(nproc)"

WORK="$(mktemp -d /tmp/chroma2pg-test.XXXXXX)"
# The tests' own temporary directories (private Chroma servers among them) live in $WORK too, so
# the cleanup finds every Chroma server a test started, even one a timed-out test left running.
export TMPDIR="$WORK/tmp"
mkdir -p "$TMPDIR"
cleanup() {
  local v
  while IFS= read -r -d '' v; do   # chroma-server.sh writes DATADIR.version for every server
    "$REPO_ROOT/scripts/chroma-server.sh" stop "${v%.version}" >/dev/null 2>&1 || true
  done < <(find "$WORK" -name '*.version' -print0 2>/dev/null)
  "$REPO_ROOT/scripts/chroma-server.sh" stop "$WORK/chroma" >/dev/null 2>&1 || true
  "$REPO_ROOT/scripts/chroma-server.sh" stop "$WORK/chroma-current" >/dev/null 2>&1 || true
  "$REPO_ROOT/scripts/pg-cluster.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
C2P_PG_URL="$("$REPO_ROOT/scripts/pg-cluster.sh" start "$WORK/pg" --fast)"
mkdir -p "$WORK/chroma"
C2P_CHROMA_URL="$("$REPO_ROOT/scripts/chroma-server.sh" start "$WORK/chroma")"
mkdir -p "$WORK/chroma-current"
C2P_CHROMA_CURRENT_URL="$(CHROMA_VERSION=current "$REPO_ROOT/scripts/chroma-server.sh" start "$WORK/chroma-current")"
export C2P_PG_URL C2P_CHROMA_URL C2P_CHROMA_CURRENT_URL
export C2P_REPO="$REPO_ROOT"
export C2P_PG_SCRIPT="$REPO_ROOT/scripts/pg-cluster.sh"
# Leaks in libcurl/libpq globals are not ours; everything else ASan/UBSan finds fails the test.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
log "PostgreSQL: ${C2P_PG_URL/test-secret-pw/***}  Chroma 1.0: $C2P_CHROMA_URL  current: $C2P_CHROMA_CURRENT_URL"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --timeout 1200 "$@"
