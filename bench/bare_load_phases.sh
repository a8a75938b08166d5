#!/usr/bin/env bash
# Where a bare load's time goes, against PostgreSQL's own work by hand, alternating: chroma2pg's run split
# by its log events (start: the source opened, its size estimated, the target checked; analyze: the load
# and the primary key done; then the swap's commit, the search settings and the exit), and `psql \copy`
# of the same rows (binary) then ADD PRIMARY KEY, each after CHECKPOINT + sync.
#
#   bench/bare_load_phases.sh PG_URL DIR BIN [REPS=5]
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
PG_URL=$1 DIR=$2 BIN=$3 REPS=${4:-5}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
COLS="id, embedding, document, uri, metadata, digest"
# Before each timed run: no table of an earlier run is left (autovacuum would read and dirty its
# ~2 GB at 1,000,000 rows in the middle of the next run), no autovacuum still at work, then a
# checkpoint and the page cache written back.
quiet() {
  while [ "$(psql "$PG_URL" -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")" != 0 ]; do
    sleep 0.5
  done
  psql "$PG_URL" -qc checkpoint; sync; sleep 1
}
"$BIN" --quiet migrate --from "$DIR" --to "$PG_URL" --index none --metadata-index none --replace
TABLE=$(psql "$PG_URL" -Atc "SELECT table_name FROM chroma_collections ORDER BY migrated_at DESC LIMIT 1")
psql "$PG_URL" -qc "\\copy (SELECT $COLS FROM $TABLE) TO '$work/rows.bin' WITH (FORMAT binary)"
psql "$PG_URL" -qc "DROP TABLE IF EXISTS bench_by_hand" -c "CREATE TABLE bench_by_hand (LIKE $TABLE)"
for _ in $(seq "$REPS"); do
  # The previous table is dropped before the clock starts, as the by-hand table is (--replace would
  # otherwise unlink its ~200 MB at the swap's commit, in the timed run).
  psql "$PG_URL" -qc "DROP TABLE IF EXISTS $TABLE" -c "TRUNCATE bench_by_hand"
  quiet
  s=$(date +%s.%N)
  "$BIN" --log-format json migrate --from "$DIR" --to "$PG_URL" --index none --metadata-index none --replace \
    2>"$work/events" >/dev/null
  e=$(date +%s.%N)
  /usr/bin/python3 - "$s" "$e" "$work/events" <<'PY'
import datetime, json, sys
s, e = float(sys.argv[1]), float(sys.argv[2])
ev = {}
for line in open(sys.argv[3]):
    if line.startswith("{"):
        j = json.loads(line)
        t = datetime.datetime.strptime(j["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        ev.setdefault(j["event"], t.timestamp())
print("chroma2pg: %.3f s: until start %.3f, load + primary key %.3f, after %.3f"
      % (e - s, ev["start"] - s, ev["analyze"] - ev["start"], e - ev["analyze"]))
PY
  psql "$PG_URL" -qc "TRUNCATE bench_by_hand" -c "ALTER TABLE bench_by_hand DROP CONSTRAINT IF EXISTS bench_by_hand_pkey" \
    -c "DROP TABLE $TABLE"
  quiet
  s=$(date +%s.%N)
  psql "$PG_URL" -qc "\\copy bench_by_hand ($COLS) FROM '$work/rows.bin' WITH (FORMAT binary)"
  m=$(date +%s.%N)
  psql "$PG_URL" -qc "ALTER TABLE bench_by_hand ADD PRIMARY KEY (id)"
  e=$(date +%s.%N)
  echo "by hand:   $(echo "$e - $s" | bc) s: \\copy $(echo "$m - $s" | bc), primary key $(echo "$e - $m" | bc)"
done
psql "$PG_URL" -qc "DROP TABLE IF EXISTS bench_by_hand"
