#!/usr/bin/env bash
# One binary's bare load under two environments (A and B), against `psql \copy` + ADD PRIMARY KEY of
# the same rows by hand, in rounds whose order rotates; each run after CHECKPOINT + sync, on an empty
# target table. Prints one line a run: wall, user and system seconds, peak RSS.
#
#   bench/bare_load_env_ab.sh PG_URL DIR BIN A_ENV B_ENV [ROUNDS=6]
#   e.g. bench/bare_load_env_ab.sh "$URL" /work/bench-1m build-rel/chroma2pg \
#            CHROMA2PG_MALLOC_HUGE_PAGES=0 CHROMA2PG_MALLOC_HUGE_PAGES=1 6
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
PG_URL=$1 DIR=$2 BIN=$3 A_ENV=$4 B_ENV=$5 ROUNDS=${6:-6}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
COLS="id, embedding, document, uri, metadata, digest"
"$BIN" --quiet migrate --from "$DIR" --to "$PG_URL" --index none --metadata-index none --replace
TABLE=$(psql "$PG_URL" -Atc "SELECT table_name FROM chroma_collections ORDER BY migrated_at DESC LIMIT 1")
psql "$PG_URL" -qc "\\copy (SELECT $COLS FROM $TABLE) TO '$work/rows.bin' WITH (FORMAT binary)"
psql "$PG_URL" -qc "DROP TABLE IF EXISTS bench_by_hand" -c "CREATE TABLE bench_by_hand (LIKE $TABLE)"
quiet() {
  while [ "$(psql "$PG_URL" -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")" != 0 ]; do
    sleep 0.5
  done
  psql "$PG_URL" -qc checkpoint; sync; sleep 1
}
tool() { # ENV LABEL
  psql "$PG_URL" -qc "DROP TABLE IF EXISTS $TABLE"
  quiet
  env "$1" /usr/bin/time -f "$2 %e s, user %U s, system %S s, peak RSS %M KB" \
    "$BIN" --quiet migrate --from "$DIR" --to "$PG_URL" --index none --metadata-index none --replace
}
by_hand() {
  psql "$PG_URL" -qc "TRUNCATE bench_by_hand" -c "ALTER TABLE bench_by_hand DROP CONSTRAINT IF EXISTS bench_by_hand_pkey"
  quiet
  s=$(date +%s.%N)
  psql "$PG_URL" -qc "\\copy bench_by_hand ($COLS) FROM '$work/rows.bin' WITH (FORMAT binary)" \
    -c "ALTER TABLE bench_by_hand ADD PRIMARY KEY (id)"
  e=$(date +%s.%N)
  echo "by hand $(echo "$e - $s" | bc) s"
}
for r in $(seq "$ROUNDS"); do
  case $((r % 3)) in
    1) tool "$A_ENV" "A $A_ENV"; tool "$B_ENV" "B $B_ENV"; by_hand ;;
    2) tool "$B_ENV" "B $B_ENV"; by_hand; tool "$A_ENV" "A $A_ENV" ;;
    0) by_hand; tool "$A_ENV" "A $A_ENV"; tool "$B_ENV" "B $B_ENV" ;;
  esac
done
psql "$PG_URL" -qc "DROP TABLE IF EXISTS bench_by_hand"
