import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelSpecSchema, type ModelSpec } from '../../common/model-spec';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { createModel } from '../../clients/commands/models';
import { publishVersion } from '../helpers/models';
import { loadConfig } from '../../config/config';
import { cliWith, type CliResult } from '../helpers/run-cli';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');

let dir: string;
let storeDir: string;
let registry: ModelRegistry;
let runCli: (...argv: string[]) => Promise<CliResult>;

async function example(name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await fs.readFile(path.join(EXAMPLES, `${name}.json`), 'utf8'));
}

/** Writes a spec file outside the store and returns its path. */
async function specFile(spec: unknown, name = 'spec.json'): Promise<string> {
  const file = path.join(dir, 'specs', name);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify(spec));
  return file;
}

/** Every file under the temp dir except the spec files: what the command wrote. */
async function written(): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((f) => !f.startsWith(`specs${path.sep}`))
    .sort();
}

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-models-cli-'));
  storeDir = path.join(dir, 'store');
  registry = new ModelRegistry(new FileBlobStore(storeDir));
  runCli = cliWith(loadConfig({ RETRAIN_STORE: `file://${storeDir}` }, dir));
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('retrain models create', () => {
  it('stores a valid spec with its defaults, is a no-op for the same spec and refuses a different one without --replace', async () => {
    const input = await example('flight-delay');
    const file = await specFile(input);
    const created = await runCli('models', 'create', file, '--json');
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(created.stdout)).toEqual({
      model: 'flight-delay',
      action: 'created',
      uri: `file://${storeDir}/models/flight-delay/spec.json`,
    });
    expect(await registry.loadSpec('flight-delay')).toEqual(ModelSpecSchema.parse(input));

    const again = await runCli('models', 'create', file, '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ action: 'unchanged' });

    const changed = await specFile({ ...input, epochs: 9, lookback: 3 }, 'changed.json');
    const refused = await runCli('models', 'create', changed);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'model flight-delay already exists with a different spec (lookback, epochs differ)',
    );
    expect(refused.stderr).toContain('--replace');
    expect((await registry.loadSpec('flight-delay')).epochs).toBe(8);

    const replaced = await runCli('models', 'create', changed, '--replace', '--json');
    expect(replaced.code).toBe(0);
    expect(JSON.parse(replaced.stdout)).toMatchObject({ action: 'replaced' });
    expect(await registry.loadSpec('flight-delay')).toMatchObject({ epochs: 9, lookback: 3 });
  });

  it('reports every invalid field by its path and writes nothing', async () => {
    const file = await specFile({
      ...(await example('flight-delay')),
      task: 'predict',
      features: [],
      hyperparams: { learningRate: 2 },
    });
    const result = await runCli('models', 'create', file);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^retrain: invalid model spec in .*spec\.json: /);
    expect(result.stderr).toContain('task: ');
    expect(result.stderr).toContain('features: ');
    expect(result.stderr).toContain('hyperparams.learningRate: ');
    expect(await written()).toEqual([]);
  });

  it.each(['../x', 'A B', 'x/y', 'Flight', ''])(
    'refuses the model name %j before touching the store',
    async (name) => {
      const file = await specFile({ ...(await example('flight-delay')), name });
      const result = await runCli('models', 'create', file);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('name: model name must be a lowercase slug');
      expect(await written()).toEqual([]);
    },
  );

  it('names the file when it is missing or not JSON', async () => {
    const missing = await runCli('models', 'create', path.join(dir, 'nope.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`cannot read spec file ${path.join(dir, 'nope.json')}`);
    const broken = path.join(dir, 'specs', 'broken.json');
    await fs.mkdir(path.dirname(broken), { recursive: true });
    await fs.writeFile(broken, '{"name": ');
    const notJson = await runCli('models', 'create', broken);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toContain(`spec file ${broken} is not valid JSON`);
    expect(await written()).toEqual([]);
  });

  it('lets exactly one of two concurrent creators of a model win, and the store holds its spec', async () => {
    const base = ModelSpecSchema.parse({ ...(await example('flight-delay')), name: 'race' });
    for (let round = 0; round < 5; round++) {
      await fs.rm(storeDir, { recursive: true, force: true });
      const specs = [base, { ...base, epochs: base.epochs + 1 }];
      const outcomes = await Promise.allSettled(specs.map((spec) => createModel(registry, spec, false)));
      const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [specs[i]] : []));
      expect(winners).toHaveLength(1);
      const loser = outcomes.find((o) => o.status === 'rejected');
      expect(String(loser?.reason)).toMatch(
        /changed while this command ran|already exists with a different spec/,
      );
      expect(await registry.loadSpec('race')).toEqual(winners[0]);
    }
  });
});

describe('retrain models list and show', () => {
  let delay: ModelSpec;

  beforeEach(async () => {
    for (const name of ['flight-delay', 'late-share']) {
      expect(
        (await runCli('models', 'create', await specFile(await example(name), `${name}.json`))).code,
      ).toBe(0);
    }
    delay = await registry.loadSpec('flight-delay');
    for (const [version, mae] of [
      ['v1', 12.5],
      ['v2', 11.25],
    ] as const) {
      await publishVersion(registry, delay, version, {
        metadata: {
          createdAt: `2026-01-0${version.slice(1)}T00:00:00.000Z`,
          workflowId: `retrain-flight-delay-${version}`,
          backend: 'wasm',
          metrics: { mae, rmse: mae * 2 },
        },
      });
      await registry.setAlias('flight-delay', version, `retrain-flight-delay-${version}`);
    }
  });

  it('list --json gives each model with its task, production version and number of versions', async () => {
    const result = await runCli('models', 'list', '--json');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toEqual([
      { name: 'flight-delay', task: 'forecast', production: 'v2', versions: 2 },
      { name: 'late-share', task: 'classify', production: null, versions: 0 },
    ]);
    const text = await runCli('models', 'list');
    expect(text.stdout.split('\n')[0]).toMatch(/^NAME\s+TASK\s+PRODUCTION\s+VERSIONS$/);
    expect(text.stdout).toMatch(/flight-delay\s+forecast\s+v2\s+2/);
  });

  it('show --json gives the spec, every version with its gate metric and the aliases', async () => {
    const result = await runCli('models', 'show', 'flight-delay', '--json');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const shown = JSON.parse(result.stdout);
    expect(shown.spec).toEqual(delay);
    expect(shown.versions).toEqual([
      {
        version: 'v1',
        createdAt: '2026-01-01T00:00:00.000Z',
        metric: 'mae',
        value: 12.5,
        backend: 'wasm',
        workflowId: 'retrain-flight-delay-v1',
      },
      {
        version: 'v2',
        createdAt: '2026-01-02T00:00:00.000Z',
        metric: 'mae',
        value: 11.25,
        backend: 'wasm',
        workflowId: 'retrain-flight-delay-v2',
      },
    ]);
    expect(shown.aliases).toEqual({
      production: {
        version: 'v2',
        previous: 'v1',
        updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        workflowId: 'retrain-flight-delay-v2',
      },
    });
    const text = await runCli('models', 'show', 'flight-delay');
    expect(text.stdout).toMatch(
      /v1\s+2026-01-01T00:00:00.000Z\s+mae 12.5000\s+wasm\s+retrain-flight-delay-v1/,
    );
    expect(text.stdout).toContain('production -> v2 (previous v1, updated ');
  });

  it('show fails naming the model when it does not exist and refuses a name that is not a slug', async () => {
    const unknown = await runCli('models', 'show', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('Model nope has no spec');
    const bad = await runCli('models', 'show', '../flight-delay');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid model name');
    const usage = await runCli('models');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('Usage: retrain models [options] [command]');
    expect(usage.stderr).toMatch(/create \[options\] <spec\.json>/);
  });
});
