#!/usr/bin/env bash
# A real MLflow tracking server on 127.0.0.1 for atlas-track's MLflow tracker, the model registry and their tests.
#
# MLflow comes from PyPI (`mlflow==$MLFLOW_VERSION`, pinned) in a private venv under ~/.cache/arxiv-atlas: arxiv-atlas
# itself never runs Python, it talks to the server's REST API. The server keeps runs and the registry in SQLite
# and serves artifacts itself (`--serve-artifacts`, the 3.x default) from a folder next to it, so clients upload
# and download them over HTTP (`/api/2.0/mlflow-artifacts/artifacts/...`). Idempotent: `start` on a running server
# only prints the URL.
#
# Usage: bash scripts/mlflow.sh start    # installs and starts if needed; prints the URL
#        bash scripts/mlflow.sh url      # prints the URL
#        bash scripts/mlflow.sh status   # exit 0 when this script's server is running and healthy
#        bash scripts/mlflow.sh stop     # stops the server this script started (by its recorded pid)
#        export ARXIV_ATLAS_TEST_MLFLOW_URI="$(bash scripts/mlflow.sh start)"   # then cargo test -p atlas-track
#
# Environment: ARXIV_ATLAS_MLFLOW_PORT (55000), ARXIV_ATLAS_MLFLOW_DATA (~/.cache/arxiv-atlas/mlflow-data: the
#   SQLite file, the artifacts, the pid file and the server log), ARXIV_ATLAS_MLFLOW_HOME (~/.cache/arxiv-atlas/
#   mlflow: the venv). To test against a server of your own instead, skip this script and set
#   ARXIV_ATLAS_TEST_MLFLOW_URI (it must serve artifacts: `mlflow server --serve-artifacts`).
set -euo pipefail

# Pinned: a 3.x release (the REST API of registered-model aliases and logged-model artifacts the tests use).
MLFLOW_VERSION="3.17.2"
PORT="${ARXIV_ATLAS_MLFLOW_PORT:-55000}"
HOME_DIR="${ARXIV_ATLAS_MLFLOW_HOME:-$HOME/.cache/arxiv-atlas/mlflow}"
VENV="$HOME_DIR/venv-$MLFLOW_VERSION"
DATA="${ARXIV_ATLAS_MLFLOW_DATA:-$HOME/.cache/arxiv-atlas/mlflow-data}"
PIDFILE="$DATA/server.pid"
URL="http://127.0.0.1:$PORT"

log() { echo "mlflow.sh: $*" >&2; }
die() {
  echo "mlflow.sh: error: $*" >&2
  exit 1
}

install() {
  [ -x "$VENV/bin/mlflow" ] && return 0
  mkdir -p "$HOME_DIR"
  log "installing mlflow==$MLFLOW_VERSION into $VENV (PyPI)"
  local out
  out="$(mktemp)"
  { python3 -m venv "$VENV" && "$VENV/bin/python" -m pip install --quiet "mlflow==$MLFLOW_VERSION"; } \
    >"$out" 2>&1 || {
    tail -n 20 "$out" >&2
    rm -rf "$VENV"
    die "pip could not install mlflow==$MLFLOW_VERSION (output above)"
  }
  rm -f "$out"
  [ -x "$VENV/bin/mlflow" ] || die "mlflow==$MLFLOW_VERSION installed but $VENV/bin/mlflow is missing"
}

healthy() {
  curl -fsS --max-time 2 "$URL/health" >/dev/null 2>&1
}

# The pid this script recorded, if that process still runs.
our_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

running() {
  our_pid >/dev/null && healthy
}

start() {
  install
  mkdir -p "$DATA/artifacts"
  if our_pid >/dev/null; then
    # Started earlier (maybe still coming up): wait for it below rather than starting a second one.
    :
  elif healthy; then
    die "port $PORT already has a server that this script did not start: stop it, or pick another port with \
ARXIV_ATLAS_MLFLOW_PORT, or use it through ARXIV_ATLAS_TEST_MLFLOW_URI"
  else
    log "starting mlflow $MLFLOW_VERSION on $URL ($DATA)"
    # setsid: the server (and its workers) form their own process group, so `stop` ends exactly them.
    setsid "$VENV/bin/mlflow" server --host 127.0.0.1 --port "$PORT" --workers 1 \
      --backend-store-uri "sqlite:///$DATA/mlflow.db" --artifacts-destination "$DATA/artifacts" \
      >>"$DATA/server.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  # The first start migrates the SQLite schema, which takes a while on a busy machine.
  local i
  for i in $(seq 1 180); do
    healthy && { echo "$URL"; return 0; }
    our_pid >/dev/null || { tail -n 20 "$DATA/server.log" >&2; die "mlflow server exited (log above: $DATA/server.log)"; }
    sleep 1
  done
  tail -n 20 "$DATA/server.log" >&2
  die "mlflow server did not answer $URL/health within 180 s (log above: $DATA/server.log)"
}

stop() {
  local pid
  if pid="$(our_pid)"; then
    # The server was started with setsid, so its pid is its process group's id: end the group it leads.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
    log "stopped"
  fi
  rm -f "$PIDFILE"
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
