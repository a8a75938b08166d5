#!/usr/bin/env bash
# Two binaries' bare loads of one directory with each --jobs value, alternating binary first and second
# round by round; each run after CHECKPOINT + sync, on an empty target. Prints one line a run: wall,
# user and system seconds, peak RSS (the issue's bound is 200 MB for every row).
#
#   bench/peak_rss_ab.sh PG_URL DIR A_BIN B_BIN "JOBS..." [ROUNDS=2]
#   e.g. bench/peak_rss_ab.sh "$URL" /work/bench-1m /tmp/prev/build-rel/chroma2pg build-rel/chroma2pg "1 2" 2
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
PG_URL=$1 DIR=$2 A_BIN=$3 B_BIN=$4 JOBS=$5 ROUNDS=${6:-2}
quiet() {
  while [ "$(psql "$PG_URL" -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")" != 0 ]; do
    sleep 0.5
  done
  psql "$PG_URL" -qc checkpoint; sync; sleep 1
}
load() { # LABEL BIN JOBS
  { psql "$PG_URL" -qAtc "SELECT 'DROP TABLE IF EXISTS ' || table_name || ';' FROM chroma_collections" 2>/dev/null || true; } |
    psql "$PG_URL" -q
  quiet
  /usr/bin/time -f "$1 --jobs $3: %e s, user %U s, system %S s, peak RSS %M KB" \
    "$2" --quiet migrate --from "$DIR" --to "$PG_URL" --index none --metadata-index none --replace --jobs "$3"
}
for r in $(seq "$ROUNDS"); do
  for j in $JOBS; do
    if [ $((r % 2)) = 1 ]; then load A "$A_BIN" "$j"; load B "$B_BIN" "$j"; else load B "$B_BIN" "$j"; load A "$A_BIN" "$j"; fi
  done
done
