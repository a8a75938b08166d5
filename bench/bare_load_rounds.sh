#!/usr/bin/env bash
# The 1,000,000-record bare load in rounds: two chroma2pg binaries, then PostgreSQL's own work by hand
# (`psql \copy` of the same rows, binary, then ADD PRIMARY KEY), each after CHECKPOINT + sync, so drift
# of the host falls on every row alike. Each round starts with the next row: the run right after the
# `\copy` is slower whichever it is (BENCHMARKS.md, session 12), so use a multiple of 3 rounds.
# Usage: bench/bare_load_rounds.sh PG_URL DIR OLD_BIN NEW_BIN [ROUNDS]
#   PG_URL: a cluster from `scripts/pg-cluster.sh start` (durable, as users run);
#   DIR: a persistent directory (bench/make_flushed_dir.py … /work/bench-1m 10)
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
PG_URL=$1 DIR=$2 OLD=$3 NEW=$4 ROUNDS=${5:-4}
ROWS="$(mktemp -d)/rows.bin"
trap 'rm -rf "$(dirname "$ROWS")"' EXIT
quiet() { psql "$PG_URL" -qc checkpoint; sync; sleep 1; }
"$NEW" migrate --from "$DIR" --to "$PG_URL" --index none --metadata-index none --replace --quiet
TABLE=$(psql "$PG_URL" -Atc "SELECT table_name FROM chroma_collections ORDER BY migrated_at DESC LIMIT 1")
COLS="id, embedding, document, uri, metadata, digest"
psql "$PG_URL" -qc "\\copy (SELECT $COLS FROM $TABLE) TO '$ROWS' WITH (FORMAT binary)"
by_hand() {
  psql "$PG_URL" -qc "DROP TABLE IF EXISTS bench_by_hand" -c "CREATE TABLE bench_by_hand (LIKE $TABLE)"
  quiet
  local s
  s=$(date +%s.%N)
  psql "$PG_URL" -qc "\\copy bench_by_hand ($COLS) FROM '$ROWS' WITH (FORMAT binary)" \
    -c "ALTER TABLE bench_by_hand ADD PRIMARY KEY (id)"
  echo "round $1 psql \\copy + primary key: $(echo "$(date +%s.%N) - $s" | bc) s wall"
}
tool() {
  quiet
  /usr/bin/time -f "round $1 $2: %e s wall, %U s user, %S s sys, %M KB peak RSS" \
    "$2" migrate --from "$DIR" --to "$PG_URL" --index none --metadata-index none --replace --quiet
}
for r in $(seq 1 "$ROUNDS"); do
  for k in 0 1 2; do
    case $(( (r - 1 + k) % 3 )) in
      0) tool "$r" "$OLD" ;;
      1) tool "$r" "$NEW" ;;
      2) by_hand "$r" ;;
    esac
  done
done
psql "$PG_URL" -qc "DROP TABLE IF EXISTS bench_by_hand"
