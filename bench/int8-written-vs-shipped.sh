#!/usr/bin/env bash
# The int8 graph arxiv-atlas quantizes itself from model.safetensors (what a fine-tuned model serves at int8)
# beside the int8 graph Hugging Face ships with all-MiniLM-L6-v2 (onnx/model_qint8_avx2.onnx), on the frozen
# model, in one session: speed (`bench embed`, alternating A B A B), cosine of every arxiv-mini paper to fp32,
# same-category retrieval (`evaluate-retrieval`) and `embedding_lr` test accuracy on arxiv-mini.
# The written graph is reached through a copy of the model folder without `onnx/` (links to the same files).
#
#   bash bench/int8-written-vs-shipped.sh [OUT_DIR]
#
# PY: a Python with numpy and safetensors (default: the torch venv of scripts/setup-torch.sh).
# N: papers of the speed runs (default 600); THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench-int8}
PY=${PY:-$HOME/.cache/arxiv-atlas/torch-venv/bin/python}
N=${N:-600}
THREADS=${THREADS:-2}
BIN=${BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/arxiv-atlas/target}/release/arxiv-atlas}
MODEL=${MODEL:-../shared/models/all-MiniLM-L6-v2}
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
mkdir -p "$OUT"
BARE="$OUT/model-without-onnx"
rm -rf "$BARE" && mkdir -p "$BARE"
for f in "$MODEL"/*; do [ "$(basename "$f")" = onnx ] || ln -s "$(readlink -f "$f")" "$BARE/"; done
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores;" \
  "flags: $(grep -m1 -o -w 'avx512_vnni\|avx512f\|avx_vnni\|avx2' /proc/cpuinfo | sort -u | xargs); $(date -u +%FT%TZ)"

echo "== speed: $N arxiv-mini papers, batch 32, $THREADS threads (shipped, written, shipped, written)"
for round in 1 2; do
  for m in "$MODEL" "$BARE"; do
    "$BIN" -q bench embed --model-dir "$m" --precision int8 --threads "$THREADS" --limit "$N" --repeats 2 \
      --latency-texts 50 | grep -E "^(backend|throughput|latency)"
  done
done

echo "== vectors of all 5,000 arxiv-mini papers"
"$BIN" -q ingest ../shared/data/arxiv-mini.jsonl.gz --out "$OUT/mini" >/dev/null
"$BIN" -q embed --input "$OUT/mini" --out "$OUT/fp32" --model-dir "$MODEL" --precision fp32 >/dev/null
"$BIN" -q embed --input "$OUT/mini" --out "$OUT/shipped" --model-dir "$MODEL" --precision int8 >/dev/null
"$BIN" -q embed --input "$OUT/mini" --out "$OUT/written" --model-dir "$BARE" --precision int8 >/dev/null
"$PY" - "$OUT" <<'PY'
import sys, numpy as np
from safetensors.numpy import load_file
out = sys.argv[1]
def load(name):
    t = load_file(f"{out}/{name}/embeddings.safetensors")
    return next(iter(t.values())).astype(np.float64)
ref = load("fp32")
for name in ("shipped", "written"):
    v = load(name)
    c = (ref * v).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(v, axis=1)
    print(f"{name}: cosine to fp32 over {len(c)} papers: mean {c.mean():.5f}, min {c.min():.5f}, "
          f"p1 {np.percentile(c, 1):.5f}")
PY
for s in fp32 shipped written; do
  printf '%s retrieval (exact): ' "$s"
  "$BIN" -q evaluate-retrieval --embeddings "$OUT/$s" --json | "$PY" -c \
    'import json,sys; m=json.load(sys.stdin)["exact"]["metrics"]; print(" ".join(f"{k} {m[k]:.4f}" for k in ("p_at_1","p_at_10","mrr_at_10","ndcg_at_10")))'
done

echo "== embedding_lr on arxiv-mini, test accuracy"
for s in fp32 shipped written; do
  case $s in fp32) m=$MODEL; p=fp32 ;; shipped) m=$MODEL; p=int8 ;; written) m=$BARE; p=int8 ;; esac
  "$BIN" -q train experiment=embedding_lr data=mini "data.cache_dir=$OUT/processed" "experiment.encoder.model_dir=$m" \
    "experiment.encoder.precision=$p" "run.dir=$OUT/runs/lr-$s" --json >/dev/null
  printf '%s: ' "$s"
  "$BIN" -q evaluate --model "$OUT/runs/lr-$s" --input "$OUT/mini" --split test --json | "$PY" -c \
    'import json,sys; m=json.load(sys.stdin); m=m.get("metrics", m); print(f"accuracy {m["accuracy"]:.4f}, macro F1 {m["macro_f1"]:.4f}")'
done
