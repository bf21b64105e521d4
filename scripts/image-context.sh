#!/usr/bin/env bash
# Assembles the build context of docker/api.Dockerfile and docker/train.Dockerfile for an offline build
# (BINARY=context ORT=context): the release binary built here, ONNX Runtime's library, conf/, and optionally a
# model and an index to bake in (MODEL=context / INDEX=context). Nothing is written inside the repository.
#
# Usage: bash scripts/image-context.sh OUT [MODEL_DIR [INDEX_DIR]]
#   e.g. bash scripts/image-context.sh /tmp/atlas-image-context ../shared/models/all-MiniLM-L6-v2
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: image-context.sh OUT [MODEL_DIR [INDEX_DIR]]}"
model="${2:-}"
index="${3:-}"
# ARXIV_ATLAS_BIN: another binary (clones sharing one target folder overwrite each other's release/arxiv-atlas).
bin="${ARXIV_ATLAS_BIN:-${CARGO_TARGET_DIR:-target}/release/arxiv-atlas}"
[ -x "$bin" ] || { echo "image-context.sh: no release binary at $bin (cargo build --release -p arxiv-atlas)" >&2; exit 1; }
ort="$(readlink -f "$(bash scripts/setup-onnxruntime.sh)")"

rm -rf "$out"
mkdir -p "$out/onnxruntime"
cp "$bin" "$out/arxiv-atlas"
strip "$out/arxiv-atlas" 2>/dev/null || true
cp "$ort" "$out/onnxruntime/libonnxruntime.so"
cp -r conf "$out/conf"
if [ -n "$model" ]; then cp -rL "$model" "$out/model"; fi
if [ -n "$index" ]; then cp -rL "$index" "$out/index"; fi
du -sh "$out"/* >&2
echo "$out"
