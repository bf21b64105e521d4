#!/usr/bin/env bash
# Installs a CUDA 13.0 toolkit (nvcc and the libraries candle links against) from NVIDIA's PyPI wheels, and
# prints the environment that `cargo build --features cuda` needs. No GPU and no driver are needed to build.
#
# Usage: eval "$(bash scripts/setup-cuda-toolkit.sh)"
#        cargo build --release -p atlas-encoder --features cuda --examples
#
# Why this way: the machines that build arxiv-atlas reach PyPI but not NVIDIA's download site, and PyPI carries
# the toolkit as wheels (nvidia-cuda-nvcc, nvidia-cuda-runtime, ...). They install into one folder,
# <venv>/lib/python3.*/site-packages/nvidia/cu13 with bin/ include/ lib/ nvvm/, which is a toolkit layout except
# for what this script adds there:
#   * lib/libX.so -> libX.so.N links (the wheels ship only the versioned names; the linker asks for -lX),
#   * lib64 -> lib (cudaforge, candle-kernels' build helper, looks for lib64),
#   * lib/stubs/libcuda.so, a link-time stand-in for the driver library built from cuda.h's function names,
#     with the soname libcuda.so.1. candle 0.11.1 turns on cudarc's `dynamic-linking`, so the binary names
#     libcuda.so.1 (and libcublas.so.13, libcublasLt.so.13, libcurand.so.10, libnvrtc.so.13, libcudart.so.13)
#     as needed libraries: they are resolved when the program starts, from the driver and the CUDA libraries
#     of the machine it runs on. The stub is never loaded at run time (it is not on LD_LIBRARY_PATH).
#
# Versions: CUDA 13.0, pinned. The kernels of candle-kernels are compiled to PTX and JIT-compiled by the driver
# when loaded; a driver only reads PTX of its own CUDA version or older, so nvcc must not be newer than the
# driver of the GPU machine (driver 580 = CUDA 13.0). cudarc 0.19 reads the version with `nvcc --version`
# (candle enables `cuda-version-from-build-system`); CUDARC_CUDA_VERSION=13000 pins it all the same.
#
# CUDA_COMPUTE_CAP (default 90: H100/H200) must be set because there is no GPU here to ask; override it for
# other GPUs, e.g. CUDA_COMPUTE_CAP=89 (L4, RTX 40xx) or 80 (A100). The script is idempotent: a second run only
# checks and prints.
set -euo pipefail

CUDA_HOME_DIR="${ARXIV_ATLAS_CUDA_HOME:-$HOME/.cache/arxiv-atlas/cuda}"
COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
PACKAGES=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85
  nvidia-cuda-nvrtc==13.0.88
  nvidia-cublas==13.0.2.14
  nvidia-curand==10.4.0.35
)
STAMP="$CUDA_HOME_DIR/.installed"
WANT="${PACKAGES[*]}"

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "installing the CUDA 13.0 toolkit wheels into $CUDA_HOME_DIR" >&2
  [ -x "$CUDA_HOME_DIR/bin/python" ] || python3 -m venv "$CUDA_HOME_DIR" >&2
  # --no-deps: every wheel is named and pinned above (left to itself pip pulls the newest nvvm and crt, whose
  # PTX a CUDA 13.0 driver cannot load).
  "$CUDA_HOME_DIR/bin/python" -m pip install --quiet --no-deps "${PACKAGES[@]}" >&2
  echo "$WANT" >"$STAMP"
fi

ROOT="$(ls -d "$CUDA_HOME_DIR"/lib/python3*/site-packages/nvidia/cu13 2>/dev/null | head -n 1)"
if [ -z "$ROOT" ] || [ ! -x "$ROOT/bin/nvcc" ]; then
  echo "error: no nvidia/cu13/bin/nvcc under $CUDA_HOME_DIR" >&2
  exit 1
fi

# Unversioned names for the linker.
for lib in cudart cublas cublasLt curand nvrtc; do
  real="$(cd "$ROOT/lib" && ls lib$lib.so.* 2>/dev/null | grep -E "^lib$lib\.so\.[0-9]+$" | head -n 1 || true)"
  if [ -z "$real" ]; then
    echo "error: $ROOT/lib has no lib$lib.so.N" >&2
    exit 1
  fi
  ln -sfn "$real" "$ROOT/lib/lib$lib.so"
done
[ -e "$ROOT/lib64" ] || ln -s lib "$ROOT/lib64"

# Link-time stand-in for the driver library.
if [ ! -f "$ROOT/lib/stubs/libcuda.so" ] || [ "$ROOT/include/cuda.h" -nt "$ROOT/lib/stubs/libcuda.so" ]; then
  mkdir -p "$ROOT/lib/stubs"
  src="$(mktemp --suffix=.c)"
  {
    echo "/* Link-time stub of libcuda.so.1, generated from cuda.h by scripts/setup-cuda-toolkit.sh. */"
    grep -oE '\bcu[A-Z][A-Za-z0-9_]*\b' "$ROOT/include/cuda.h" | sort -u |
      sed 's/.*/int &(void) { return 999; \/* CUDA_ERROR_UNKNOWN *\/ }/'
  } >"$src"
  ${CC:-cc} -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$ROOT/lib/stubs/libcuda.so" "$src"
  rm -f "$src"
fi

version="$("$ROOT/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')"
echo "CUDA toolkit $version at $ROOT (compute capability $COMPUTE_CAP)" >&2

cat <<EOF
export CUDA_ROOT="$ROOT"
export CUDA_PATH="$ROOT"
export CUDA_HOME="$ROOT"
export NVCC="$ROOT/bin/nvcc"
export PATH="$ROOT/bin:\$PATH"
export CUDA_COMPUTE_CAP="$COMPUTE_CAP"
export CUDARC_CUDA_VERSION="13000"
export LD_LIBRARY_PATH="$ROOT/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
