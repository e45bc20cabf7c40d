import fs from 'node:fs';
import path from 'node:path';
import ignore from 'ignore';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');

/** The patterns of an ignore file (comments and blank lines dropped, as Docker and git read them). */
function patterns(file: string): string[] {
  return fs
    .readFileSync(path.join(ROOT, file), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Where deploy steps put secrets: compose's `.env` (docs/deploy.md) and mounted secret files (docs/fleet.md). */
const SECRET_FILES = [
  '.env',
  '.env.production',
  'deploy/.env',
  'trainers/python/.env.local',
  'secrets/retrain_api_key.txt',
];

describe('secrets and the images', () => {
  it("keeps the deploy steps' secret files out of the image build context (.dockerignore)", () => {
    // The Dockerfile copies the context (`COPY . .`): what .dockerignore lets through lands in a layer.
    const context = ignore().add(patterns('.dockerignore'));
    for (const file of SECRET_FILES) expect(context.ignores(file), file).toBe(true);
    for (const file of ['package.json', 'workers/cpu.ts', 'scripts/ensure-bucket.ts', 'docs/deploy.md'])
      expect(context.ignores(file), file).toBe(false);
  });

  it('keeps them out of git (.gitignore)', () => {
    const git = ignore().add(patterns('.gitignore'));
    for (const file of SECRET_FILES) expect(git.ignores(file), file).toBe(true);
  });

  it('lets the Python image take only its package and pyproject, never a secret', () => {
    const context = ignore().add(patterns('trainers/python/.dockerignore'));
    for (const file of ['.env', 'secrets/key.txt', '.env.local'])
      expect(context.ignores(file), file).toBe(true);
  });
});
