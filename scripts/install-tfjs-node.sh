#!/usr/bin/env bash
# Installs the native TensorFlow backend (@tensorflow/tfjs-node 4.22.0) where its install script cannot
# download libtensorflow: the C library comes from the PyPI tensorflow-cpu 2.9.1 wheel (the TensorFlow
# version tfjs-node 4.22.0 is built for) and the N-API binding is compiled here. Adapted from
# ../shared/tools/setup-tfjs-node-offline.sh so that it never touches package.json or package-lock.json
# (`npm install --no-save`). Called by scripts/setup.js when the binding is missing; needs pip, g++,
# make, patchelf and Node's headers. About 20 s with the wheel cached in .tools/cache/wheel, ~550 MB.
# The library is the Python wheel's, its ~190 CPython symbols stubbed: a path that really calls CPython
# aborts with "pystub: ...". npm removes the package again when `npm install` re-runs its (failing)
# install script; setup.js then runs this again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$ROOT/.tools/cache/tfjs-node
WHEEL_DIR=$ROOT/.tools/cache/wheel
NODEDIR=$(readlink -f "$(dirname "$(readlink -f "$(command -v node)")")/..")   # has include/node/node_api.h
NAPI=8   # highest of tfjs-node's napi_versions [3..8]; Node 20, 22 and 24 (napi 9, 10) load it
TFN=$ROOT/node_modules/@tensorflow/tfjs-node
mkdir -p "$WORK" "$WHEEL_DIR"

# 1. the wheel (cached) and the npm package, without its network-bound install script
WHL=$(ls "$WHEEL_DIR"/tensorflow_cpu-2.9.1-cp*-manylinux*.whl 2>/dev/null | head -1 || true)
if [ -z "$WHL" ]; then
  python3 -m pip download tensorflow-cpu==2.9.1 --no-deps --only-binary=:all: --python-version 3.10 \
    --platform manylinux2014_x86_64 -d "$WHEEL_DIR" --quiet
  WHL=$(ls "$WHEEL_DIR"/tensorflow_cpu-2.9.1-cp*-manylinux*.whl | head -1)
fi
cd "$ROOT"
npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error @tensorflow/tfjs-node@4.22.0
# --ignore-scripts also brought the locked tfjs-node-gpu without its binding: drop it, as npm does when
# its install script fails (GPU workers install it with its CUDA libtensorflow).
if ! ls "$ROOT"/node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1; then
  rm -rf "$ROOT/node_modules/@tensorflow/tfjs-node-gpu"
fi

# 2. deps/ in the layout of the official libtensorflow-cpu-linux-x86_64-2.9.1.tar.gz
X=$WORK/whl
rm -rf "$X" && mkdir -p "$X"
unzip -q -o "$WHL" -d "$X" 'tensorflow/include/tensorflow/c/*' \
  'tensorflow/include/tensorflow/core/platform/ctstring*.h' \
  'tensorflow/libtensorflow_framework.so.2' 'tensorflow/python/_pywrap_tensorflow_internal.so'
D=$TFN/deps
rm -rf "$D" && mkdir -p "$D/lib" "$D/include/tensorflow/core/platform"
cp -r "$X/tensorflow/include/tensorflow/c" "$D/include/tensorflow/"
cp "$X"/tensorflow/include/tensorflow/core/platform/ctstring*.h "$D/include/tensorflow/core/platform/"
mv "$X/tensorflow/libtensorflow_framework.so.2" "$D/lib/libtensorflow_framework.so.2.9.1"
mv "$X/tensorflow/python/_pywrap_tensorflow_internal.so" "$D/lib/libtensorflow.so.2.9.1"
rm -rf "$X"
(
  cd "$D/lib"
  ln -sf libtensorflow_framework.so.2.9.1 libtensorflow_framework.so.2
  ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so
  ln -sf libtensorflow.so.2.9.1 libtensorflow.so.2
  ln -sf libtensorflow.so.2 libtensorflow.so
)

# 3. a stub for the CPython symbols the pywrap library references (BIND_NOW: they must resolve)
ldd -r "$D/lib/libtensorflow.so.2.9.1" 2>&1 | awk '/undefined symbol/{sub(/,$/,"",$3); print $3}' | sort -u >"$WORK/missing.txt"
if grep -qv -E '^_?Py' "$WORK/missing.txt"; then
  echo "libtensorflow from the wheel lacks non-Python symbols:" >&2
  grep -v -E '^_?Py' "$WORK/missing.txt" >&2
  exit 1
fi
python3 - "$WORK/missing.txt" "$WORK/pystub.c" <<'EOF'
import re, sys
syms = [l.strip() for l in open(sys.argv[1]) if l.strip()]
is_data = lambda s: re.match(r'^(PyExc_\w+|Py\w+_Type|_Py_\w+Struct)$', s)
out = ['#include <stdio.h>', '#include <stdlib.h>',
       'static void die(const char*n){fprintf(stderr,"pystub: CPython symbol %s called\\n",n);abort();}']
for s in syms:
    out.append(f'__attribute__((visibility("default"),aligned(64))) char {s}[1024];' if is_data(s)
               else f'__attribute__((visibility("default"))) void {s}(void){{die("{s}");}}')
open(sys.argv[2], 'w').write('\n'.join(out) + '\n')
EOF
gcc -shared -fPIC -O2 -Wl,-soname,libpystub.so -o "$D/lib/libpystub.so" "$WORK/pystub.c"
# Two patchelf calls: --set-soname with --add-needed in one call corrupts the SONAME (patchelf 0.14).
patchelf --set-soname libtensorflow.so.2 "$D/lib/libtensorflow.so.2.9.1"
patchelf --add-needed libpystub.so "$D/lib/libtensorflow.so.2.9.1" # its RUNPATH has $ORIGIN/
if ldd -r "$D/lib/libtensorflow.so.2.9.1" 2>&1 | grep -E 'undefined symbol|not found'; then exit 1; fi

# 4. the N-API binding, built offline with the node-gyp bundled with npm
cd "$TFN"
NODE_GYP=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
node "$NODE_GYP" rebuild --nodedir="$NODEDIR" --module_name=tfjs_binding \
  --module_path="$TFN/lib/napi-v$NAPI" --napi_build_version=$NAPI -j "$(nproc)" --loglevel=warn
test -f "$TFN/lib/napi-v$NAPI/tfjs_binding.node"
rm -rf "$TFN/build/Release/obj.target"
cd "$ROOT"
# Through ml/backend.ts, which restores the node:util helpers tfjs-node 4.22 calls and Node 24 lacks.
TF_CPP_MIN_LOG_LEVEL=2 node --require tsx/cjs -e "const tf=require('@tensorflow/tfjs');require('./ml/backend.ts').activateBackend('tensorflow').then(()=>{const r=tf.matMul([[1,2],[3,4]],[[1],[1]]).arraySync();if(tf.getBackend()!=='tensorflow'||r[1][0]!==7)process.exit(1)})"
