#!/usr/bin/env bash
# Encoder throughput and single-text latency of arxiv-atlas beside the sentence-transformers/PyTorch peer, on the
# same machine in one session: same 2,000 arxiv-mini texts, same template, same thread count, batch 32, 200
# single texts for latency. The two run alternately, ROUNDS times, so that load drifting on a shared machine
# hits both; compare the ratios of each round, not figures across sessions.
#
#   PEER_PY=~/.cache/peers/bin/python bash bench/embed-vs-peer.sh [OUT_DIR]
#
# PEER_PY: a Python with ../shared/bench/requirements.txt installed. ATLAS_ARGS adds flags to `bench embed`
# (e.g. "--precision int8").
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench-embed}
PEER_PY=${PEER_PY:-$HOME/.cache/peers/bin/python}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
BIN=${BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/arxiv-atlas/target}/release/arxiv-atlas}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
[ -x "$PEER_PY" ] || { echo "no peer Python at $PEER_PY (python3 -m venv ~/.cache/peers && ~/.cache/peers/bin/pip install -r ../shared/bench/requirements.txt)" >&2; exit 1; }
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores; $(date -u +%FT%TZ)"
for r in $(seq 1 "$ROUNDS"); do
  rm -f "$OUT/peer-$r.json"
  OMP_NUM_THREADS=$THREADS "$PEER_PY" ../shared/bench/peer_embed.py --n 2000 --batch-sizes 32 --repeats 3 \
    --latency-n 200 --threads "$THREADS" --results "$OUT/peer-$r.json" >&2
  # shellcheck disable=SC2086
  "$BIN" bench embed --limit 2000 --batch-size 32 --repeats 3 --latency-texts 200 --threads "$THREADS" \
    ${ATLAS_ARGS:-} --json >"$OUT/atlas-$r.json"
  python3 - "$OUT/peer-$r.json" "$OUT/atlas-$r.json" "$r" <<'PY'
import json, sys
p, a, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
print(f"round {r}: peer {p['embed_texts_per_s']:.1f} texts/s p50 {p['embed_latency_p50_ms']:.1f} ms | "
      f"arxiv-atlas {a['texts_per_s']:.1f} texts/s p50 {a['latency_p50_ms']:.1f} ms p95 {a['latency_p95_ms']:.1f} ms | "
      f"throughput x{a['texts_per_s'] / p['embed_texts_per_s']:.2f}, latency x{a['latency_p50_ms'] / p['embed_latency_p50_ms']:.2f}")
PY
done
