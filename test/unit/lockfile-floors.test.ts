import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Packages whose locked releases had public advisories, with the first release this project accepts.
 * `tar` 6.2.1 came in through tfjs-node's install path (its own and node-pre-gyp's `tar` dependency) and
 * is overridden in package.json; a later `npm install` that dropped the override would bring it back.
 */
const FLOORS: Record<string, string> = { tar: '7.5.24' };

interface Lock {
  packages: Record<string, { version?: string }>;
}

function atLeast(version: string, floor: string): boolean {
  const a = version.split('.').map(Number);
  const b = floor.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return true;
}

describe('package-lock.json', () => {
  const lock = JSON.parse(
    readFileSync(path.join(__dirname, '..', '..', 'package-lock.json'), 'utf8'),
  ) as Lock;

  for (const [name, floor] of Object.entries(FLOORS)) {
    it(`locks no ${name} below ${floor}, wherever it is nested`, () => {
      const locked = Object.entries(lock.packages)
        .filter(([path]) => path === `node_modules/${name}` || path.endsWith(`/node_modules/${name}`))
        .map(([path, entry]) => ({ path, version: entry.version ?? '' }));
      expect(locked.length).toBeGreaterThan(0);
      expect(locked.filter((entry) => !atLeast(entry.version, floor))).toEqual([]);
    });
  }
});
