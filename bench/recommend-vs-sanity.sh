#!/usr/bin/env bash
# Recommendations from a reading list (docs/recommend.md): arxiv-atlas's per-list SVM over embeddings + TF-IDF
# beside two baselines in one run, on the same papers and lists: the embedding centroid (cosine to the mean of
# the list's vectors) and arxiv-sanity-lite's method (bench/sanity_recommend.py: scikit-learn TF-IDF +
# LinearSVC with its settings). Protocol: 500 lists of 5 train-split papers of one primary category (seed 20);
# candidates = the test split; hit = a recommendation of the list's primary category; P@10. Then the latency of
# one recommendation over the whole dataset (TF-IDF of every paper, k = 20, no filter).
#
#   PEER_PY=~/.cache/peers/bin/python bash bench/recommend-vs-sanity.sh [EMBEDDINGS_DIR] [DATASET] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
EMB=${1:-data/embeddings/arxiv-100k-minilm}
DATA=${2:-data/arxiv-100k}
OUT=${3:-target/bench-recommend}
PEER_PY=${PEER_PY:-$HOME/.cache/peers/bin/python}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/arxiv-atlas/target}
mkdir -p "$OUT"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores; $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
# RECOMMEND_ARGS: more flags of the Rust side, e.g. "--candidates validation" (tuning) or "--latency-requests 0".
cargo run --release -q -p atlas-recommend --example recommend_bench -- \
  --embeddings "$EMB" --papers "$DATA" --out "$OUT" ${RECOMMEND_ARGS:-} >/dev/null
"$PEER_PY" bench/sanity_recommend.py "$OUT" >/dev/null
"$PEER_PY" - "$OUT/rust.json" "$OUT/sanity.json" <<'PY'
import json, sys
r, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
p = r["protocol"]
print(f"{p['lists']} lists of {p['size']} (seed {p['seed']}), {p['n_candidates']} {p['candidates']} candidates, "
      f"{p['n_papers']} papers")
print("| method | P@10 |")
print("|---|---|")
print(f"| arxiv-atlas (SVM on embedding + TF-IDF) | {r['p_at_10']['ours']:.3f} |")
print(f"| embedding centroid | {r['p_at_10']['centroid']:.3f} |")
print(f"| arxiv-sanity-lite (TF-IDF + LinearSVC) | {s['p_at_10']:.3f} |")
print(f"arxiv-sanity-lite: {s['mean_s_per_list'] * 1e3:.0f} ms a list on {s['papers']} papers")
if r.get("latency_100k"):
    l = r["latency_100k"]
    print(f"arxiv-atlas over {l['papers']} papers: p50 {l['p50_ms']:.0f} ms, p95 {l['p95_ms']:.0f} ms a request "
          f"({l['requests']} requests, {l['threads']} threads); TF-IDF of all papers {l['tfidf_fit_s']:.0f} s")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
