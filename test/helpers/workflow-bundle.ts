import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger } from '@temporalio/worker';
import { writeWorkflowBundle } from '../../workers/workflow-bundle';

const ROOT = path.resolve(__dirname, '..', '..');
/** What the bundle is made of: the workflow code, what it imports, and the packages' versions. */
const SOURCES = ['workflows', 'common'];
const LOCKFILE = 'package-lock.json';
const CACHE = path.join(ROOT, '.data', 'test');

let bundle: Promise<string> | undefined;

/**
 * The workflows bundled once for every test of a run (webpack takes seconds, once per worker
 * otherwise): cached under .data/test/ by a hash of the sources, so parallel test files, later
 * runs and worker processes (RETRAIN_WORKFLOW_BUNDLE) share it until a source changes.
 */
export function testWorkflowBundle(): Promise<string> {
  bundle ??= cachedBundle();
  return bundle;
}

async function cachedBundle(): Promise<string> {
  const file = path.join(CACHE, `workflow-bundle-${sourceHash()}.js`);
  // Test files in other vitest workers may race here: each writes a whole file and renames it.
  // WARN: webpack's statistics are noise in test output; its errors still show.
  if (!fs.existsSync(file)) await writeWorkflowBundle(file, new DefaultLogger('WARN'));
  return file;
}

function sourceHash(): string {
  const hash = createHash('sha256');
  const files = SOURCES.flatMap((dir) =>
    fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, f)),
  );
  for (const file of [...files.sort(), LOCKFILE]) {
    const full = path.join(ROOT, file);
    if (!fs.statSync(full).isFile()) continue;
    hash.update(file).update('\0').update(fs.readFileSync(full)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}
