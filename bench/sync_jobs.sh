#!/usr/bin/env bash
# A cut-over's final `sync` round over many collections, nothing changed (every record read and its
# digest compared), with --jobs 1 and --jobs 2 alternating: from a Chroma server serving the directory,
# and from the directory itself. The 100,000-record benchmark collection is split into K collections.
#
#   bench/sync_jobs.sh BIN [REPS=5] [K=4] [DIR=bench/.cache/chroma-100000-384]
#
# Prints each run's wall seconds (/usr/bin/time) and peak RSS.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$1" reps="${2:-5}" k="${3:-4}" src="${4:-$here/.cache/chroma-100000-384}"
work="$(mktemp -d)"
scripts="$here/../scripts"
trap '"$scripts/chroma-server.sh" stop "$work/chroma" >/dev/null 2>&1 || true
      "$scripts/pg-cluster.sh" destroy "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
/usr/bin/python3 "$here/make_multi_dir.py" "$src" "$work/dir" "$k" >/dev/null
cp -r "$work/dir" "$work/chroma"
pg="$("$scripts/pg-cluster.sh" start "$work/pg" | tail -1)"
url="$("$scripts/chroma-server.sh" start "$work/chroma" | tail -1)"
"$bin" --quiet migrate --from "$work/dir" --to "$pg" --index none >/dev/null
for from in "$url" "$work/dir"; do
  for _ in $(seq "$reps"); do
    for jobs in 1 2; do
      /usr/bin/time -f "$( [[ $from == http* ]] && echo server || echo directory ) --jobs $jobs wall %e s, peak RSS %M KB" \
        "$bin" --quiet sync --from "$from" --to "$pg" --jobs "$jobs" 2>&1 >/dev/null | grep wall
    done
  done
done
