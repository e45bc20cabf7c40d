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
    // Whatever .dockerignore lets through is sent to the builder, even when no COPY names it.
    const context = ignore().add(patterns('.dockerignore'));
    for (const file of SECRET_FILES) expect(context.ignores(file), file).toBe(true);
    for (const file of ['package.json', 'workers/cpu.ts', 'scripts/ensure-bucket.ts', 'docs/deploy.md'])
      expect(context.ignores(file), file).toBe(false);
  });

  it('builds the images from named files and folders only, never the whole context', async () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    // The sources of COPY lines that read the build context (not another stage).
    const contextSources = (text: string) =>
      text
        .split('\n')
        .filter((line) => /^COPY\s/.test(line) && !line.includes('--from='))
        .flatMap((line) => line.trim().split(/\s+/).slice(1, -1));
    expect(contextSources(dockerfile)).not.toContain('.');
    // The code both images take: the `source` stage.
    const stage = dockerfile.slice(dockerfile.indexOf('AS source\n'));
    const sources = contextSources(stage.slice(0, stage.indexOf('\nFROM ')));
    const { layers } = (await import(path.join(ROOT, 'layers.mjs'))) as { layers: Record<string, unknown> };
    // Every code folder the processes import, the command line and its scripts; bench and test stay out.
    const code = Object.keys(layers).filter((folder) => !['bench', 'test'].includes(folder));
    expect([...sources].sort()).toEqual([...code, 'examples', 'package.json', 'tsconfig.json'].sort());
    const context = ignore().add(patterns('.dockerignore'));
    for (const file of SECRET_FILES)
      expect(
        sources.some((source) => file === source || file.startsWith(`${source}/`)) && !context.ignores(file),
        file,
      ).toBe(false);
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
