#!/usr/bin/env bash
# Build and install pgvector 0.8.0 for PostgreSQL 15 from Debian's own source package
# (suite trixie; pgvector is not in bookworm). The system's apt configuration is not
# touched: the trixie deb-src index lives in a private sources list + lists/cache dirs.
# Idempotent: exits at once when vector.control already says 0.8.0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PGV_VERSION="0.8.0"
PG_MAJOR="15"
PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
CONTROL="/usr/share/postgresql/$PG_MAJOR/extension/vector.control"
WORK="${PGVECTOR_WORK_DIR:-/var/tmp/chroma2pg-pgvector}"

installed_version() {
  [[ -f "$CONTROL" ]] || return 0
  sed -n "s/^default_version *= *'\{0,1\}\([^']*\)'\{0,1\}.*/\1/p" "$CONTROL" | head -n1
}

if [[ "$(installed_version)" == "$PGV_VERSION" \
   && -f "/usr/share/postgresql/$PG_MAJOR/extension/vector--$PGV_VERSION.sql" \
   && -f "$("$PG_CONFIG" --pkglibdir 2>/dev/null || echo /nonexistent)/vector.so" ]]; then
  vlog "pgvector $PGV_VERSION already installed"
  exit 0
fi

[[ $EUID -eq 0 ]] || die "must run as root (installs into the PostgreSQL tree)"
[[ -x "$PG_CONFIG" ]] || die "$PG_CONFIG not found: install postgresql-server-dev-$PG_MAJOR (scripts/setup.sh does)"
need_cmd apt-get dpkg-source make gcc

# Find the Debian mirror the system already uses (deb822 .sources or one-line .list).
find_mirror() {
  local f u
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    u="$(awk 'BEGIN{IGNORECASE=1} /^URIs:/ {for(i=2;i<=NF;i++) print $i}' "$f" \
          | grep -E '/debian/?$' | grep -v -- '-security' | head -n1 || true)"
    [[ -n "$u" ]] && { echo "${u%/}"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    u="$(awk '$1=="deb" || $1=="deb-src" {for(i=2;i<=NF;i++) if ($i ~ /^(https?|ftp):/) {print $i; break}}' "$f" \
          | grep -E '/debian/?$' | grep -v -- '-security' | head -n1 || true)"
    [[ -n "$u" ]] && { echo "${u%/}"; return; }
  done
  echo "http://deb.debian.org/debian"
}
MIRROR="${PGVECTOR_DEBIAN_MIRROR:-$(find_mirror)}"
KEYRING="/usr/share/keyrings/debian-archive-keyring.gpg"

log "building pgvector $PGV_VERSION for PostgreSQL $PG_MAJOR (source: $MIRROR trixie)"
rm -rf "$WORK"
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/src"
{
  echo "Types: deb-src"
  echo "URIs: $MIRROR"
  echo "Suites: trixie"
  echo "Components: main"
  [[ -f "$KEYRING" ]] && echo "Signed-By: $KEYRING"
} >"$WORK/apt/trixie-src.sources"
# apt reads *.sources only from SourceParts; point SourceParts at a dir with just our file
# and SourceList at an empty file so nothing from /etc/apt is mixed in.
mkdir -p "$WORK/apt/sources.d"
mv "$WORK/apt/trixie-src.sources" "$WORK/apt/sources.d/"
: >"$WORK/apt/empty.list"
APT_OPTS=(
  -o "Dir::Etc::SourceList=$WORK/apt/empty.list"
  -o "Dir::Etc::SourceParts=$WORK/apt/sources.d"
  -o "Dir::State::Lists=$WORK/apt/lists"
  -o "Dir::Cache=$WORK/apt/cache"
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
  -o "APT::Get::List-Cleanup=0"
)
run_quiet "apt-get update (trixie deb-src)" apt-get "${APT_OPTS[@]}" update
SRC_VER="$(apt-cache "${APT_OPTS[@]}" showsrc pgvector 2>/dev/null \
  | awk '/^Version:/ {print $2}' | grep -E "^$PGV_VERSION-" | sort -V | tail -n1 || true)"
[[ -n "$SRC_VER" ]] || die "Debian trixie has no pgvector $PGV_VERSION source package (at $MIRROR)"
(
  cd "$WORK/src"
  # Download as root: the _apt sandbox user cannot write into this private dir.
  run_quiet "apt-get source pgvector=$SRC_VER" \
    apt-get "${APT_OPTS[@]}" -o APT::Sandbox::User=root source "pgvector=$SRC_VER"
)
SRC_DIR="$(find "$WORK/src" -maxdepth 1 -mindepth 1 -type d -name "pgvector-$PGV_VERSION*" | head -n1)"
[[ -n "$SRC_DIR" ]] || die "pgvector source not unpacked in $WORK/src"

run_quiet "make pgvector" make -C "$SRC_DIR" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" OPTFLAGS=""
run_quiet "make install pgvector" make -C "$SRC_DIR" PG_CONFIG="$PG_CONFIG" install

[[ "$(installed_version)" == "$PGV_VERSION" ]] \
  || die "after install $CONTROL reports version '$(installed_version)', expected $PGV_VERSION"
rm -rf "$WORK"
vlog "pgvector $PGV_VERSION installed"
