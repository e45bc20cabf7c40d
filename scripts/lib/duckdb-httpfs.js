'use strict';
// DuckDB's httpfs extension, so the buffer's readers can query the store's Parquet parts over S3
// instead of downloading them first (docs/data-buffer.md). DuckDB loads only an extension built for
// its own version; npm does not carry it, PyPI does (`duckdb-extension-httpfs`, the same files as
// DuckDB's extension repository, signed). Plain Node: scripts/setup.js runs it before npm install's
// results are needed by anything else.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** The DuckDB version the npm binding embeds (`1.5.5` of `@duckdb/node-bindings` 1.5.5-r.5). */
function duckdbVersion(root) {
  const pkg = path.join(root, 'node_modules', '@duckdb', 'node-bindings', 'package.json');
  const { version } = JSON.parse(fs.readFileSync(pkg, 'utf8'));
  return version.replace(/-.*$/, '');
}

/** Where the extension for this DuckDB lives: `.tools/duckdb/v<version>/httpfs.duckdb_extension`. */
function httpfsPath(root, version = duckdbVersion(root)) {
  return path.join(root, '.tools', 'duckdb', `v${version}`, 'httpfs.duckdb_extension');
}

/** Installs it from the PyPI wheel unless it is there; returns 'cached' when it was. */
function ensureHttpfs(root) {
  const version = duckdbVersion(root);
  const target = httpfsPath(root, version);
  if (fs.existsSync(target)) return 'cached';
  const python = process.env.PYTHON3 || 'python3';
  const wheels = path.join(root, '.tools', 'cache', 'wheel');
  fs.mkdirSync(wheels, { recursive: true });
  execFileSync(
    python,
    [
      '-m',
      'pip',
      'download',
      '--quiet',
      '--no-deps',
      '--only-binary=:all:',
      '--dest',
      wheels,
      `duckdb-extension-httpfs==${version}`,
    ],
    { stdio: ['ignore', 2, 2] },
  );
  const wheel = fs
    .readdirSync(wheels)
    .find((f) => f.startsWith(`duckdb_extension_httpfs-${version}-`) && f.endsWith('.whl'));
  if (!wheel) throw new Error(`pip left no duckdb_extension_httpfs-${version} wheel in ${wheels}`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const partial = `${target}.partial`;
  // A wheel is a zip: Python's zipfile takes the one file out.
  execFileSync(python, [
    '-c',
    'import sys, zipfile; open(sys.argv[3], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))',
    path.join(wheels, wheel),
    `duckdb_extension_httpfs/extensions/v${version}/httpfs.duckdb_extension`,
    partial,
  ]);
  fs.renameSync(partial, target);
  return undefined;
}

module.exports = { duckdbVersion, ensureHttpfs, httpfsPath };
