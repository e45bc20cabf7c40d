#!/usr/bin/env bash
# Installs the native TensorFlow backend (@tensorflow/tfjs-node 4.22.0) where its install script cannot
# download libtensorflow: the C library comes from the PyPI tensorflow-cpu 2.9.1 wheel (the TensorFlow
# version tfjs-node 4.22.0 is built for) and the N-API binding is compiled here, by the steps in
# scripts/lib/tfjs-from-wheel.sh (shared with scripts/gpu/install-tfjs-node-gpu.sh). Adapted from a
# standalone offline tfjs-node setup script kept outside this repository, so that it never touches
# package.json or package-lock.json (`npm install --no-save`). Called by scripts/setup.js when the
# binding is missing; needs pip, g++, make, patchelf and Node's headers. About 20 s with the wheel cached
# in .tools/cache/wheel, ~550 MB. The library is the Python wheel's, its ~190 CPython symbols stubbed: a
# path that really calls CPython aborts with "pystub: ...". npm removes the package again when
# `npm install` re-runs its (failing) install script; setup.js then runs this again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/lib/tfjs-from-wheel.sh"
WORK=$ROOT/.tools/cache/tfjs-node
WHEEL_DIR=$ROOT/.tools/cache/wheel
NAPI=8   # highest of tfjs-node's napi_versions [3..8]; Node 20, 22 and 24 (napi 9, 10) load it
TFN=$ROOT/node_modules/@tensorflow/tfjs-node
mkdir -p "$WORK" "$WHEEL_DIR"

# 1. the wheel (cached) and the npm package, without its network-bound install script
tfw_fetch_wheel WHL tensorflow-cpu==2.9.1 "$WHEEL_DIR"
cd "$ROOT"
npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error @tensorflow/tfjs-node@4.22.0
# --ignore-scripts also brought the locked tfjs-node-gpu without its binding: drop it, as npm does when
# its install script fails (GPU workers install it with its CUDA libtensorflow).
if ! ls "$ROOT"/node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1; then
  rm -rf "$ROOT/node_modules/@tensorflow/tfjs-node-gpu"
fi

# 2. deps/ in the layout of the official libtensorflow-cpu-linux-x86_64-2.9.1.tar.gz, with the CPython stub
tfw_libtensorflow "$WHL" "$TFN" "$WORK"

# 3. the N-API binding
tfw_build_binding "$TFN" "$NAPI"
rm -rf "$TFN/build/Release/obj.target"
# Through ml/backend.ts, which restores the node:util helpers tfjs-node 4.22 calls and Node 24 lacks.
TF_CPP_MIN_LOG_LEVEL=2 node --require tsx/cjs -e "const tf=require('@tensorflow/tfjs');require('./ml/backend.ts').activateBackend('tensorflow').then(()=>{const r=tf.matMul([[1,2],[3,4]],[[1],[1]]).arraySync();if(tf.getBackend()!=='tensorflow'||r[1][0]!==7)process.exit(1)})"
