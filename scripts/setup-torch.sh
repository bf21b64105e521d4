#!/usr/bin/env bash
# Provides a Python with PyTorch, transformers and sentence-transformers at the pins of
# ../shared/bench/requirements.txt, for the encoder parity test against PyTorch
# (crates/atlas-encoder/tests/architectures.rs), and prints its path.
#
# Idempotent and quick when present: it reuses, in order, $ARXIV_ATLAS_TORCH_PYTHON, the venv it made before
# ($ARXIV_ATLAS_TORCH_HOME, default ~/.cache/arxiv-atlas/torch-venv) and the peer-baseline venv
# (~/.cache/peers), the first whose torch, transformers and sentence-transformers have exactly the pinned
# versions; only when none does it creates the venv and installs the pins from PyPI (about 3 GB with torch's
# CUDA runtime wheels). arxiv-atlas itself never needs Python.
#
# Usage: export ARXIV_ATLAS_TORCH_PYTHON="$(bash scripts/setup-torch.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."

REQ=../shared/bench/requirements.txt
VENV="${ARXIV_ATLAS_TORCH_HOME:-$HOME/.cache/arxiv-atlas/torch-venv}"
PACKAGES=(torch transformers sentence-transformers tokenizers safetensors huggingface_hub numpy)

[ -f "$REQ" ] || { echo "setup-torch.sh: $REQ is missing (the pinned versions)" >&2; exit 1; }
pin() { sed -nE "s/^$1==([^ ]+).*/\1/p" "$REQ"; }
want="torch=$(pin torch) transformers=$(pin transformers) sentence_transformers=$(pin sentence-transformers)"

# Prints "torch=X transformers=Y sentence_transformers=Z" for a Python, or nothing when it lacks one of them.
versions() {
  "$1" -c "import torch, transformers, sentence_transformers as s
print(f\"torch={torch.__version__.split('+')[0]} transformers={transformers.__version__} sentence_transformers={s.__version__}\")" \
    2>/dev/null || true
}

for py in "${ARXIV_ATLAS_TORCH_PYTHON:-}" "$VENV/bin/python" "$HOME/.cache/peers/bin/python"; do
  if [ -n "$py" ] && [ -x "$py" ] && [ "$(versions "$py")" = "$want" ]; then
    echo "$py"
    exit 0
  fi
done

python3 -m venv "$VENV" >&2 || {
  echo "setup-torch.sh: python3 -m venv failed (apt install python3-venv)" >&2
  exit 1
}
specs=()
for p in "${PACKAGES[@]}"; do
  v="$(pin "$p")"
  [ -n "$v" ] || { echo "setup-torch.sh: no pin for $p in $REQ" >&2; exit 1; }
  specs+=("$p==$v")
done
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${specs[@]}" >&2
got="$(versions "$VENV/bin/python")"
[ "$got" = "$want" ] || { echo "setup-torch.sh: installed $got, wanted $want" >&2; exit 1; }
echo "$VENV/bin/python"
