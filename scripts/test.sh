#!/usr/bin/env bash
# The whole test suite. The README names this command and .ci/run calls it, so CI and developers run the same.
# Builds are cached outside the clone (CARGO_TARGET_DIR) so a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arxiv-atlas/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if [ ! -d ../shared/data ]; then
  echo "note: ../shared/data not found: tests that need the real arXiv data will print 'skipping' and pass" >&2
fi

step() { printf '\n== %s\n' "$*"; }

# The encoder's ONNX backend loads ONNX Runtime at run time; install it (idempotent, from PyPI) so its
# parity and end-to-end tests run instead of skipping.
step "onnxruntime"
bash scripts/setup-onnxruntime.sh

step "format"
cargo fmt --all -- --check
step "lint"
cargo clippy --workspace --all-targets --release --locked -- -D warnings
# Tests run optimised: the end-to-end tests ingest and train on real data.
step "tests"
cargo test --workspace --release --locked
