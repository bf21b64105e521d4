#!/usr/bin/env bash
# Similar-paper search of arxiv-atlas (usearch HNSW) beside the FAISS peer, on the same machine in one session,
# on the same vectors: the MiniLM embedding set of arxiv-100k written by `arxiv-atlas embed`. Base = train +
# validation papers, queries = the first 1,000 test papers, k = 10, M 32, efConstruction 200, one thread per
# query, recall@10 against exact search (the protocol of ../shared/bench/RESULTS.md).
#
#   PEER_PY=~/.cache/peers/bin/python bash bench/search-vs-faiss.sh [EMBEDDINGS_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
EMB=${1:-data/embeddings/arxiv-100k-minilm}
OUT=${2:-target/bench-search}
PEER_PY=${PEER_PY:-$HOME/.cache/peers/bin/python}
EF=${EF:-16,24,32,48,64,128}
BIN=${BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/arxiv-atlas/target}/release/arxiv-atlas}
mkdir -p "$OUT"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores; $(date -u +%FT%TZ)"
# The peer reads .npy + {"ids": [...]}: export the same vectors (safetensors is readable from numpy directly).
"$PEER_PY" - "$EMB" "$OUT" <<'PY'
import json, sys
import numpy as np
from safetensors.numpy import load_file
emb, out = sys.argv[1], sys.argv[2]
E = load_file(f"{emb}/embeddings.safetensors")["embeddings"]
ids = open(f"{emb}/ids.txt", encoding="utf-8").read().split("\n")[: E.shape[0]]
np.save(f"{out}/emb.npy", E)
json.dump({"ids": ids}, open(f"{out}/meta.json", "w"))
print(f"exported {E.shape} to {out}/emb.npy")
PY
rm -f "$OUT/faiss.json"
"$PEER_PY" ../shared/bench/peer_faiss.py --emb "$OUT/emb.npy" --meta "$OUT/meta.json" --ef-search "$EF" \
  --results "$OUT/faiss.json"
# ATLAS_ARGS: build options of the arxiv-atlas side, e.g. "--scalar f32" (default: i8 graph rescored with f16).
"$BIN" bench search --embeddings "$EMB" --ef-search "$EF" ${ATLAS_ARGS:-} --json >"$OUT/atlas.json"
"$PEER_PY" - "$OUT/faiss.json" "$OUT/atlas.json" <<'PY'
import json, sys
f, a = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(f"build: faiss {f['faiss_hnsw_build_s']} s, arxiv-atlas {a['build_s']:.1f} s")
print(f"exact 1 thread: faiss {f['faiss_flat_qps_1t']} QPS, arxiv-atlas {a['exact_qps']:.0f} QPS")
fs = {r['ef_search']: r for r in f['faiss_hnsw_sweep']}
for r in a['sweep']:
    p = fs.get(r['ef'])
    if p:
        print(f"ef {r['ef']:>4}: faiss recall {p['recall_at_10']:.4f} {p['qps_1t']:>7.0f} QPS | "
              f"arxiv-atlas recall {r['recall_at_10']:.4f} {r['qps']:>7.0f} QPS | x{r['qps'] / p['qps_1t']:.2f}")
# Equal recall: arxiv-atlas's QPS at each FAISS point's recall, linear between the two sweep points around it.
ours = sorted((r['recall_at_10'], r['qps']) for r in a['sweep'])
for p in sorted(f['faiss_hnsw_sweep'], key=lambda r: r['recall_at_10']):
    R = p['recall_at_10']
    for (r0, q0), (r1, q1) in zip(ours, ours[1:]):
        if r0 <= R <= r1:
            q = q0 + (q1 - q0) * (R - r0) / (r1 - r0) if r1 > r0 else min(q0, q1)
            print(f"at recall {R:.4f}: faiss {p['qps_1t']:>7.0f} QPS (ef {p['ef_search']}), "
                  f"arxiv-atlas {q:>7.0f} QPS (interpolated) | x{q / p['qps_1t']:.2f}")
            break
    else:
        print(f"at recall {R:.4f}: outside the arxiv-atlas sweep")
PY
