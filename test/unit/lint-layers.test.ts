import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error layers.mjs is plain JavaScript shared with eslint.config.mjs; its shapes are checked here.
import { layers, unplacedFolders } from '../../layers.mjs';

const ROOT = path.resolve(__dirname, '..', '..');
const LAYER_RULES = new Set(['import-x/no-restricted-paths', '@typescript-eslint/no-restricted-imports']);

interface Layer {
  imports: string[];
  typesFrom?: string[];
}
const table = layers as Record<string, Layer>;
const folders = Object.keys(table).filter((f) => sampleFile(f) !== undefined);

let eslint: ESLint;

/** One real TypeScript or JavaScript file of `folder` (its path without extension, from the root). */
function sampleFile(folder: string): string | undefined {
  const dir = path.join(ROOT, folder);
  if (!fs.existsSync(dir)) return undefined;
  const queue = [dir];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const entries = fs
      .readdirSync(next, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name));
    const file = entries.find((e) => e.isFile() && /\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts'));
    if (file) return path.relative(ROOT, path.join(next, file.name)).replace(/\.(ts|js)$/, '');
    queue.push(...entries.filter((e) => e.isDirectory()).map((e) => path.join(next, e.name)));
  }
  return undefined;
}

/** Lints one import per line as the file `<folder>/lint-fixture.ts`; the layer rules that fired, by line. */
async function layerRulesByLine(folder: string, lines: string[]): Promise<Map<number, string[]>> {
  const code = `${lines.join('\n')}\n`;
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, folder, 'lint-fixture.ts') });
  const byLine = new Map<number, string[]>();
  for (const m of result?.messages ?? []) {
    if (m.fatal) throw new Error(`lint-fixture in ${folder}/ did not parse: ${m.message}`);
    if (!m.ruleId || !LAYER_RULES.has(m.ruleId)) continue;
    byLine.set(m.line, [...(byLine.get(m.line) ?? []), m.ruleId]);
  }
  return byLine;
}

/** `import <kind> from` one file of `target`, as written in a file of `from`. */
function importLine(target: string, kind: 'value' | 'type'): string {
  const file = sampleFile(target) as string;
  return kind === 'type'
    ? `import type * as probe from '../${file}';`
    : `import * as probe from '../${file}';`;
}

describe('the layer rules, generated from layers.mjs', () => {
  beforeAll(() => {
    // The fixtures exist only as text, so the TypeScript project service cannot open them: lint them
    // without type information (and without the rules that need it). The layer rules need none.
    eslint = new ESLint({
      cwd: ROOT,
      overrideConfig: {
        files: ['**/*.ts'],
        languageOptions: { parserOptions: { projectService: false } },
        rules: { '@typescript-eslint/no-floating-promises': 'off' },
      },
    });
  });

  it('names every top-level folder of the repository', () => {
    expect(unplacedFolders(ROOT)).toEqual([]);
    expect(folders.length).toBeGreaterThan(15);
  });

  it('fails a new folder until it is placed', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'retrain-layers-'));
    try {
      fs.mkdirSync(path.join(root, 'common'));
      fs.mkdirSync(path.join(root, 'new-room'));
      expect(unplacedFolders(root)).toEqual(['new-room']);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  for (const from of folders) {
    const layer = table[from] as Layer;
    const others = folders.filter((f) => f !== from);
    const allowed = others.filter((f) => layer.imports.includes(f));
    const typesOnly = others.filter((f) => layer.typesFrom?.includes(f));
    const forbidden = others.filter((f) => !allowed.includes(f) && !typesOnly.includes(f));

    it(`${from}/: lint rejects a value import of each of ${forbidden.length + typesOnly.length} folders and accepts ${allowed.length}`, async () => {
      const targets = [...forbidden, ...typesOnly, ...allowed];
      const fired = await layerRulesByLine(
        from,
        targets.map((t) => importLine(t, 'value')),
      );
      const rejected = targets.filter((_, i) => fired.has(i + 1));
      expect(rejected.sort()).toEqual([...forbidden, ...typesOnly].sort());
    });

    if (forbidden.length + typesOnly.length > 0)
      it(`${from}/: lint rejects even types from the ${forbidden.length} forbidden folders, not from ${typesOnly.length} type-only ones`, async () => {
        const targets = [...forbidden, ...typesOnly];
        const fired = await layerRulesByLine(
          from,
          targets.map((t) => importLine(t, 'type')),
        );
        expect(targets.filter((_, i) => fired.has(i + 1)).sort()).toEqual([...forbidden].sort());
      });
  }

  it('keeps Node built-ins out of workflows/ and common/', async () => {
    for (const folder of ['workflows', 'common']) {
      const fired = await layerRulesByLine(folder, ["import fs from 'node:fs';"]);
      expect(fired.get(1)).toEqual(['@typescript-eslint/no-restricted-imports']);
    }
  });

  it('keeps TensorFlow.js to ml/, activities/ and the serving model code', async () => {
    const line = "import * as tf from '@tensorflow/tfjs';";
    for (const folder of ['serving', 'storage', 'runs', 'clients', 'workflows'])
      expect(new Set((await layerRulesByLine(folder, [line])).get(1)), folder).toEqual(
        new Set(['@typescript-eslint/no-restricted-imports']),
      );
    for (const folder of ['ml', 'activities'])
      expect((await layerRulesByLine(folder, [line])).size, folder).toBe(0);
    const [model] = await eslint.lintText(`${line}\n`, {
      filePath: path.join(ROOT, 'serving', 'model-fixture.ts'),
    });
    expect(model?.messages.filter((m) => m.ruleId && LAYER_RULES.has(m.ruleId))).toEqual([]);
  });

  it('keeps DuckDB and S3 clients to storage/', async () => {
    const line = "import { DuckDBInstance } from '@duckdb/node-api';";
    expect((await layerRulesByLine('datasets', [line])).get(1)).toEqual([
      '@typescript-eslint/no-restricted-imports',
    ]);
    expect((await layerRulesByLine('storage', [line])).size).toBe(0);
  });

  it('keeps onnxruntime to ml/', async () => {
    const line = "import * as ort from 'onnxruntime-node';";
    for (const folder of ['serving', 'activities', 'storage', 'datasets'])
      expect((await layerRulesByLine(folder, [line])).get(1), folder).toEqual([
        '@typescript-eslint/no-restricted-imports',
      ]);
    expect((await layerRulesByLine('ml', [line])).size).toBe(0);
  });

  it('keeps runs/ to zod and @temporalio/client among packages', async () => {
    const fired = await layerRulesByLine('runs', [
      "import { Client } from '@temporalio/client';",
      "import { z } from 'zod';",
      "import { Worker } from '@temporalio/worker';",
    ]);
    expect([...fired.keys()]).toEqual([3]);
  });
});
