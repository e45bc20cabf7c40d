# shellcheck shell=bash
# Sourced by scripts/install-tfjs-node.sh (tfjs-node from the PyPI tensorflow-cpu 2.9.1 wheel) and
# scripts/gpu/install-tfjs-node-gpu.sh (tfjs-node-gpu from the tensorflow 2.9.1 GPU wheel): the steps that
# turn a TensorFlow 2.9.1 Python wheel into the libtensorflow a tfjs-node package's deps/ expects, and
# build the package's N-API binding offline. The callers run under `set -euo pipefail`; a failed step
# stops them. Messages go to stderr, prefixed with $TFW_LOG (default: none).

# tfw_fetch_wheel VAR REQUIREMENT WHEEL_DIR [NOTE]: sets VAR to the cached CPython 3.10 manylinux wheel
# for REQUIREMENT (name==version) in WHEEL_DIR, downloading it from PyPI first when there is none; NOTE,
# when given, is said before a download ("downloading REQUIREMENT (NOTE) from PyPI").
tfw_fetch_wheel() {
  local var=$1 req=$2 dir=$3 note=${4:-} name whl
  name=${req%%==*}
  local glob="${name//-/_}-${req#*==}-cp*-manylinux*.whl"
  whl=$(ls "$dir"/$glob 2>/dev/null | head -1 || true)
  if [ -z "$whl" ]; then
    if [ -n "$note" ]; then echo "${TFW_LOG-}downloading $req ($note) from PyPI" >&2; fi
    python3 -m pip download "$req" --no-deps --only-binary=:all: --python-version 3.10 \
      --platform manylinux2014_x86_64 -d "$dir" --quiet --disable-pip-version-check
    whl=$(ls "$dir"/$glob | head -1)
  fi
  printf -v "$var" '%s' "$whl"
}

# tfw_libtensorflow WHEEL PKG WORK: PKG/deps in the layout of the official libtensorflow 2.9.1 tarballs
# (C API headers, libtensorflow{,_framework}.so.2.9.1 and their links), the library being the wheel's
# _pywrap_tensorflow_internal.so with a stub, libpystub.so, for the CPython symbols it references.
# WORK holds the scratch files (whl/, missing.txt, pystub.c).
tfw_libtensorflow() {
  local whl=$1 pkg=$2 work=$3
  local X=$work/whl D=$pkg/deps
  rm -rf "$X" && mkdir -p "$X"
  unzip -q -o "$whl" -d "$X" 'tensorflow/include/tensorflow/c/*' \
    'tensorflow/include/tensorflow/core/platform/ctstring*.h' \
    'tensorflow/libtensorflow_framework.so.2' 'tensorflow/python/_pywrap_tensorflow_internal.so'
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

  # The stub for the ~190 CPython symbols the pywrap library references (BIND_NOW: they must resolve).
  ldd -r "$D/lib/libtensorflow.so.2.9.1" 2>&1 | awk '/undefined symbol/{sub(/,$/,"",$3); print $3}' | sort -u >"$work/missing.txt"
  if grep -qv -E '^_?Py' "$work/missing.txt"; then
    echo "${TFW_LOG-}libtensorflow from the wheel lacks non-Python symbols:" >&2
    grep -v -E '^_?Py' "$work/missing.txt" >&2
    return 1
  fi
  python3 - "$work/missing.txt" "$work/pystub.c" <<'EOF'
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
  gcc -shared -fPIC -O2 -Wl,-soname,libpystub.so -o "$D/lib/libpystub.so" "$work/pystub.c"
  # Two patchelf calls: --set-soname with --add-needed in one call corrupts the SONAME (patchelf 0.14).
  patchelf --set-soname libtensorflow.so.2 "$D/lib/libtensorflow.so.2.9.1"
  patchelf --add-needed libpystub.so "$D/lib/libtensorflow.so.2.9.1" # its RUNPATH has $ORIGIN/
  if ldd -r "$D/lib/libtensorflow.so.2.9.1" 2>&1 | grep -E 'undefined symbol|not found'; then return 1; fi
}

# tfw_build_binding PKG NAPI: compiles PKG's N-API binding into PKG/lib/napi-vNAPI/tfjs_binding.node,
# offline, with the node-gyp bundled with npm and the headers of the node on PATH.
tfw_build_binding() {
  local pkg=$1 napi=$2 nodedir node_gyp
  nodedir=$(readlink -f "$(dirname "$(readlink -f "$(command -v node)")")/..") # has include/node/node_api.h
  node_gyp=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
  (
    cd "$pkg"
    node "$node_gyp" rebuild --nodedir="$nodedir" --module_name=tfjs_binding \
      --module_path="$pkg/lib/napi-v$napi" --napi_build_version="$napi" -j "$(nproc)" --loglevel=warn
  )
  test -f "$pkg/lib/napi-v$napi/tfjs_binding.node"
}
