#!/usr/bin/env bash
# The main job on a built-in demo, on a fresh Debian 12 machine (run as root):
#   installs and builds (scripts/setup.sh), starts a local PostgreSQL + pgvector and a Chroma
#   server with a sample dataset, backs Chroma up, migrates every collection, verifies the result,
#   and prints where the report is. Services are stopped at the end unless --keep is given.
# Usage: scripts/demo.sh [--keep] [--records N] [--bin PATH] [--dir DIR]
#   --bin PATH: run this chroma2pg and skip scripts/setup.sh (which must have installed the servers)
#   --dir DIR:  put the demo's servers, backups and report here (default .tools/demo)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

KEEP=0
RECORDS=3000
BIN=""
DEMO="$REPO_ROOT/.tools/demo"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --records) RECORDS="${2:?}"; shift ;;
    --bin) BIN="$(realpath -m "${2:?}")"; shift ;;
    --dir) DEMO="$(realpath -m "${2:?}")"; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option: $1" ;;
  esac
  shift
done

if [[ -z $BIN ]]; then
  scripts/setup.sh
  BIN="$REPO_ROOT/build/chroma2pg"
fi
[[ -x $BIN ]] || die "$BIN is not an executable chroma2pg"
# The previous demo's directory is removed; any other non-empty directory is left alone.
MARK="$DEMO/.chroma2pg-demo"
[[ ! -e $DEMO || -d $DEMO ]] || die "$DEMO is not a directory: give --dir a new or empty directory"
if [[ -d $DEMO && -n "$(ls -A "$DEMO")" && ! -e $MARK && $DEMO != "$REPO_ROOT/.tools/demo" ]]; then
  die "$DEMO is not empty and not an earlier demo's directory: give --dir a new or empty directory"
fi
"$REPO_ROOT/scripts/chroma-server.sh" stop "$DEMO/chroma" >/dev/null 2>&1 || true
"$REPO_ROOT/scripts/pg-cluster.sh" stop "$DEMO/pg" >/dev/null 2>&1 || true
rm -rf "$DEMO"
mkdir -p "$DEMO/chroma" "$DEMO/backups"
touch "$MARK"
stop_all() {
  "$REPO_ROOT/scripts/chroma-server.sh" stop "$DEMO/chroma" >/dev/null 2>&1 || true
  "$REPO_ROOT/scripts/pg-cluster.sh" stop "$DEMO/pg" >/dev/null 2>&1 || true
}
[[ $KEEP == 1 ]] || trap stop_all EXIT

PG_URL="$("$REPO_ROOT/scripts/pg-cluster.sh" start "$DEMO/pg")"
CHROMA_URL="$("$REPO_ROOT/scripts/chroma-server.sh" start "$DEMO/chroma")"
log "PostgreSQL + pgvector: ${PG_URL/test-secret-pw/***}"
log "Chroma: $CHROMA_URL"
/usr/bin/python3 "$REPO_ROOT/scripts/demo_seed.py" "$CHROMA_URL" "$RECORDS"

echo
echo "== 1. inspect the source"
"$BIN" inspect --from "$CHROMA_URL"
has() { "$BIN" --help 2>/dev/null | grep -qE "^ +$1( |$)"; }
if has backup; then
  echo; echo "== 2. back Chroma up (JSON Lines + pickle)"
  "$BIN" backup --from "$CHROMA_URL" --out "$DEMO/backups" --format jsonl,pickle
fi
echo; echo "== 3. migrate every collection into pgvector"
"$BIN" migrate --from "$CHROMA_URL" --to "$PG_URL"
if has verify; then
  echo; echo "== 4. verify: every record, the indexes, and search quality"
  "$BIN" verify --from "$CHROMA_URL" --to "$PG_URL" --report "$DEMO/report"
  echo
  echo "Report: $DEMO/report/report.html (also report.md and report.json)"
fi
if [[ $KEEP == 1 ]]; then
  echo "Services left running: PostgreSQL ${PG_URL/test-secret-pw/***}, Chroma $CHROMA_URL"
  echo "Stop them with: scripts/pg-cluster.sh stop $DEMO/pg; scripts/chroma-server.sh stop $DEMO/chroma"
fi
