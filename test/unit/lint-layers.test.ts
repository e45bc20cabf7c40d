import path from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');

let eslint: ESLint;

/** Lints `code` as if it were the file `file` (relative to the repository root); returns the rules that fired. */
async function rulesFor(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return (result?.messages ?? []).map((m) => m.ruleId ?? `fatal: ${m.message}`);
}

describe('the layer rules in eslint.config.mjs', () => {
  beforeAll(() => {
    // The fixtures exist only as text, so the TypeScript project service cannot open them: lint them
    // without type information (and without the one rule that needs it). The layer rules need none.
    eslint = new ESLint({
      cwd: ROOT,
      overrideConfig: {
        files: ['**/*.ts'],
        languageOptions: { parserOptions: { projectService: false } },
        rules: { '@typescript-eslint/no-floating-promises': 'off' },
      },
    });
  });

  it('stops activities/ from importing serving/', async () => {
    const rules = await rulesFor(
      'activities/lint-fixture.ts',
      "import { createServer } from '../serving/server';\nexport const server = createServer;\n",
    );
    expect(rules).toEqual(['import-x/no-restricted-paths']);
  });

  it('stops serving/ from importing clients/', async () => {
    const rules = await rulesFor(
      'serving/lint-fixture.ts',
      "import { main } from '../clients/cli';\nexport const cli = main;\n",
    );
    expect(rules).toEqual(['import-x/no-restricted-paths']);
  });

  it('keeps Node built-ins out of workflows/', async () => {
    const rules = await rulesFor(
      'workflows/lint-fixture.ts',
      "import fs from 'node:fs';\nexport const read = fs.readFileSync;\n",
    );
    expect(rules).toEqual(['@typescript-eslint/no-restricted-imports']);
  });

  it('keeps TensorFlow.js out of serving/ outside the model code', async () => {
    const code = "import * as tf from '@tensorflow/tfjs';\nexport const backend = () => tf.getBackend();\n";
    expect(await rulesFor('serving/admin-lint-fixture.ts', code)).toEqual([
      '@typescript-eslint/no-restricted-imports',
    ]);
    expect(await rulesFor('serving/model-lint-fixture.ts', code)).toEqual([]);
  });

  it('keeps runs/ to common/, types from workflows/, zod and @temporalio/client', async () => {
    const rules = await rulesFor(
      'runs/lint-fixture.ts',
      [
        "import { Client } from '@temporalio/client';",
        "import { z } from 'zod';",
        "import { progressQuery } from '../common/messages';",
        "import type { retrainWorkflow } from '../workflows';",
        "import { ModelRegistry } from '../storage/registry';",
        "import { retrainWorkflow as workflowCode } from '../workflows';",
        "import { Worker } from '@temporalio/worker';",
        'export type Run = typeof retrainWorkflow;',
        'export const used = [Client, z, progressQuery, ModelRegistry, workflowCode, Worker];',
        '',
      ].join('\n'),
    );
    expect(rules.sort()).toEqual([
      '@typescript-eslint/no-restricted-imports',
      '@typescript-eslint/no-restricted-imports',
      'import-x/no-restricted-paths',
    ]);
  });

  it('reports nothing for imports the layers allow', async () => {
    const rules = await rulesFor(
      'activities/lint-fixture.ts',
      [
        "import * as tf from '@tensorflow/tfjs';",
        "import { ErrorType } from '../common/errors';",
        "import { rollOut } from '../rollout/rollout';",
        "import { ModelRegistry } from '../storage/registry';",
        'export const used = [tf.getBackend, ErrorType, rollOut, ModelRegistry];',
        '',
      ].join('\n'),
    );
    expect(rules).toEqual([]);
  });
});
