'use strict';
// The `retrain` command line as one CommonJS file (npm packages stay external), so a command starts
// without compiling TypeScript first: tsx's loader alone costs ~0.4 s here. bin/retrain.js rebuilds
// it when a source is newer (about a second, once), and runs the sources through tsx if it cannot.
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

/**
 * (Re)builds the bundle when a source changed since it was built; returns whether it built. The file
 * is written beside its place and renamed into it, so a command starting meanwhile reads a whole one.
 */
function buildBundle() {
  if (freshBundle()) return false;
  const result = require('esbuild').buildSync({
    entryPoints: [path.join(root, 'clients', 'cli.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    write: false,
  });
  const [output] = result.outputFiles;
  fs.mkdirSync(path.dirname(BUNDLE), { recursive: true });
  const staged = `${BUNDLE}.${process.pid}.tmp`;
  fs.writeFileSync(staged, output.contents);
  fs.renameSync(staged, BUNDLE);
  return true;
}

/** The up-to-date bundle, built first when a source changed; undefined when it cannot be built (no esbuild). */
function currentBundle() {
  try {
    buildBundle();
    return BUNDLE;
  } catch {
    return undefined;
  }
}

module.exports = { BUNDLE, freshBundle, buildBundle, currentBundle };
