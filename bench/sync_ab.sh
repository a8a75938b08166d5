#!/usr/bin/env bash
# sync with nothing changed (every record read and its digest compared: a cut-over's final round from
# the directory), two binaries alternating on one fresh PostgreSQL.
#
#   bench/sync_ab.sh OLD_BIN NEW_BIN [REPS=5] [DIR=bench/.cache/chroma-100000-384]
#
# Prints wall/user/sys per run (/usr/bin/time) and the collection's own seconds from the summary.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
old="$1" new="$2" reps="${3:-5}" dir="${4:-$here/.cache/chroma-100000-384}"
work="$(mktemp -d)"
pg_sh="$here/../scripts/pg-cluster.sh"
trap '"$pg_sh" destroy "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
pg="$("$pg_sh" start "$work/pg" | tail -1)"
"$new" --quiet migrate --from "$dir" --to "$pg" --index none >/dev/null
for _ in $(seq "$reps"); do
  for b in "$old" "$new"; do
    /usr/bin/time -f "$b wall %e user %U sys %S" "$b" --json sync --from "$dir" --to "$pg" 2>&1 >"$work/s.json" | grep wall
    python3 -c "import json,sys;c=json.load(open(sys.argv[1]))['collections'][0];print('  read %d unchanged %d seconds %.2f' % (c['records_read'], c['unchanged'], c['seconds']))" "$work/s.json"
  done
done
