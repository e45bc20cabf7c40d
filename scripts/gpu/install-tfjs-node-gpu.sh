#!/usr/bin/env bash
# Builds @tensorflow/tfjs-node-gpu 4.22.0 where its install script cannot download libtensorflow-gpu:
# the C library comes from the PyPI `tensorflow==2.9.1` wheel (Linux `tensorflow` wheels carry the CUDA
# kernels; 2.9.1 is the libtensorflow tfjs-node-gpu 4.22 is built for: CUDA 11.2, cuDNN 8.1), its
# CPython symbols stubbed and the N-API binding compiled here — the way scripts/install-tfjs-node.sh
# builds the CPU package from tensorflow-cpu. The CUDA 11 and cuDNN 8 libraries it dlopens at start-up
# are not in the wheel (scripts/gpu/install-cuda11.sh, or a CUDA 11.8 + cuDNN 8 image, provides them).
#
# Installed OUTSIDE node_modules, in $DEST (default .tools/tfjs-gpu/node_modules/@tensorflow/tfjs-node-gpu):
# the package's own requires (@tensorflow/tfjs, node-pre-gyp, ...) resolve up the tree to the project's
# node_modules, while the project's backend choice (`auto`) and tests keep seeing the package they had.
# scripts/gpu/bench-tfjs.ts loads it by path. Needs what install-tfjs-node.sh needs (pip, g++, make,
# patchelf, the project's npm packages); the wheel (512 MB) is cached in .tools/cache/wheel, the build is
# ~1.1 GB. Idempotent: does nothing when the binding is already built from the same wheel.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST=${DEST:-$ROOT/.tools/tfjs-gpu/node_modules/@tensorflow/tfjs-node-gpu}
WORK=$ROOT/.tools/cache/tfjs-node-gpu
WHEEL_DIR=$ROOT/.tools/cache/wheel
NODEDIR=$(readlink -f "$(dirname "$(readlink -f "$(command -v node)")")/..") # has include/node/node_api.h
NAPI=8
STAMP=$DEST/.retrain-built-from
mkdir -p "$WORK" "$WHEEL_DIR"

# 1. the GPU wheel (cached)
WHL=$(ls "$WHEEL_DIR"/tensorflow-2.9.1-cp*-manylinux*.whl 2>/dev/null | head -1 || true)
if [ -z "$WHL" ]; then
  echo "[tfjs-node-gpu] downloading tensorflow==2.9.1 (the GPU wheel, 512 MB) from PyPI" >&2
  python3 -m pip download tensorflow==2.9.1 --no-deps --only-binary=:all: --python-version 3.10 \
    --platform manylinux2014_x86_64 -d "$WHEEL_DIR" --quiet --disable-pip-version-check
  WHL=$(ls "$WHEEL_DIR"/tensorflow-2.9.1-cp*-manylinux*.whl | head -1)
fi
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

# 3. deps/ in the layout of libtensorflow-gpu-linux-x86_64-2.9.1.tar.gz
X=$WORK/whl
rm -rf "$X" && mkdir -p "$X"
echo "[tfjs-node-gpu] extracting libtensorflow from $(basename "$WHL")" >&2
unzip -q -o "$WHL" -d "$X" 'tensorflow/include/tensorflow/c/*' \
  'tensorflow/include/tensorflow/core/platform/ctstring*.h' \
  'tensorflow/libtensorflow_framework.so.2' 'tensorflow/python/_pywrap_tensorflow_internal.so'
D=$DEST/deps
mkdir -p "$D/lib" "$D/include/tensorflow/core/platform"
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

# 4. the CPython stub (as install-tfjs-node.sh: the pywrap library references ~190 Py* symbols)
ldd -r "$D/lib/libtensorflow.so.2.9.1" 2>&1 | awk '/undefined symbol/{sub(/,$/,"",$3); print $3}' | sort -u >"$WORK/missing.txt"
if grep -qv -E '^_?Py' "$WORK/missing.txt"; then
  echo "[tfjs-node-gpu] libtensorflow from the wheel lacks non-Python symbols:" >&2
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
patchelf --set-soname libtensorflow.so.2 "$D/lib/libtensorflow.so.2.9.1"
patchelf --add-needed libpystub.so "$D/lib/libtensorflow.so.2.9.1"
if ldd -r "$D/lib/libtensorflow.so.2.9.1" 2>&1 | grep -E 'undefined symbol|not found'; then exit 1; fi

# 5. the N-API binding, built offline with the node-gyp bundled with npm
echo "[tfjs-node-gpu] compiling the N-API binding" >&2
cd "$DEST"
NODE_GYP=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
node "$NODE_GYP" rebuild --nodedir="$NODEDIR" --module_name=tfjs_binding \
  --module_path="$DEST/lib/napi-v$NAPI" --napi_build_version=$NAPI -j "$(nproc)" --loglevel=warn >&2
test -f "$DEST/lib/napi-v$NAPI/tfjs_binding.node"
rm -rf "$DEST/build"
echo "$(basename "$WHL") napi-v$NAPI $(node --version)" >"$STAMP"
echo "[tfjs-node-gpu] built in ${DEST#"$ROOT"/} ($(du -sh "$DEST" | cut -f1))" >&2
