import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

interface CliBundle {
  bundlePaths(root: string): { bundle: string; inputs: string };
  freshBundle(root: string): string | undefined;
  buildBundle(root: string): boolean;
}

const { bundlePaths, freshBundle, buildBundle } = createRequire(__filename)(
  '../../scripts/lib/cli-bundle.js',
) as CliBundle;

/**
 * A checkout in miniature under a temp root, so building and touching never race the tests that run
 * the real bundle: clients/cli.ts reaches bridge/ and config/ (folders the old hand list missed);
 * serving/unused.ts is reached by nothing.
 */
const SOURCES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'mini', version: '1.0.0' }),
  'clients/cli.ts': [
    "import { version } from '../package.json';",
    "import { stream } from '../bridge/jobs';",
    "import { settings } from '../config/settings';",
    'export const main = () => `${version} ${stream()} ${settings}`;',
  ].join('\n'),
  'bridge/jobs.ts': "export const stream = () => 'jobs';",
  'config/settings.ts': "export const settings = 'first';",
  'serving/unused.ts': "export const unused = 'never bundled';",
};

/** An hour ago, then later moments: every mtime this test sets is before its build started. */
const HOUR_AGO = Date.now() / 1000 - 3600;

let root: string;

async function touch(file: string, secondsAfter: number): Promise<void> {
  const at = HOUR_AGO + secondsAfter;
  await fs.utimes(path.join(root, file), at, at);
}

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-cli-bundle-'));
  for (const [file, text] of Object.entries(SOURCES)) {
    await fs.mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await fs.writeFile(path.join(root, file), text);
    await touch(file, 0);
  }
  expect(buildBundle(root)).toBe(true);
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('the command line bundle', () => {
  it("lists esbuild's inputs beside the bundle with their mtimes, and is fresh until one changes", async () => {
    const { bundle, inputs } = bundlePaths(root);
    const listed = JSON.parse(await fs.readFile(inputs, 'utf8')) as { files: Record<string, number> };
    expect(Object.keys(listed.files).sort()).toEqual([
      'bridge/jobs.ts',
      'clients/cli.ts',
      'config/settings.ts',
      'package.json',
    ]);
    expect(freshBundle(root)).toBe(bundle);
    expect(buildBundle(root)).toBe(false);
  });

  it.each(['bridge/jobs.ts', 'config/settings.ts', 'clients/cli.ts', 'package.json'])(
    'touching %s makes the bundle stale',
    async (file) => {
      await touch(file, 60);
      expect(freshBundle(root)).toBeUndefined();
    },
  );

  it('a file no input reaches, in a folder the bundle uses, leaves it fresh', async () => {
    await touch('serving/unused.ts', 60);
    expect(freshBundle(root)).toBe(bundlePaths(root).bundle);
  });

  it('a deleted input makes it stale', async () => {
    await fs.rm(path.join(root, 'config', 'settings.ts'));
    expect(freshBundle(root)).toBeUndefined();
  });

  it('the rebuilt bundle runs the changed source and is fresh again', async () => {
    await fs.writeFile(path.join(root, 'config', 'settings.ts'), "export const settings = 'second';");
    await touch('config/settings.ts', 60);
    expect(freshBundle(root)).toBeUndefined();
    expect(buildBundle(root)).toBe(true);
    const { bundle } = bundlePaths(root);
    expect(freshBundle(root)).toBe(bundle);
    const cli = createRequire(__filename)(bundle) as { main(): string };
    expect(cli.main()).toBe('1.0.0 jobs second');
  });

  it('a source saved after the build began leaves no list, so the next start rebuilds', async () => {
    await fs.writeFile(path.join(root, 'bridge', 'jobs.ts'), "export const stream = () => 'saved now';");
    // An mtime after the build's start is what a save during the build leaves.
    const later = Date.now() / 1000 + 60;
    await fs.utimes(path.join(root, 'bridge', 'jobs.ts'), later, later);
    expect(buildBundle(root)).toBe(true);
    await expect(fs.access(bundlePaths(root).inputs)).rejects.toThrow();
    expect(freshBundle(root)).toBeUndefined();
  });
});
