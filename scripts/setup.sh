#!/usr/bin/env bash
# One-shot machine setup for chroma2pg on Debian 12 (run as root):
#   1. Debian packages (skipped entirely when all are already installed)
#   2. pgvector 0.8.7 for PostgreSQL 15        (scripts/install-pgvector.sh)
#   3. real Chroma servers in .tools/: 1.0 and a current one   (scripts/install-chroma.sh)
#      and the frameworks' JS clients + a pinned Node in .tools/ (scripts/install-js-clients.sh)
#   4. configure + build the project           (skipped with --no-build or without CMakeLists.txt)
# Idempotent and quiet on success. VERBOSE=1 for progress messages.
#
# Usage: scripts/setup.sh [--no-build] [--build-only] [--build-type TYPE] [--build-dir DIR]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DO_DEPS=1
DO_BUILD=1
BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}"
BUILD_DIR="${BUILD_DIR:-$REPO_ROOT/build}"

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build)    DO_BUILD=0 ;;
    --build-only)  DO_DEPS=0 ;;
    --build-type)  BUILD_TYPE="${2:?--build-type needs a value}"; shift ;;
    --build-dir)   BUILD_DIR="${2:?--build-dir needs a value}"; shift ;;
    -h|--help)     usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
  shift
done

APT_PACKAGES=(
  build-essential cmake pkg-config git curl ca-certificates dpkg-dev ccache
  libpq-dev postgresql-15 postgresql-server-dev-15 postgresql-client-15
  libsqlite3-dev sqlite3
  libcurl4-openssl-dev
  libsimdjson-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
  libzstd-dev zstd libssl-dev libxxhash-dev
  libgtest-dev googletest libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  python3 python3-psycopg2 python3-yaml
  docker-compose
  chromium
  hyperfine time
  procps iproute2
  debootstrap
)

install_apt_packages() {
  local pkgs=("${APT_PACKAGES[@]}") missing=() p
  # Node.js: keep whatever node/npm the machine already has (e.g. a NodeSource build,
  # which conflicts with Debian's npm); otherwise take Debian's.
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    pkgs+=(nodejs npm)
  fi
  for p in "${pkgs[@]}"; do
    pkg_installed "$p" || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    vlog "all Debian packages already installed"
    return 0
  fi
  [[ $EUID -eq 0 ]] || die "missing packages (${missing[*]}); run as root to install them"
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  run_quiet "apt-get update" apt-get -o DPkg::Lock::Timeout=600 update -q
  run_quiet "apt-get install" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  for p in "${missing[@]}"; do
    pkg_installed "$p" || die "package $p is still not installed after apt-get install"
  done
}

build_project() {
  if [[ ! -f "$REPO_ROOT/CMakeLists.txt" ]]; then
    log "no CMakeLists.txt yet: skipping the build"
    return 0
  fi
  local jobs
  jobs="${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
  run_quiet "cmake configure" cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
  run_quiet "cmake build" cmake --build "$BUILD_DIR" -j"$jobs"
  vlog "built in $BUILD_DIR ($BUILD_TYPE)"
}

# Dockerfile linters (hadolint is not packaged for Debian): pinned, from the npm registry.
install_npm_linters() {
  local need=0
  command -v dockerfilelint >/dev/null 2>&1 || need=1
  command -v dockerfile-utils >/dev/null 2>&1 || need=1
  [[ $need == 1 ]] || return 0
  log "installing Dockerfile linters from npm"
  run_quiet "npm install linters" npm install -g --no-fund --no-audit dockerfile-utils@0.16.3 dockerfilelint@1.8.0
}

if [[ $DO_DEPS == 1 ]]; then
  install_apt_packages
  "$REPO_ROOT/scripts/install-pgvector.sh"
  "$REPO_ROOT/scripts/install-chroma.sh"
  "$REPO_ROOT/scripts/install-js-clients.sh"
  install_npm_linters
fi
if [[ $DO_BUILD == 1 ]]; then
  build_project
fi
