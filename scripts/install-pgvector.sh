#!/usr/bin/env bash
# Build and install pgvector for PostgreSQL 15 from Debian's own source package: sid's newest
# (0.8.7-1 when written), or the pinned 0.8.6-1 from the same archive when sid lists a version
# the archive does not serve. pgvector is not in bookworm, and trixie's 0.8.0 has the
# parallel-HNSW-build overflow (fixed in 0.8.2) and the HNSW-vacuum corruption (fixed in 0.8.3).
# The system's apt configuration is not touched: the sid deb-src index lives in a private
# sources list + lists/cache dirs. Idempotent: exits at once when >= MIN_VERSION is installed.
# Prints the installed version.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SUITE="sid"
MIN_VERSION="0.8.3"      # 0.8.2 fixed the parallel HNSW build overflow, 0.8.3 the HNSW-vacuum corruption
FALLBACK_VER="0.8.6-1"   # when sid's newest is listed but not served by the archive
FALLBACK_SHA256=(
  "25c9b78cfdaa43c66788d7490246ac24e4fe1c86f19c4b60c089b723f84a4a0d  pgvector_0.8.6.orig.tar.gz"
  "3bbb17a5352900ea6534363399f519967d8c8bb0907f31e29af9ce03d2ed95c4  pgvector_0.8.6-1.debian.tar.xz"
)
PG_MAJOR="15"
PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
CONTROL="/usr/share/postgresql/$PG_MAJOR/extension/vector.control"
WORK="${PGVECTOR_WORK_DIR:-/var/tmp/chroma2pg-pgvector}"

installed_version() {
  [[ -f "$CONTROL" ]] || return 0
  sed -n "s/^default_version *= *'\{0,1\}\([^']*\)'\{0,1\}.*/\1/p" "$CONTROL" | head -n1
}

have="$(installed_version)"
if [[ -n "$have" ]] && dpkg --compare-versions "$have" ge "$MIN_VERSION" \
   && [[ -f "/usr/share/postgresql/$PG_MAJOR/extension/vector--$have.sql" \
   && -f "$("$PG_CONFIG" --pkglibdir 2>/dev/null || echo /nonexistent)/vector.so" ]]; then
  log "pgvector $have (>= $MIN_VERSION) is installed"
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

log "building pgvector for PostgreSQL $PG_MAJOR from Debian $SUITE's source package ($MIRROR)"
rm -rf "$WORK"
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/src"
{
  echo "Types: deb-src"
  echo "URIs: $MIRROR"
  echo "Suites: $SUITE"
  echo "Components: main"
  [[ -f "$KEYRING" ]] && echo "Signed-By: $KEYRING"
} >"$WORK/apt/src.sources"
# apt reads *.sources only from SourceParts; point SourceParts at a dir with just our file
# and SourceList at an empty file so nothing from /etc/apt is mixed in.
mkdir -p "$WORK/apt/sources.d"
mv "$WORK/apt/src.sources" "$WORK/apt/sources.d/"
: >"$WORK/apt/empty.list"
APT_OPTS=(
  -o "Dir::Etc::SourceList=$WORK/apt/empty.list"
  -o "Dir::Etc::SourceParts=$WORK/apt/sources.d"
  -o "Dir::State::Lists=$WORK/apt/lists"
  -o "Dir::Cache=$WORK/apt/cache"
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
  -o "APT::Get::List-Cleanup=0"
)
run_quiet "apt-get update ($SUITE deb-src)" apt-get "${APT_OPTS[@]}" update
SRC_VER="$(apt-cache "${APT_OPTS[@]}" showsrc pgvector 2>/dev/null \
  | awk '/^Version:/ {print $2}' | sort -V | tail -n1 || true)"
fetched=0
if [[ -n "$SRC_VER" ]] && dpkg --compare-versions "$SRC_VER" ge "$MIN_VERSION"; then
  # Download as root: the _apt sandbox user cannot write into this private dir.
  if (cd "$WORK/src" && apt-get "${APT_OPTS[@]}" -o APT::Sandbox::User=root source "pgvector=$SRC_VER" \
        >"$WORK/apt-source.log" 2>&1); then
    fetched=1
  else
    log "Debian $SUITE lists pgvector $SRC_VER but the archive does not serve its files; using $FALLBACK_VER"
  fi
fi
if [[ $fetched == 0 ]]; then
  # The archive's pool still serves this release (>= 0.8.3); its files are checked against
  # the SHA-256 sums of its .dsc, so what is built is exactly Debian's source package.
  SRC_VER="$FALLBACK_VER"
  upstream="${FALLBACK_VER%-*}"
  for f in "pgvector_$FALLBACK_VER.dsc" "pgvector_$upstream.orig.tar.gz" "pgvector_$FALLBACK_VER.debian.tar.xz"; do
    run_quiet "download $f" curl -fsS --retry 3 -o "$WORK/src/$f" "$MIRROR/pool/main/p/pgvector/$f"
  done
  (cd "$WORK/src" && printf '%s\n' "${FALLBACK_SHA256[@]}" | sha256sum --quiet -c -) \
    || die "pgvector $FALLBACK_VER source files do not match their pinned SHA-256 sums"
  run_quiet "dpkg-source -x" dpkg-source --no-check -x "$WORK/src/pgvector_$FALLBACK_VER.dsc" "$WORK/src/pgvector-$upstream"
fi
PGV_VERSION="${SRC_VER%-*}"
SRC_DIR="$(find "$WORK/src" -maxdepth 1 -mindepth 1 -type d -name "pgvector-$PGV_VERSION*" | head -n1)"
[[ -n "$SRC_DIR" ]] || die "pgvector source not unpacked in $WORK/src"

run_quiet "make pgvector" make -C "$SRC_DIR" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" OPTFLAGS=""
run_quiet "make install pgvector" make -C "$SRC_DIR" PG_CONFIG="$PG_CONFIG" install

[[ "$(installed_version)" == "$PGV_VERSION" ]] \
  || die "after install $CONTROL reports version '$(installed_version)', expected $PGV_VERSION"
rm -rf "$WORK"
log "pgvector $PGV_VERSION installed (Debian source package $SRC_VER)"
