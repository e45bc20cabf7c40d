#!/usr/bin/env bash
# The CUDA 11 and cuDNN 8 libraries libtensorflow 2.9.1 (tfjs-node-gpu 4.22) dlopens, from PyPI's
# nvidia-*-cu11 wheels, into .tools/cuda11 (pip --target: no venv, nothing else sees them). CUDA 11.8
# is the newest CUDA 11 on PyPI; a binary built for 11.2 runs on it by CUDA's minor-version
# compatibility, and cuDNN 8.6 satisfies TensorFlow's "same major, equal or higher minor than 8.1"
# check (the pins are the ones TensorFlow 2.12's install guide used for CUDA 11.8). 1.69 GB to
# download, 2.8 GB installed (about 4 minutes here). Prints the LD_LIBRARY_PATH entries (one line, ':'-joined) on stdout.
# Idempotent: the pins are stamped, a second run only prints the path.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CUDA11_DIR:-$ROOT/.tools/cuda11}
PINS=(
  nvidia-cuda-runtime-cu11==11.8.89 # libcudart.so.11.0
  nvidia-cublas-cu11==11.11.3.6     # libcublas.so.11, libcublasLt.so.11
  'nvidia-cufft-cu11==10.9.0.*'     # libcufft.so.10 (10.9.0 series)
  'nvidia-curand-cu11==10.3.0.*'    # libcurand.so.10 (10.3.0 series)
  nvidia-cusolver-cu11==11.4.1.48   # libcusolver.so.11
  nvidia-cusparse-cu11==11.7.5.86   # libcusparse.so.11
  nvidia-cudnn-cu11==8.6.0.163      # libcudnn.so.8 (+ its ops/cnn/adv sub-libraries)
)
STAMP=$TARGET/.retrain-pins
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "${PINS[*]}" ]; then
  started=$(date +%s)
  echo "[cuda11] installing ${#PINS[@]} nvidia-*-cu11 wheels into ${TARGET#"$ROOT"/} (1.7 GB download)" >&2
  rm -rf "$TARGET"
  python3 -m pip install --quiet --disable-pip-version-check --no-input --no-deps --no-compile \
    --only-binary=:all: --target "$TARGET" "${PINS[@]}" >&2
  echo "${PINS[*]}" >"$STAMP"
  echo "[cuda11] installed in $(($(date +%s) - started)) s; $(du -sh "$TARGET" | cut -f1)" >&2
fi
# Every soname libtensorflow 2.9 asks for must be there, or it registers no GPU device.
missing=()
for so in libcudart.so.11.0 libcublas.so.11 libcublasLt.so.11 libcufft.so.10 libcurand.so.10 \
  libcusolver.so.11 libcusparse.so.11 libcudnn.so.8; do
  compgen -G "$TARGET/nvidia/*/lib/$so" >/dev/null || missing+=("$so")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[cuda11] missing after install: ${missing[*]}" >&2
  exit 1
fi
dirs=("$TARGET"/nvidia/*/lib)
(IFS=:; echo "${dirs[*]}")
