#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that atlas-encoder's ONNX backend loads at run time, and prints its path.
#
# The library comes from the `onnxruntime` PyPI wheel (the only registry this project can reach that ships it),
# installed with --no-deps into a private venv: nothing imports the Python package, we only need
# onnxruntime/capi/libonnxruntime.so.*. The script is idempotent: a second run only prints the path.
# A stable symlink, $ORT_HOME/libonnxruntime.so, is what the encoder looks for when ORT_DYLIB_PATH is unset.
#
# Usage: bash scripts/setup-onnxruntime.sh            # prints e.g. /root/.cache/arxiv-atlas/ort/libonnxruntime.so
#        export ORT_DYLIB_PATH="$(bash scripts/setup-onnxruntime.sh)"   # optional: the encoder finds the link anyway
set -euo pipefail

# Pinned: ort 2.0.0-rc.15 (feature api-22) needs ONNX Runtime >= 1.22; the encoder's int8 accuracy floor was
# measured with this version.
ORT_VERSION="1.32.0"
ORT_HOME="${ARXIV_ATLAS_ORT_HOME:-$HOME/.cache/arxiv-atlas/ort}"
VENV="$ORT_HOME/venv-$ORT_VERSION"
LINK="$ORT_HOME/libonnxruntime.so"

find_lib() {
  # The wheel names the file libonnxruntime.so.<version>; pick it over any other match.
  { find "$VENV" -path '*onnxruntime/capi/libonnxruntime.so*' -type f 2>/dev/null || true; } | sort | tail -n 1
}

lib="$(find_lib)"
if [ -z "$lib" ]; then
  mkdir -p "$ORT_HOME"
  echo "installing onnxruntime==$ORT_VERSION into $VENV" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --no-deps "onnxruntime==$ORT_VERSION" >&2
  lib="$(find_lib)"
  if [ -z "$lib" ]; then
    echo "error: onnxruntime $ORT_VERSION installed but no libonnxruntime.so* found under $VENV" >&2
    exit 1
  fi
fi
# Re-point the link every run so that a version bump above takes effect.
ln -sfn "$lib" "$LINK"
echo "$LINK"
