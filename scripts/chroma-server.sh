#!/usr/bin/env bash
# A real local Chroma server (API v2) for tests, on 127.0.0.1 and a free port.
#
#   scripts/chroma-server.sh start   DATADIR [PORTFILE]  start (or reuse) a server; prints its URL
#   scripts/chroma-server.sh stop    DATADIR             SIGTERM, then SIGKILL after CHROMA_STOP_TIMEOUT s
#                                                        (10; 1 for the current Chroma, which ignores SIGTERM)
#   scripts/chroma-server.sh kill9   DATADIR             SIGKILL at once (crash simulation)
#   scripts/chroma-server.sh restart DATADIR             stop, then start on the same port; prints URL
#   scripts/chroma-server.sh status  DATADIR             exit 0 if running and answering
#   scripts/chroma-server.sh url     DATADIR             print the URL
#
# DATADIR is the Chroma persistent directory (chroma.sqlite3 + segment dirs). Next to it:
#   DATADIR.log (server output, appended), DATADIR.pid, DATADIR.url, DATADIR.port, DATADIR.version.
# PORTFILE, if given, also receives the port number.
# CHROMA_VERSION picks the server `start` runs (`restart` keeps the one DATADIR.version names):
#   1.0 (default)  the pinned Chroma 1.0.0, .tools/chroma/node_modules/.bin/chroma
#   current        Chroma of npm chromadb 3.5.0 (bindings 1.3.4; opens 1.3 and 1.5 directories), run
#                  in the Debian trixie root .tools/chroma-current/root (scripts/install-chroma.sh).
#                  The server runs in its own mount namespace: proc and a bind mount of DATADIR at
#                  /mnt/DATADIR inside the root exist only there and vanish with the process, so
#                  DATADIR can be anywhere and no mount outlives the server.
# The server has no telemetry to disable: OpenTelemetry is off unless a config file
# enables it, and `chroma run` makes no outbound connections.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHROMA_BIN="${CHROMA_BIN:-$TOOLS_DIR/chroma/node_modules/.bin/chroma}"
CURRENT_ROOT="$TOOLS_DIR/chroma-current/root"
START_TIMEOUT="${CHROMA_START_TIMEOUT:-60}"

usage() { sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
CMD="$1"; shift
case "$CMD" in -h|--help|help) usage; exit 0 ;; esac
[[ $# -ge 1 ]] || die "$CMD needs DATADIR (see --help)"
DATADIR="$(abspath "$1")"; shift
DATADIR="${DATADIR%/}"
LOG_FILE="$DATADIR.log"
PID_FILE="$DATADIR.pid"
URL_FILE="$DATADIR.url"
PORT_FILE="$DATADIR.port"
VERSION_FILE="$DATADIR.version"

# PID of our server for DATADIR, or nothing (guards against stale files / reused PIDs).
server_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid cmdline
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] || return 0
  [[ -r "/proc/$pid/cmdline" ]] || return 0
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  if [[ "$cmdline" == *chroma*" run "*"--path $DATADIR "* || "$cmdline" == *chroma*" run "*"--path /mnt$DATADIR "* ]]; then
    # a zombie is as good as dead
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && return 0
    echo "$pid"
  fi
}

heartbeat() { curl -fsS --max-time 2 "http://127.0.0.1:$1/api/v2/heartbeat" >/dev/null 2>&1; }

log_tail() {
  if [[ -f "$LOG_FILE" ]]; then
    echo "--- last 30 lines of $LOG_FILE ---" >&2
    tail -n 30 "$LOG_FILE" | sed 's/\x1b\[[0-9;]*m//g' >&2
  fi
}

wait_gone() { # PID SECONDS -> 0 if gone in time
  local pid="$1" deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && return 0
    [[ $SECONDS -ge $deadline ]] && return 1
    sleep 0.1
  done
}

wait_port_free() { # PORT SECONDS
  local deadline=$((SECONDS + $2))
  while port_in_use "$1"; do
    [[ $SECONDS -ge $deadline ]] && return 1
    sleep 0.1
  done
}

# The current Chroma, in its own mount namespace (see the header): exec's all the way down, so
# the PID the caller gets is the server's.
# shellcheck disable=SC2016  # the inner script expands its own arguments
start_current() { # PORT
  ANONYMIZED_TELEMETRY=False NO_COLOR=1 HOME=/tmp \
    setsid unshare --mount --propagation private /bin/sh -c '
      set -e
      root="$1" data="$2" port="$3"
      mount -t proc proc "$root/proc"
      mount -t tmpfs -o size=1m,mode=0755 chroma2pg "$root/mnt"
      mkdir -p "$root/mnt$data"
      mount --bind "$data" "$root/mnt$data"
      exec chroot "$root" /usr/bin/node /opt/chroma/node_modules/.bin/chroma run \
        --path "/mnt$data" --host 127.0.0.1 --port "$port"' \
      sh "$CURRENT_ROOT" "$DATADIR" "$1" </dev/null >>"$LOG_FILE" 2>&1 &
}

cmd_start() {
  local portfile="${1:-}" pid port version="${CHROMA_VERSION:-1.0}"
  pid="$(server_pid)"
  if [[ -n "$pid" ]] && [[ -f "$PORT_FILE" ]] && heartbeat "$(cat "$PORT_FILE")"; then
    port="$(cat "$PORT_FILE")"
    vlog "already running (pid $pid) on port $port"
    [[ -n "$portfile" ]] && echo "$port" >"$portfile"
    cat "$URL_FILE"
    return 0
  fi
  [[ -n "$pid" ]] && die "a chroma process (pid $pid) for $DATADIR exists but does not answer; run: $0 stop $DATADIR"

  case "$version" in
    1.0|pinned)
      version=1.0
      [[ -x "$CHROMA_BIN" ]] || die "chroma not installed at $CHROMA_BIN (run scripts/install-chroma.sh)"
      need_cmd curl node ;;
    current)
      [[ -f "$CURRENT_ROOT/opt/chroma/.chroma2pg-installed" ]] \
        || die "the current chroma is not installed in $CURRENT_ROOT (run scripts/install-chroma.sh current)"
      [[ $EUID -eq 0 ]] || die "the current chroma runs in a chroot: start it as root"
      need_cmd curl unshare chroot ;;
    *) die "unknown CHROMA_VERSION '$version' (1.0 or current)" ;;
  esac

  # Same port as last time when it is free (so URLs survive a stop/start), else a new one.
  port=""
  if [[ -f "$PORT_FILE" ]]; then
    port="$(tr -dc '0-9' <"$PORT_FILE")"
    if [[ -n "$port" ]] && port_in_use "$port"; then
      [[ "${_REQUIRE_SAME_PORT:-0}" == 1 ]] && die "port $port (used before by $DATADIR) is taken by another process"
      port=""
    fi
  fi
  [[ -n "$port" ]] || port="$(free_port)"

  mkdir -p "$DATADIR"
  local url="http://127.0.0.1:$port"
  printf '\n==== %s chroma %s run --path %s --host 127.0.0.1 --port %s ====\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$version" "$DATADIR" "$port" >>"$LOG_FILE"
  # setsid: own session, so the server survives the caller's shell and ^C of a test runner.
  # Telemetry vars are belt and braces (the Python-era switch); the Rust server has none.
  if [[ "$version" == current ]]; then
    start_current "$port"
  else
    ANONYMIZED_TELEMETRY=False CHROMA_ANONYMIZED_TELEMETRY=False NO_COLOR=1 \
      setsid "$CHROMA_BIN" run --path "$DATADIR" --host 127.0.0.1 --port "$port" \
      </dev/null >>"$LOG_FILE" 2>&1 &
  fi
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "$version" >"$VERSION_FILE"
  echo "$port" >"$PORT_FILE"
  echo "$url" >"$URL_FILE"

  local deadline=$((SECONDS + START_TIMEOUT))
  until heartbeat "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      log_tail
      die "chroma exited during startup (port $port, data $DATADIR)"
    fi
    if [[ $SECONDS -ge $deadline ]]; then
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      log_tail
      die "chroma did not answer $url/api/v2/heartbeat within ${START_TIMEOUT}s"
    fi
    sleep 0.1
  done
  [[ -n "$portfile" ]] && echo "$port" >"$portfile"
  echo "$url"
}

cmd_stop() { # [SIGNAL]
  local sig="${1:-TERM}" pid grace=10
  [[ "$(cat "$VERSION_FILE" 2>/dev/null)" == current ]] && grace=1
  grace="${CHROMA_STOP_TIMEOUT:-$grace}"
  pid="$(server_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    vlog "not running: $DATADIR"
    return 0
  fi
  if [[ "$sig" == KILL ]]; then
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "pid $pid survived SIGKILL"
  else
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$grace"; then
      # expected of the current Chroma; news for 1.0
      if [[ $grace == 1 ]]; then vlog "chroma (pid $pid) ignored SIGTERM; sending SIGKILL"
      else log "chroma (pid $pid) ignored SIGTERM for ${grace}s; sending SIGKILL"; fi
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 10 || die "pid $pid survived SIGKILL"
    fi
  fi
  rm -f "$PID_FILE"
  if [[ -f "$PORT_FILE" ]]; then wait_port_free "$(cat "$PORT_FILE")" 10 || true; fi
}

case "$CMD" in
  start)   cmd_start "${1:-}" ;;
  stop)    cmd_stop TERM ;;
  kill9)   cmd_stop KILL ;;
  restart)
    cmd_stop TERM
    CHROMA_VERSION="$(cat "$VERSION_FILE" 2>/dev/null || echo "${CHROMA_VERSION:-1.0}")" \
      _REQUIRE_SAME_PORT=1 cmd_start ;;
  status)
    pid="$(server_pid)"
    [[ -n "$pid" && -f "$PORT_FILE" ]] && heartbeat "$(cat "$PORT_FILE")" ;;
  url)     [[ -f "$URL_FILE" ]] || die "no URL recorded for $DATADIR"; cat "$URL_FILE" ;;
  *) die "unknown command: $CMD (see --help)" ;;
esac
