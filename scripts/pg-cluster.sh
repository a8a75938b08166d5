#!/usr/bin/env bash
# Throw-away PostgreSQL 15 (+ pgvector) cluster for tests, listening on 127.0.0.1 only.
#
#   scripts/pg-cluster.sh start   DIR [--fast]   create (first time) and start; prints PG_URL
#   scripts/pg-cluster.sh stop    DIR            pg_ctl stop -m fast (no error if not running)
#   scripts/pg-cluster.sh restart DIR            restart on the same port; prints PG_URL
#   scripts/pg-cluster.sh status  DIR            exit 0 if running
#   scripts/pg-cluster.sh url     DIR            print PG_URL
#   scripts/pg-cluster.sh psql    DIR [ARGS...]  psql as chroma2pg over TCP (password auth)
#   scripts/pg-cluster.sh destroy DIR            stop and delete DIR
#
# Layout: DIR/data (PGDATA), DIR/.s.PGSQL.<port> (unix socket), DIR/postgres.log, DIR/env.
# DIR/env has shell lines PGPORT=, PG_URL=, PGDATA=, PG_SOCKET_DIR= (safe to `source`).
# Role chroma2pg (superuser, password test-secret-pw, scram over TCP) owns database chroma2pg.
# --fast: fsync/synchronous_commit/full_page_writes off. For tests only: a crash loses data.
# As root, the server runs as user postgres (DIR is chowned to it); otherwise as yourself.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_USER_ROLE="chroma2pg"
PG_PASSWORD="test-secret-pw"
PG_DB="chroma2pg"
PG_CTL_TIMEOUT="${PG_CTL_TIMEOUT:-60}"

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
CMD="$1"; shift
case "$CMD" in -h|--help|help) usage; exit 0 ;; esac
[[ $# -ge 1 ]] || die "$CMD needs DIR (see --help)"
DIR="$(abspath "$1")"; shift
DATA="$DIR/data"
ENV_FILE="$DIR/env"
LOG_FILE="$DIR/postgres.log"

[[ -x "$PG_BINDIR/pg_ctl" ]] || die "PostgreSQL 15 not found in $PG_BINDIR (run scripts/setup.sh --no-build)"

# Server-side commands run as the cluster owner.
if [[ $EUID -eq 0 ]]; then
  id -u postgres >/dev/null 2>&1 || die "user postgres does not exist (install postgresql-15)"
  as_owner() { runuser -u postgres -- "$@"; }
else
  as_owner() { "$@"; }
fi

pg_ctl() { as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" "$@"; }

is_running() { [[ -f "$DATA/PG_VERSION" ]] && pg_ctl status >/dev/null 2>&1; }

conf_port() { # port recorded in the cluster's config
  sed -n "s/^port *= *\([0-9]\{1,5\}\).*/\1/p" "$DATA/postgresql.conf" 2>/dev/null | tail -n1
}

url_for() { printf 'postgresql://%s:%s@127.0.0.1:%s/%s\n' "$PG_USER_ROLE" "$PG_PASSWORD" "$1" "$PG_DB"; }

write_env() {
  local port="$1" tmp
  tmp="$(mktemp "$DIR/.env.XXXXXX")"
  {
    echo "PGPORT=$port"
    echo "PG_URL=$(url_for "$port")"
    echo "PGDATA=$DATA"
    echo "PG_SOCKET_DIR=$DIR"
  } >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$ENV_FILE"
}

# The server user must be able to reach DIR. Under temp dirs / the repo we open up the
# search (x) bit on ancestors that lack it; elsewhere we refuse with a clear message.
ensure_traversable() {
  [[ $EUID -eq 0 ]] || return 0
  local d="$DIR"
  while [[ "$d" != "/" ]]; do
    d="$(dirname "$d")"
    if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
      case "$d/" in
        /tmp/*|/var/tmp/*|"${TMPDIR:-/nonexistent}"/*|"$REPO_ROOT"/*|/work/*)
          chmod o+x "$d" ;;
        *) die "user postgres cannot enter $d; choose a DIR under /tmp or the repo, or chmod o+x $d" ;;
      esac
    fi
  done
}

log_tail() {
  if [[ -f "$LOG_FILE" ]]; then
    { echo "--- last 30 lines of $LOG_FILE ---"; tail -n 30 "$LOG_FILE"; } >&2
  fi
}

set_fast() { # write or keep the fast (non-durable) settings file
  as_owner tee "$DATA/chroma2pg-fast.conf" >/dev/null <<'CONF'
# written by scripts/pg-cluster.sh --fast: NOT crash safe, tests only
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
}

create_cluster() {
  local fast="$1"
  if [[ -e "$DIR" ]] && [[ -n "$(ls -A "$DIR" 2>/dev/null)" ]]; then
    die "$DIR exists and is not empty but holds no cluster (no $DATA/PG_VERSION)"
  fi
  mkdir -p "$DIR"
  ensure_traversable
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$DIR"
  chmod 700 "$DIR"
  chmod o+x "$DIR" 2>/dev/null || true   # lets root/others read DIR/env; data stays 0700
  local pwfile
  pwfile="$(mktemp)"; printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  [[ $EUID -eq 0 ]] && chown postgres "$pwfile"
  if ! as_owner "$PG_BINDIR/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$DIR/initdb.log" 2>&1; then
    rm -f "$pwfile"
    cat "$DIR/initdb.log" >&2
    die "initdb failed in $DATA"
  fi
  rm -f "$pwfile"
  local port
  port="$(free_port)"
  as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<CONF

# ---- chroma2pg test settings (scripts/pg-cluster.sh) ----
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR'
max_connections = 50
shared_buffers = 256MB
maintenance_work_mem = 512MB
work_mem = 16MB
max_wal_size = 2GB
password_encryption = 'scram-sha-256'
dynamic_shared_memory_type = posix
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] '
include_if_exists = 'chroma2pg-fast.conf'
CONF
  # TCP connections must authenticate with the password; the unix socket (inside DIR,
  # reachable only by its owner) stays trust for administration.
  as_owner tee "$DATA/pg_hba.conf" >/dev/null <<'HBA'
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
HBA
  if [[ "$fast" == 1 ]]; then set_fast; fi
}

start_server() {
  local tries=0 port
  while :; do
    port="$(conf_port)"
    if pg_ctl -w -t "$PG_CTL_TIMEOUT" -l "$LOG_FILE" start >/dev/null 2>&1; then
      break
    fi
    tries=$((tries + 1))
    # Port taken by someone else meanwhile? Pick another one (the URL changes).
    if [[ $tries -lt 3 ]] && grep -q 'could not bind\|Address already in use' "$LOG_FILE" 2>/dev/null; then
      local newport; newport="$(free_port)"
      log "port $port busy, retrying on $newport"
      as_owner sed -i "s/^port *= *$port\b.*/port = $newport/" "$DATA/postgresql.conf"
      continue
    fi
    log_tail
    die "PostgreSQL failed to start (data $DATA, port $port)"
  done
}

admin_psql() { # run SQL from stdin via the unix socket as postgres
  as_owner "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$(conf_port)" -U postgres -d postgres
}

ensure_role_and_db() {
  admin_psql >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER_ROLE') THEN
    CREATE ROLE $PG_USER_ROLE LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER_ROLE LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER_ROLE'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB')\gexec
SQL
}

cmd_start() {
  local fast=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --fast) fast=1 ;;
      *) die "unknown option for start: $1" ;;
    esac
    shift
  done
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    create_cluster "$fast"
  else
    ensure_traversable
    if [[ "$fast" == 1 ]]; then set_fast; fi
  fi
  if is_running; then
    vlog "already running: $DATA"
  else
    start_server
  fi
  ensure_role_and_db
  write_env "$(conf_port)"
  url_for "$(conf_port)"
}

cmd_stop() {
  [[ -f "$DATA/PG_VERSION" ]] || { vlog "no cluster in $DIR"; return 0; }
  is_running || { vlog "not running: $DATA"; return 0; }
  pg_ctl -w -t "$PG_CTL_TIMEOUT" -m fast stop >/dev/null 2>&1 || { log_tail; die "pg_ctl stop failed for $DATA"; }
}

cmd_restart() {
  [[ -f "$DATA/PG_VERSION" ]] || die "no cluster in $DIR (use start)"
  if is_running; then
    pg_ctl -w -t "$PG_CTL_TIMEOUT" -m fast -l "$LOG_FILE" restart >/dev/null 2>&1 \
      || { log_tail; die "pg_ctl restart failed for $DATA"; }
  else
    start_server
  fi
  write_env "$(conf_port)"
  url_for "$(conf_port)"
}

case "$CMD" in
  start)   cmd_start "$@" ;;
  stop)    cmd_stop ;;
  restart) cmd_restart ;;
  status)  is_running ;;
  url)     [[ -f "$DATA/PG_VERSION" ]] || die "no cluster in $DIR"; url_for "$(conf_port)" ;;
  psql)
    [[ -f "$DATA/PG_VERSION" ]] || die "no cluster in $DIR"
    exec "$PG_BINDIR/psql" -X "$(url_for "$(conf_port)")" "$@" ;;
  destroy)
    cmd_stop
    if [[ -d "$DIR" ]]; then
      for f in "$DIR"/* "$DIR"/.[!.]*; do
        [[ -e "$f" ]] || continue
        case "$(basename "$f")" in
          data|env|postgres.log|initdb.log|.s.PGSQL.*) ;;
          *) die "$DIR holds $f, which pg-cluster.sh did not create; not deleting $DIR" ;;
        esac
      done
      rm -rf "$DIR"
    fi ;;
  *) die "unknown command: $CMD (see --help)" ;;
esac
