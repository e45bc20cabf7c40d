#!/usr/bin/env bash
# Builds @tensorflow/tfjs-node-gpu 4.22.0 where its install script cannot download libtensorflow-gpu:
# the C library comes from the PyPI `tensorflow==2.9.1` wheel (Linux `tensorflow` wheels carry the CUDA
# kernels; 2.9.1 is the libtensorflow tfjs-node-gpu 4.22 is built for: CUDA 11.2, cuDNN 8.1), its
# CPython symbols stubbed and the N-API binding compiled here — the way scripts/install-tfjs-node.sh
# builds the CPU package from tensorflow-cpu, by the same steps (scripts/lib/tfjs-from-wheel.sh). The
# CUDA 11 and cuDNN 8 libraries it dlopens at start-up are not in the wheel (scripts/gpu/install-cuda11.sh,
# or a CUDA 11.8 + cuDNN 8 image, provides them).
#
# Installed OUTSIDE node_modules, in $DEST (default .tools/tfjs-gpu/node_modules/@tensorflow/tfjs-node-gpu):
# the package's own requires (@tensorflow/tfjs, node-pre-gyp, ...) resolve up the tree to the project's
# node_modules, while the project's backend choice (`auto`) and tests keep seeing the package they had.
# scripts/gpu/bench-tfjs.ts loads it by path. Needs what install-tfjs-node.sh needs (pip, g++, make,
# patchelf, the project's npm packages); the wheel (512 MB) is cached in .tools/cache/wheel, the build is
# ~1.1 GB. Idempotent: does nothing when the binding is already built from the same wheel.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib/tfjs-from-wheel.sh"
TFW_LOG="[tfjs-node-gpu] "
DEST=${DEST:-$ROOT/.tools/tfjs-gpu/node_modules/@tensorflow/tfjs-node-gpu}
WORK=$ROOT/.tools/cache/tfjs-node-gpu
WHEEL_DIR=$ROOT/.tools/cache/wheel
NAPI=8
STAMP=$DEST/.retrain-built-from
mkdir -p "$WORK" "$WHEEL_DIR"

# 1. the GPU wheel (cached)
tfw_fetch_wheel WHL tensorflow==2.9.1 "$WHEEL_DIR" "the GPU wheel, 512 MB"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(basename "$WHL") napi-v$NAPI $(node --version)" ] &&
  [ -f "$DEST/lib/napi-v$NAPI/tfjs_binding.node" ]; then
  echo "[tfjs-node-gpu] cached in ${DEST#"$ROOT"/}" >&2
  exit 0
fi

# 2. the npm package itself (sources, binding.gyp), without its install script or dependencies
TGZ=$(ls "$WORK"/tensorflow-tfjs-node-gpu-4.22.0.tgz 2>/dev/null || true)
if [ -z "$TGZ" ]; then
  (cd "$WORK" && npm pack --silent @tensorflow/tfjs-node-gpu@4.22.0 >/dev/null)
  TGZ=$WORK/tensorflow-tfjs-node-gpu-4.22.0.tgz
fi
rm -rf "$DEST" && mkdir -p "$DEST"
tar -xzf "$TGZ" -C "$DEST" --strip-components=1

# 3. deps/ in the layout of libtensorflow-gpu-linux-x86_64-2.9.1.tar.gz, with the CPython stub (as
# install-tfjs-node.sh: the pywrap library references ~190 Py* symbols)
echo "[tfjs-node-gpu] extracting libtensorflow from $(basename "$WHL")" >&2
tfw_libtensorflow "$WHL" "$DEST" "$WORK"

# 4. the N-API binding
echo "[tfjs-node-gpu] compiling the N-API binding" >&2
tfw_build_binding "$DEST" "$NAPI" >&2
rm -rf "$DEST/build"
echo "$(basename "$WHL") napi-v$NAPI $(node --version)" >"$STAMP"
echo "[tfjs-node-gpu] built in ${DEST#"$ROOT"/} ($(du -sh "$DEST" | cut -f1))" >&2
