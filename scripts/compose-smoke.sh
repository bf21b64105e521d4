#!/usr/bin/env bash
# End-to-end check of compose.yaml where no registry is reachable: brings up a stack of its own (compose project
# arxiv-atlas-smoke, its own ports and volumes) with scripts/compose-up.sh, checks every service, and removes that
# stack again (containers, network, volumes) whether the checks pass or not. A stack brought up by hand (project
# arxiv-atlas) is left alone. The images stay, so a second run skips the builds. Idempotent.
#
# Checks: the API's /ready (model, encoder and index loaded); a classify and a search request answered, and
# both rows in PostgreSQL's request log; the papers in pgvector; MLflow's /health and the registered model
# models:/arxiv-atlas@champion; Prometheus's api target `up` and the rule groups of deploy/prometheus/alerts.yml.
#
# Usage: ATLAS_EMBEDDINGS=DIR ATLAS_PAPERS=DIR bash scripts/compose-smoke.sh
#   (the embedding set and the dataset the stack loads: compose.yaml's variables, default ./data/…)
# Environment: ATLAS_SMOKE_PORT_BASE (default 18000: API on +80, MLflow +50, Prometheus +90, PostgreSQL +32),
#   ATLAS_PODMAN_DIR (scripts/podman-env.sh). Needs what scripts/compose-up.sh needs, and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/podman-env.sh
source scripts/podman-env.sh

export COMPOSE_PROJECT_NAME=arxiv-atlas-smoke
base="${ATLAS_SMOKE_PORT_BASE:-18000}"
export ATLAS_API_PORT=$((base + 80)) ATLAS_MLFLOW_PORT=$((base + 50)) ATLAS_PROMETHEUS_PORT=$((base + 90)) \
  ATLAS_POSTGRES_PORT=$((base + 32))
api="http://127.0.0.1:$ATLAS_API_PORT"
mlflow="http://127.0.0.1:$ATLAS_MLFLOW_PORT"
prometheus="http://127.0.0.1:$ATLAS_PROMETHEUS_PORT"

log() { echo "compose-smoke.sh: $*" >&2; }
fail() {
  echo "compose-smoke.sh: FAILED: $*" >&2
  exit 1
}
down() { bash scripts/compose-up.sh down -v >/dev/null 2>&1 || true; }

start=$SECONDS
down # what an interrupted run left
trap down EXIT
bash scripts/compose-up.sh || fail "the stack did not come up"
up_s=$((SECONDS - start))

# check NAME COMMAND...: runs the command (a function below), prints its one-line result, or fails the script.
check() {
  local name="$1" out
  shift
  out="$("$@" 2>&1)" || fail "$name: $out"
  log "ok  $name: $out"
}
# json CODE: runs Python CODE on the JSON document of stdin, as d.
json() { python3 -c "import json, sys; d = json.load(sys.stdin); $1"; }
post() { curl -sf -X POST "$api$1" -H 'content-type: application/json' -d "$2"; }

ready() {
  curl -sf "$api/ready" | json 'assert d["status"] == "ready" and d["model"] and d["encoder"] and d["index"], d; print(d)'
}
classify() {
  post /v1/classify '{"title": "Attention Is All You Need", "top_k": 3,
    "abstract": "We propose a new simple network architecture, the Transformer, based solely on attention mechanisms."}' |
    json 'print(d["category"], round(d["probability"], 3), d["model"])'
}
search() {
  post /v1/search '{"text": "graph neural networks for molecules", "k": 3}' |
    json 'r = d["results"]; assert len(r) == 3, d; print([x["id"] for x in r])'
}
pg="$(podman ps --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
  --filter label=com.docker.compose.service=postgres --format '{{.Names}}')"
psql() { podman exec "$pg" psql -U atlas -d atlas -tAc "$1"; }
request_log() {
  psql "SELECT string_agg(endpoint || ' ' || prediction || ' ' || model_version, ', ' ORDER BY id) FROM atlas_request_log
    HAVING count(*) FILTER (WHERE endpoint = 'classify') > 0 AND count(*) FILTER (WHERE endpoint = 'search') > 0" |
    grep .
}
papers() {
  local n
  n="$(psql 'SELECT count(*) FROM atlas_papers')"
  [ "$n" -gt 0 ] && echo "$n papers"
}
mlflow_model() {
  curl -sf "$mlflow/api/2.0/mlflow/registered-models/alias?name=arxiv-atlas&alias=champion" |
    json 'v = d["model_version"]; print(v["name"], "version", v["version"], v["status"])'
}
api_target() {
  curl -sf "$prometheus/api/v1/targets" | json '
t = [t for t in d["data"]["activeTargets"] if t["labels"]["job"] == "arxiv-atlas-api"]
assert t and t[0]["health"] == "up", t; print(t[0]["scrapeUrl"], t[0]["health"])'
}
rules() {
  curl -sf "$prometheus/api/v1/rules" | json '
g = {x["name"]: len(x["rules"]) for x in d["data"]["groups"]}
assert g and all(n > 0 for n in g.values()), g; print(g)'
}

check "api /ready" ready
check "classify" classify
check "search" search
# The request log is written in the background, in batches: give it a few seconds.
for _ in $(seq 30); do request_log >/dev/null 2>&1 && break; sleep 1; done
check "request log (PostgreSQL)" request_log
check "index (pgvector)" papers
check "MLflow /health" curl -sf "$mlflow/health"
check "MLflow registered model" mlflow_model
# Prometheus scrapes every 15 s (deploy/prometheus/prometheus.yml): wait for its first scrape of the API.
for _ in $(seq 45); do api_target >/dev/null 2>&1 && break; sleep 1; done
check "Prometheus api target" api_target
check "Prometheus alert rules" rules

# Memory of each server, for docs/deployment.md: the RSS of its container's processes, summed.
for service in api postgres mlflow prometheus; do
  name="$(podman ps --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --filter "label=com.docker.compose.service=$service" --format '{{.Names}}')"
  log "memory $service: $(podman top "$name" rss | awk 'NR > 1 {kb += $1} END {printf "%.0f MB RSS", kb / 1024}')"
done
log "all checks passed; stack up in ${up_s} s, checks done after $((SECONDS - start)) s; removing the stack"
