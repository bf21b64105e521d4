#!/usr/bin/env bash
# The serving load test of arxiv-atlas and of the FastAPI + uvicorn peer (../shared/bench/peer_api.py) one after
# the other on this machine, so that their ratio is not mixed with machine-to-machine or run-to-run drift.
#
# The peer's service needs its artifacts: an LR head on MiniLM embeddings of arxiv-100k, a FAISS HNSW index over
# the train + validation papers, and their ids/titles. Its own scripts make them from sentence-transformers
# embeddings (~75 min of PyTorch on 2 cores); here they are made by the same scripts (peer_minilm.py --stage eval,
# peer_faiss.py) from the `arxiv-atlas embed` vectors given as EMBEDDINGS (fp32 ones equal PyTorch's, cosine
# 1.0000000; int8 ones are what an int8 arxiv-atlas stack serves). The vectors shape the peer's head and index,
# not its speed: its service still encodes every request with PyTorch fp32.
# The load test itself is the peer's own loadtest.sh and this repo's bench/loadtest.sh (same bodies, same wrk).
#
#   PEER_PY=~/.cache/peers/bin/python bash bench/loadtest-vs-peer.sh [MODEL_RUN] [INDEX_DIR] [EMBEDDINGS] [OUT]
#   env: PEER_EF (32: the FAISS step's pick), DURATION (30s), CONNS ("10 50")
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-runs/emb-lr-100k}
INDEX=${2:-data/indexes/arxiv-100k-usearch}
EMB=${3:-data/embeddings/arxiv-100k-minilm}
OUT=${4:-target/loadtest-vs-peer}
PEER_PY=${PEER_PY:-$HOME/.cache/peers/bin/python}
SHARED=$(cd ../shared && pwd)
PEER_EMB="$OUT/peer-emb"
mkdir -p "$PEER_EMB"
OUT=$(cd "$OUT" && pwd); PEER_EMB="$OUT/peer-emb"

if [ ! -f "$PEER_EMB/minilm_lr.joblib" ] || [ ! -f "$PEER_EMB/hnsw.faiss" ]; then
  echo "== peer artifacts from $EMB"
  "$PEER_PY" - "$EMB" "$SHARED/data/arxiv-100k.jsonl.gz" "$PEER_EMB" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[2].rsplit("/data/", 1)[0] + "/bench")
import numpy as np
from safetensors.numpy import load_file
import common
emb, data, out = sys.argv[1:4]
E = load_file(f"{emb}/embeddings.safetensors")["embeddings"]
ids = open(f"{emb}/ids.txt", encoding="utf-8").read().split("\n")[: E.shape[0]]
recs = {r["id"]: r for r in common.read_jsonl(data)}
assert set(ids) == set(recs), "the embedding set is not arxiv-100k"
np.save(f"{out}/arxiv100k.npy", E.astype(np.float32))
json.dump({"source": "arxiv-atlas embed", "ids": ids, "primary": [common.primary(recs[i]) for i in ids],
           "titles": [recs[i]["title"] for i in ids]}, open(f"{out}/arxiv100k.meta.json", "w"), ensure_ascii=False)
print(f"peer-emb: {E.shape} vectors, {len(ids)} ids")
PY
  # The head the peer serves: its own LR fit (C = 16 won its grid), on these vectors.
  "$PEER_PY" "$SHARED/bench/peer_minilm.py" --stage eval --emb-dir "$PEER_EMB" --grid 16 --max-iter 300 \
    --results "$OUT/peer-artifacts.json"
  "$PEER_PY" "$SHARED/bench/peer_faiss.py" --emb "$PEER_EMB/arxiv100k.npy" --meta "$PEER_EMB/arxiv100k.meta.json" \
    --ef-search "${PEER_EF:-32}" --index-out "$PEER_EMB/hnsw.faiss" --results "$OUT/peer-artifacts.json"
fi

echo "== peer (FastAPI + uvicorn), $(date -u +%FT%TZ)"
rm -f "$OUT/peer.json"
PEER_MODEL="$SHARED/models/all-MiniLM-L6-v2" PEER_HEAD="$PEER_EMB/minilm_lr.joblib" PEER_INDEX="$PEER_EMB/hnsw.faiss" PEER_META="$PEER_EMB/arxiv100k.meta.json" \
  PEER_EF=${PEER_EF:-32} MINI="$SHARED/data/arxiv-mini.jsonl.gz" WORK="$OUT/peer-work" \
  bash "$SHARED/bench/loadtest.sh" "$PEER_PY" "$OUT/peer.json" >"$OUT/peer.log" 2>&1 || { cat "$OUT/peer.log"; exit 1; }
grep -E "cold start|Requests/sec" "$OUT/peer.log" || true

echo "== arxiv-atlas, $(date -u +%FT%TZ)"
ARXIV_ATLAS_EMBED_CACHE=off bash bench/loadtest.sh "$MODEL" "$INDEX" "$OUT/atlas" >"$OUT/atlas.log" 2>&1 \
  || { cat "$OUT/atlas.log"; exit 1; }
grep -E "cold start|Requests/sec" "$OUT/atlas.log" || true

python3 - "$OUT/peer.json" "$OUT/atlas/results.json" <<'PY'
import json, sys
p, a = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print("| figure | FastAPI peer | arxiv-atlas | ratio |")
print("|---|---|---|---|")
for k in sorted(a):
    if k in p and isinstance(a[k], (int, float)) and not k.endswith(("_requests", "_errors")):
        r = a[k] / p[k] if p[k] else float("nan")
        print(f"| `{k}` | {p[k]} | {a[k]} | {r:.2f} |")
for k in sorted(a):
    if k.endswith("_errors"):
        print(f"| `{k}` | {p.get(k)} | {a[k]} | |")
PY
