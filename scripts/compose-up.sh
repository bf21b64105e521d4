#!/usr/bin/env bash
# compose.yaml where no image registry is reachable: builds every image of the stack locally from Debian's mirror
# (scripts/podman-images.sh --stack), points compose's *_IMAGE variables at those builds and runs the stack with
# podman-compose (PyPI, pinned, in a venv under ~/.cache/arxiv-atlas; podman 4.3 has no `podman compose`).
#
# Usage: bash scripts/compose-up.sh            builds what is missing, brings the stack up, waits for /ready
#        bash scripts/compose-up.sh ARGS...    any other podman-compose command with the same settings:
#                                              `down`, `down -v` (also drops the volumes), `ps`, `logs api`
# Environment: compose.yaml's own variables (ATLAS_EMBEDDINGS, ATLAS_PAPERS, ATLAS_MODEL_DIR, the ATLAS_*_PORT
#   ports, ATLAS_DB_PASSWORD); COMPOSE_PROJECT_NAME (another stack beside this one, default arxiv-atlas);
#   ATLAS_PODMAN_DIR (the podman store, default /tmp/atlas-podman); ATLAS_REBUILD=1 rebuilds the images even
#   when they exist (after a new release binary, for instance).
# Needs root, podman, runc and mmdebstrap (apt-get install -y podman runc mmdebstrap) and the release binary
# (cargo build --release -p arxiv-atlas). Grafana is not started: no image or package of it is reachable here
# (docs/deployment.md); with a registry, `docker compose --profile grafana up` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/podman-env.sh
source scripts/podman-env.sh

log() { echo "compose-up.sh: $*" >&2; }
die() {
  echo "compose-up.sh: error: $*" >&2
  exit 1
}

PODMAN_COMPOSE_VERSION=1.6.0
venv="$HOME/.cache/arxiv-atlas/podman-compose-$PODMAN_COMPOSE_VERSION"
if [ ! -x "$venv/bin/podman-compose" ]; then
  log "installing podman-compose==$PODMAN_COMPOSE_VERSION into $venv (PyPI)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION"
fi

export ATLAS_API_IMAGE=localhost/arxiv-atlas-api:dev
export ATLAS_POSTGRES_IMAGE=localhost/arxiv-atlas-postgres:dev
export ATLAS_MLFLOW_IMAGE=localhost/arxiv-atlas-mlflow:dev
export ATLAS_PROMETHEUS_IMAGE=localhost/arxiv-atlas-prometheus:dev
# --in-pod false: one container per service on compose's network (a pod would share one network namespace, and
# the services would not find each other by name as they do under docker compose).
compose=("$venv/bin/podman-compose" --in-pod false -f compose.yaml)

if [ "$#" -gt 0 ]; then
  exec "${compose[@]}" "$@"
fi

missing=0
for image in "$ATLAS_API_IMAGE" "$ATLAS_POSTGRES_IMAGE" "$ATLAS_MLFLOW_IMAGE" "$ATLAS_PROMETHEUS_IMAGE"; do
  podman image exists "$image" || missing=1
done
if [ "$missing" = 1 ] || [ "${ATLAS_REBUILD:-0}" = 1 ]; then
  log "building the images (scripts/podman-images.sh --stack)"
  bash scripts/podman-images.sh --stack >&2
fi

for input in "${ATLAS_EMBEDDINGS:-./data/embeddings/arxiv-100k-minilm}" "${ATLAS_PAPERS:-./data/arxiv-100k}" \
  "${ATLAS_MODEL_DIR:-../shared/models/all-MiniLM-L6-v2}"; do
  [ -d "$input" ] || die "no folder $input (set ATLAS_EMBEDDINGS, ATLAS_PAPERS, ATLAS_MODEL_DIR; compose.yaml)"
done

# The container of a service of this project (podman-compose labels them as docker compose does).
container() {
  podman ps -a --filter "label=com.docker.compose.project=${COMPOSE_PROJECT_NAME:-arxiv-atlas}" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n 1
}

# podman 4.3 runs health checks only through systemd timers, which this machine has not, and podman-compose
# skips `condition: service_healthy` on podman < 4.6 (it would wait for a status nobody updates); and a container
# created with podman-compose's --requires on a one-shot service does not start on podman 4.3 ("depends on
# container … not found in input list"). So this script orders the services itself, as compose.yaml's
# depends_on says: the servers first, their health checks run by hand until they pass, then the one-shot jobs
# to their end, then the API, each started --no-deps.
wait_healthy() {
  local name deadline
  name="$(container "$1")"
  [ -n "$name" ] || die "no container for service $1"
  deadline=$((SECONDS + $2))
  until podman healthcheck run "$name" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "$1 not healthy after $2 s (podman logs $name)"
    sleep 2
  done
  log "$1 is healthy after $((SECONDS - start)) s"
}

start=$SECONDS
"${compose[@]}" up -d postgres mlflow prometheus >&2
wait_healthy postgres 120
wait_healthy mlflow 180
"${compose[@]}" up -d --no-deps load train >&2
for job in load train; do
  name="$(container "$job")"
  code="$(podman wait "$name")"
  [ "$code" = 0 ] || die "$job exited with $code (bash scripts/compose-up.sh logs $job)"
  log "$job finished after $((SECONDS - start)) s"
done
"${compose[@]}" up -d --no-deps api >&2
wait_healthy api 180
log "the stack is up after $((SECONDS - start)) s: API http://127.0.0.1:${ATLAS_API_PORT:-8080}," \
  "MLflow http://127.0.0.1:${ATLAS_MLFLOW_PORT:-5000}, Prometheus http://127.0.0.1:${ATLAS_PROMETHEUS_PORT:-9090}"
