'use strict';
// The `retrain` command line as one CommonJS file (npm packages stay external), so a command starts
// without compiling TypeScript first: tsx's loader alone costs ~0.4 s here. bin/retrain.js rebuilds
// it when a file it was built from changed (about a second, once), and runs the sources through tsx
// if it cannot. What it was built from is esbuild's own list (the metafile's inputs), kept beside it
// with each file's mtime, so no folder can be forgotten.
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');

/** The bundle of the command line under `root`, and the list of the files it was built from. */
function bundlePaths(root = ROOT) {
  const bundle = path.join(root, '.tools', 'cli', 'retrain.cjs');
  return { bundle, inputs: `${bundle}.inputs.json` };
}

/** The bundle of this checkout. */
const BUNDLE = bundlePaths().bundle;

/** The mtime of `file` under `root`, undefined when it is gone. */
function mtimeOf(root, file) {
  try {
    return fs.statSync(path.join(root, file)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The bundle's path when every file it was built from, and package.json, is as it was then; else undefined. */
function freshBundle(root = ROOT) {
  const { bundle, inputs } = bundlePaths(root);
  let files;
  try {
    files = JSON.parse(fs.readFileSync(inputs, 'utf8')).files;
    fs.accessSync(bundle);
  } catch {
    return undefined;
  }
  for (const [file, mtimeMs] of Object.entries(files)) if (mtimeOf(root, file) !== mtimeMs) return undefined;
  return bundle;
}

/** Writes `contents` beside `file` and renames it into place, so a reader sees the old file or the whole new one. */
function writeWhole(file, contents) {
  const staged = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(staged, contents);
  fs.renameSync(staged, file);
}

/**
 * (Re)builds the bundle of the sources under `root` when one of its files changed since it was
 * built; returns whether it built. The list of inputs is written after the bundle and dropped
 * before it, so a bundle never stands beside a list that vouches for other sources.
 */
function buildBundle(root = ROOT) {
  if (freshBundle(root)) return false;
  const { bundle, inputs } = bundlePaths(root);
  fs.rmSync(inputs, { force: true });
  const started = Date.now();
  const result = require('esbuild').buildSync({
    entryPoints: [path.join(root, 'clients', 'cli.ts')],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    metafile: true,
    write: false,
  });
  const [output] = result.outputFiles;
  fs.mkdirSync(path.dirname(bundle), { recursive: true });
  writeWhole(bundle, output.contents);
  const files = {};
  for (const file of new Set([...Object.keys(result.metafile.inputs), 'package.json']))
    files[file] = mtimeOf(root, file);
  // A file saved while esbuild read it may be in the bundle as it was before: leave no list, so the next start rebuilds.
  if (Object.values(files).every((mtimeMs) => mtimeMs !== undefined && mtimeMs < started))
    writeWhole(inputs, `${JSON.stringify({ files }, null, 2)}\n`);
  return true;
}

/** The up-to-date bundle, built first when a source changed; undefined when it cannot be built (no esbuild). */
function currentBundle(root = ROOT) {
  try {
    buildBundle(root);
    return bundlePaths(root).bundle;
  } catch {
    return undefined;
  }
}

module.exports = { BUNDLE, bundlePaths, freshBundle, buildBundle, currentBundle };
