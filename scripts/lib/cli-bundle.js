'use strict';
// The `retrain` command line as one CommonJS file (npm packages stay external), so a command starts
// without compiling TypeScript first: tsx's loader alone costs ~0.4 s here. bin/retrain.js runs the
// bundle only while it is newer than every source it was built from, else the sources through tsx.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const BUNDLE = path.join(root, '.tools', 'cli', 'retrain.cjs');
/** Everything the command line's code can reach, and the package manifest it reads its version from. */
const SOURCES = [
  'common',
  'workflows',
  'activities',
  'ml',
  'storage',
  'serving',
  'rollout',
  'runs',
  'workers',
  'clients',
];

function newestSource() {
  let newest = fs.statSync(path.join(root, 'package.json')).mtimeMs;
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') || entry.name.endsWith('.json'))
        newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  for (const dir of SOURCES) if (fs.existsSync(path.join(root, dir))) walk(path.join(root, dir));
  return newest;
}

/** The bundle's path when it is up to date with the sources, else undefined. */
function freshBundle() {
  try {
    return fs.statSync(BUNDLE).mtimeMs >= newestSource() ? BUNDLE : undefined;
  } catch {
    return undefined;
  }
}

/** (Re)builds the bundle when a source changed since it was built. */
function buildBundle() {
  if (freshBundle()) return false;
  require('esbuild').buildSync({
    entryPoints: [path.join(root, 'clients', 'cli.ts')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  return true;
}

module.exports = { BUNDLE, freshBundle, buildBundle };
