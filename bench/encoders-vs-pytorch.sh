#!/usr/bin/env bash
# MPNet and DistilBERT encoders of arxiv-atlas (candle and the ONNX graph it writes) beside PyTorch
# sentence-transformers, on BASE-size random models (768 hidden, 12 layers, 12 heads, 3072 feed-forward; no
# weights of the real models are needed: speed does not depend on the values) built by the parity test's helper
# (crates/atlas-encoder/tests/helpers/make_tiny_models.py --size base). Same texts (the first N arxiv-mini
# papers, "{title} [SEP] {abstract}", truncated at 256 tokens), same thread count, batch 32; the three run one
# after another per model in one session, so compare within a run, not across sessions.
#
#   PEER_PY=~/.cache/peers/bin/python bash bench/encoders-vs-pytorch.sh [OUT_DIR]
#
# N (default 200), LATENCY (single texts, default 20), THREADS (default 2), REPEATS (default 1).
# The base models (about 0.4 GB each) are written under OUT_DIR/models and deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench-encoders}
PEER_PY=${PEER_PY:-$HOME/.cache/peers/bin/python}
THREADS=${THREADS:-2}
N=${N:-200}
LATENCY=${LATENCY:-20}
REPEATS=${REPEATS:-1}
BIN=${BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/arxiv-atlas/target}/release/arxiv-atlas}
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
[ -x "$PEER_PY" ] || { echo "no peer Python at $PEER_PY (bash scripts/setup-torch.sh prints one)" >&2; exit 1; }
mkdir -p "$OUT"
MODELS="$OUT/models"
trap 'rm -rf "$MODELS"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores; $(date -u +%FT%TZ)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PEER_PY" crates/atlas-encoder/tests/helpers/make_tiny_models.py --size base --out "$MODELS" \
  --tokenizer ../shared/models/all-MiniLM-L6-v2 >/dev/null 2>&1
for model in mpnet distilbert; do
  dir="$MODELS/$model"
  rm -f "$OUT/$model-pytorch.json"
  OMP_NUM_THREADS=$THREADS "$PEER_PY" ../shared/bench/peer_embed.py --model "$dir" --n "$N" --batch-sizes 32 \
    --repeats "$REPEATS" --latency-n "$LATENCY" --threads "$THREADS" --results "$OUT/$model-pytorch.json" >&2
  for backend in candle onnx; do
    "$BIN" bench embed --model-dir "$dir" --engine "$backend" --limit "$N" --batch-size 32 --repeats "$REPEATS" \
      --latency-texts "$LATENCY" --threads "$THREADS" --json >"$OUT/$model-$backend.json"
  done
  python3 - "$OUT" "$model" <<'PY'
import json, sys
out, model = sys.argv[1], sys.argv[2]
p = json.load(open(f"{out}/{model}-pytorch.json"))
print(f"{model:10s} pytorch  {p['embed_texts_per_s']:7.2f} texts/s  p50 {p['embed_latency_p50_ms']:8.1f} ms")
for b in ("candle", "onnx"):
    a = json.load(open(f"{out}/{model}-{b}.json"))
    print(f"{model:10s} {b:8s} {a['texts_per_s']:7.2f} texts/s  p50 {a['latency_p50_ms']:8.1f} ms  "
          f"(x{a['texts_per_s'] / p['embed_texts_per_s']:.2f} throughput, x{a['latency_p50_ms'] / p['embed_latency_p50_ms']:.2f} latency)")
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
