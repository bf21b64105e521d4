#!/usr/bin/env bash
# Installs DVC (pinned, from PyPI) into a private venv for the pipeline test, and prints the path of its `dvc`.
# Idempotent: a second run only prints the path. arxiv-atlas itself never needs Python; only the DVC pipeline
# (dvc.yaml) and its test do.
#
# Usage: bash scripts/setup-dvc.sh                 # prints e.g. /root/.cache/arxiv-atlas/dvc-3.67.1/bin/dvc
#        export ARXIV_ATLAS_DVC="$(bash scripts/setup-dvc.sh)"
set -euo pipefail

DVC_VERSION="3.67.1"
VENV="${ARXIV_ATLAS_DVC_HOME:-$HOME/.cache/arxiv-atlas}/dvc-$DVC_VERSION"
DVC="$VENV/bin/dvc"

if [ -x "$DVC" ] && "$DVC" --version >/dev/null 2>&1; then
  echo "$DVC"
  exit 0
fi
python3 -m venv "$VENV" >&2 || {
  echo "setup-dvc.sh: python3 -m venv failed (apt install python3-venv)" >&2
  exit 1
}
"$VENV/bin/pip" install --quiet --disable-pip-version-check "dvc==$DVC_VERSION" >&2
"$DVC" --version >/dev/null
echo "$DVC"
