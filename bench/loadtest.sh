#!/usr/bin/env bash
# Cold start + load test of `arxiv-atlas serve` on 127.0.0.1, with the FastAPI peer's protocol
# (../shared/bench/loadtest.sh): the same 200 arxiv-mini bodies cycled, wrk -t1 -cN -d30s --timeout 10s, for
# POST /v1/classify and /v1/search at 10 and 50 connections; cold start = process start → GET /ready answers 200;
# RSS = the server's VmHWM after the runs. Bounded: 4 runs of DURATION each, loopback only.
#
#   bash bench/loadtest.sh [MODEL_RUN] [INDEX_DIR] [OUT_DIR]
#   env: BIN, PORT (8091), DURATION (30s), CONNS ("10 50"), WRK_TIMEOUT (10s), SERVE_ARGS (more `serve` flags,
#        e.g. "--workers 2")
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-runs/emb-lr-100k}
INDEX=${2:-data/indexes/arxiv-100k-usearch}
OUT=${3:-target/loadtest}
BIN=${BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/arxiv-atlas/target}/release/arxiv-atlas}
PORT=${PORT:-8091}; DURATION=${DURATION:-30s}; CONNS=${CONNS:-10 50}; WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
mkdir -p "$OUT"
python3 ../shared/bench/make_lua.py --mini ../shared/data/arxiv-mini.jsonl.gz --n 200 --out-dir "$OUT" >/dev/null
sed -i 's#"/classify"#"/v1/classify"#; s#"/search"#"/v1/search"#' "$OUT/post_classify.lua" "$OUT/post_search.lua"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores; $(date -u +%FT%TZ)"
echo "server: $BIN serve --model $MODEL --index $INDEX ${SERVE_ARGS:-}"
T0=$(date +%s.%N)
rm -f "$OUT/request-log.sqlite"
# shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
"$BIN" serve --model "$MODEL" --index "$INDEX" --addr "127.0.0.1:$PORT" --request-log "$OUT/request-log.sqlite" \
  ${SERVE_ARGS:-} >"$OUT/server.log" 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1; do
  kill -0 $SPID 2>/dev/null || { echo "server died:"; cat "$OUT/server.log"; exit 1; }
  sleep 0.02
done
T1=$(date +%s.%N)
COLD=$(python3 -c "print(round($T1 - $T0, 3))")
echo "cold start (process start -> /ready 200): ${COLD}s"
# The server's own account of its start: seconds spent loading the model, the index, in total.
curl -sf "http://127.0.0.1:$PORT/info" >"$OUT/info.json"
RSS_READY_KB=$(awk '/VmRSS/{print $2}' /proc/$SPID/status)
for EP in classify search; do
  for C in $CONNS; do
    wrk -t1 -c"$C" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency -s "$OUT/post_$EP.lua" \
      "http://127.0.0.1:$PORT" >"$OUT/wrk_${EP}_c${C}.txt"
    grep -E "Requests/sec|Non-2xx|Socket errors" "$OUT/wrk_${EP}_c${C}.txt" | sed "s/^/$EP c$C: /"
  done
done
HWM_KB=$(awk '/VmHWM/{print $2}' /proc/$SPID/status)
kill -TERM $SPID; wait $SPID 2>/dev/null || true
trap - EXIT
python3 - "$OUT" "$COLD" "$HWM_KB" "$CONNS" "$RSS_READY_KB" <<'PY'
import json, os, re, sys
out, cold, hwm_kb, conns, ready_kb = sys.argv[1:6]
f = {"api_cold_start_s": float(cold), "api_rss_mb": round(int(hwm_kb) / 1024, 1),
     "api_rss_at_ready_mb": round(int(ready_kb) / 1024, 1)}
info = json.load(open(os.path.join(out, "info.json")))
for phase, seconds in info.get("startup_s", {}).items():
    f[f"api_startup_{phase}_s"] = round(seconds, 3)
f["api_encoder"] = (info.get("encoder") or {}).get("backend")
f["api_batch"] = info.get("batch")
for ep in ("classify", "search"):
    for c in conns.split():
        txt = open(os.path.join(out, f"wrk_{ep}_c{c}.txt")).read()
        j = json.loads(re.search(r"WRKJSON (\{.*\})", txt).group(1))
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", txt)
        p = f"api_{ep}_c{c}_"
        f.update({p + "rps": round(j["requests"] / (j["duration_us"] / 1e6), 2), p + "p50_ms": round(j["p50_us"] / 1000, 1),
                  p + "p95_ms": round(j["p95_us"] / 1000, 1), p + "p99_ms": round(j["p99_us"] / 1000, 1),
                  p + "errors": (int(m.group(1)) if m else 0) + j["err_connect"] + j["err_read"] + j["err_write"] + j["err_timeout"],
                  p + "requests": j["requests"]})
json.dump(f, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps(f, indent=1))
PY
