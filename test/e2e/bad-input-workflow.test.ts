import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { Context } from '@temporalio/activity';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { ErrorType } from '../../common/errors';
import { ModelSpecSchema } from '../../common/model-spec';
import { storeLoadHandler } from '../../ml/store-io';
import { TEMPORAL_BIN } from '../../scripts/lib/temporal-server';
import { createServer, type InferenceServer } from '../../serving/server';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { loadConfig } from '../../config/config';
import { eventually } from '../helpers/eventually';
import { corruptWeights, publishVersion } from '../helpers/models';
import { cliWith, type CliResult } from '../helpers/run-cli';
import { stubSpec, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

const run = promisify(execFile);
const API_KEY = 'bad-input-workflow-key-0123456789';
const SLUG_RULE = 'model name must be a lowercase slug';
const counts: Record<string, number> = {};
const count = (entry: string) => (counts[entry] = (counts[entry] ?? 0) + 1);

/**
 * Raw JSON as `temporal workflow start --input` sends it (undefined: no --input at all), and the
 * field the InvalidInput message must name. `MODEL` stands for a valid model name.
 */
const RAW_INPUTS: { what: string; input?: string; field: string; names?: string }[] = [
  { what: 'no input at all', field: '(root)' },
  { what: 'null', input: 'null', field: '(root)' },
  { what: 'a string', input: '"MODEL"', field: '(root)' },
  { what: 'a number', input: '42', field: '(root)' },
  { what: 'an array', input: '["MODEL"]', field: '(root)' },
  { what: 'an empty object', input: '{}', field: 'model' },
  { what: 'a model that is a number', input: '{"model": 7}', field: 'model' },
  { what: 'model ../x', input: '{"model": "../x"}', field: 'model' },
  { what: 'model a/b', input: '{"model": "a/b"}', field: 'model' },
  { what: 'model %2e%2e', input: '{"model": "%2e%2e"}', field: 'model' },
  { what: 'an empty model', input: '{"model": ""}', field: 'model' },
  { what: 'a 64-character model', input: JSON.stringify({ model: 'a'.repeat(64) }), field: 'model' },
  { what: 'a unicode model', input: '{"model": "modèle"}', field: 'model' },
  { what: 'a model with NUL', input: '{"model": "a\\u0000b"}', field: 'model' },
  { what: 'an uppercase model', input: '{"model": "Flights"}', field: 'model' },
  { what: 'epochs 0', input: '{"model": "MODEL", "epochs": 0}', field: 'epochs' },
  { what: 'epochs as text', input: '{"model": "MODEL", "epochs": "10"}', field: 'epochs' },
  { what: 'fractional epochs', input: '{"model": "MODEL", "epochs": 1.5}', field: 'epochs' },
  { what: 'trials 65', input: '{"model": "MODEL", "trials": 65}', field: 'trials' },
  { what: 'negative windowDays', input: '{"model": "MODEL", "windowDays": -1}', field: 'windowDays' },
  { what: 'minRecords 0', input: '{"model": "MODEL", "minRecords": 0}', field: 'minRecords' },
  { what: 'incremental as text', input: '{"model": "MODEL", "incremental": "yes"}', field: 'incremental' },
  {
    what: 'a learning rate of 5',
    input: '{"model": "MODEL", "hyperparams": {"learningRate": 5}}',
    field: 'hyperparams.learningRate',
  },
  {
    what: 'an unknown hyperparameter',
    input: '{"model": "MODEL", "hyperparams": {"lr": 0.1}}',
    field: 'hyperparams',
  },
  {
    what: 'an unknown optimizer',
    input: '{"model": "MODEL", "hyperparams": {"optimizer": "lbfgs"}}',
    field: 'hyperparams.optimizer',
  },
  {
    what: 'an ftp reload target',
    input: '{"model": "MODEL", "reloadTargets": ["ftp://infer-1"]}',
    field: 'reloadTargets.0',
  },
  {
    what: 'reload targets as a string',
    input: '{"model": "MODEL", "reloadTargets": "http://infer-1"}',
    field: 'reloadTargets',
  },
  {
    what: 'an unknown field (a typo)',
    input: '{"model": "MODEL", "epoch": 3}',
    field: '(root)',
    names: '(root): Unrecognized key: "epoch"',
  },
];

/** `retrain start` arguments after `--model MODEL` (or instead of it), and the option field named. */
const CLI_FLAGS: { what: string; args: string[]; error: string }[] = [
  { what: '--epochs many', args: ['--epochs', 'many'], error: 'epochs:' },
  { what: '--epochs 0', args: ['--epochs', '0'], error: 'epochs:' },
  { what: '--epochs 1.5', args: ['--epochs', '1.5'], error: 'epochs:' },
  { what: '--trials 65', args: ['--trials', '65'], error: 'trials:' },
  { what: '--trials -1', args: ['--trials', '-1'], error: 'trials:' },
  { what: '--window-days 0', args: ['--window-days', '0'], error: 'windowDays:' },
  { what: '--window-days 99999', args: ['--window-days', '99999'], error: 'windowDays:' },
  { what: '--min-records abc', args: ['--min-records', 'abc'], error: 'minRecords:' },
  { what: '--reload-target ftp://x', args: ['--reload-target', 'ftp://x'], error: 'reloadTargets.0:' },
  { what: '--reload-target not-a-url', args: ['--reload-target', 'not-a-url'], error: 'reloadTargets.0:' },
  { what: 'an unknown option', args: ['--epoch', '3'], error: "unknown option '--epoch'" },
  { what: '--epochs without a value', args: ['--epochs'], error: "option '--epochs <n>' argument missing" },
];

/** Query strings of `POST /admin/trigger-training` (after `model=MODEL&`), and the field named. */
const TRIGGERS: { what: string; query: string; error: string; status?: number }[] = [
  { what: 'epochs=abc', query: 'epochs=abc', error: 'epochs:' },
  { what: 'epochs=0', query: 'epochs=0', error: 'epochs:' },
  { what: 'epochs=2.5', query: 'epochs=2.5', error: 'epochs:' },
  { what: 'trials=100', query: 'trials=100', error: 'trials:' },
  { what: 'windowDays=-2', query: 'windowDays=-2', error: 'windowDays:' },
  { what: 'minRecords=0', query: 'minRecords=0', error: 'minRecords:' },
  { what: 'incremental=maybe', query: 'incremental=maybe', error: 'incremental:' },
  { what: 'blocking=2', query: 'blocking=2', error: 'blocking:' },
  { what: 'an unknown parameter', query: 'epoch=3', error: 'epoch' },
  { what: 'model=../x', query: 'model=..%2Fx', error: SLUG_RULE },
  { what: 'model=%2e%2e', query: 'model=%252e%252e', error: SLUG_RULE },
  { what: 'an empty model', query: 'model=', error: SLUG_RULE },
  { what: 'a unicode model', query: 'model=mod%C3%A8le', error: SLUG_RULE },
  { what: 'a model with NUL', query: 'model=a%00b', error: SLUG_RULE },
  { what: 'a 300-character model', query: `model=${'a'.repeat(300)}`, error: SLUG_RULE },
  {
    what: 'a well-formed unknown model',
    query: 'model=no-such-model',
    error: 'unknown model no-such-model',
    status: 404,
  },
];

let stubs: StubWorkers;
let dir: string;
let server: InferenceServer;
let retrain: (...argv: string[]) => Promise<CliResult>;

beforeAll(async () => {
  stubs = await stubWorkers();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-bad-input-'));
  const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
  server = createServer({
    registry,
    apiKey: API_KEY,
    temporal: {
      client: stubs.client,
      taskQueue: stubs.taskQueue,
      buffer: new DataBuffer(path.join(dir, 'buffer')),
    },
  });
  await server.app.ready();
  retrain = cliWith(
    loadConfig(
      {
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        RETRAIN_TASK_QUEUE: stubs.taskQueue,
        RETRAIN_STORE: `file://${path.join(dir, 'store')}`,
        RETRAIN_BUFFER_DIR: path.join(dir, 'buffer'),
      },
      dir,
    ),
  );
});

afterAll(async () => {
  console.log(`bad-input catalogue cases: ${JSON.stringify(counts)}`);
  await server?.app.close();
  await stubs?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** Runs of `model` Temporal knows about (their ids start `retrain-<model>-`). */
async function runsOf(model: string): Promise<number> {
  const { count: n } = await stubs.client.workflow.count(`WorkflowId STARTS_WITH "retrain-${model}-"`);
  return n;
}

describe('raw JSON through the official temporal CLI', () => {
  it.each(RAW_INPUTS)(
    '$what: the run fails with a non-retryable InvalidInput naming $field before any activity',
    async ({ input, field, names }) => {
      count('temporal workflow start --input');
      const model = stubs.model();
      const workflowId = `bad-input-${randomUUID()}`;
      const args = [
        'workflow',
        'start',
        '--address',
        inject('temporalAddress'),
        '--task-queue',
        stubs.taskQueue,
      ];
      args.push('--type', 'retrainWorkflow', '--workflow-id', workflowId);
      if (input !== undefined) args.push('--input', input.replaceAll('MODEL', model));

      await run(TEMPORAL_BIN, args);
      const handle = stubs.client.workflow.getHandle(workflowId);
      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );

      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause).toMatchObject({ type: ErrorType.InvalidInput, nonRetryable: true });
      expect(cause?.message).toMatch(/^Invalid retrain input: /);
      expect(cause?.message).toContain(names ?? `${field}:`);
      expect((await handle.describe()).status.name).toBe('FAILED');
      const events = (await handle.fetchHistory()).events ?? [];
      const scheduled = events.filter(
        (e) =>
          e.activityTaskScheduledEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes,
      );
      expect(scheduled).toEqual([]);
      // One workflow task, no retries: it failed on its first attempt.
      expect(events.filter((e) => e.workflowTaskStartedEventAttributes)).toHaveLength(1);
    },
  );
});

describe('retrain start with bad flags', () => {
  const model = `bad-flags-${randomUUID().slice(0, 8)}`;

  it.each(CLI_FLAGS)('$what: exits 2 naming the option, nothing started', async ({ args, error }) => {
    count('retrain start');
    const result = await retrain('start', '--model', model, ...args);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(error);
  });

  it.each(['../x', 'a/b', '%2e%2e', '', 'x'.repeat(64), 'modèle', 'a\u0000b', 'UPPER'])(
    '--model %j: exits 2 naming the slug rule',
    async (name) => {
      count('retrain start');
      const result = await retrain('start', '--model', name);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(SLUG_RULE);
    },
  );

  it('started none of them: a good start afterwards is the only run of the model', async () => {
    const good = stubs.model();
    for (const { args } of CLI_FLAGS) expect((await retrain('start', '--model', good, ...args)).code).toBe(2);
    const started = await retrain('start', '--model', good, '--json');
    expect(started.code, started.stderr).toBe(0);
    await eventually('the good run is listed', async () => (await runsOf(good)) === 1, 30_000);
    expect(await runsOf(good)).toBe(1);
  });
});

describe('POST /admin/trigger-training with bad values', () => {
  it.each(TRIGGERS)(
    '$what: answers 400 naming the field, nothing started',
    async ({ query, error, status }) => {
      count('POST /admin/trigger-training');
      const model = stubs.model();
      await new ModelRegistry(new FileBlobStore(path.join(dir, 'store'))).saveSpec(stubSpec(model));
      const url = `/admin/trigger-training?${query.startsWith('model=') ? '' : `model=${model}&`}${query}`;

      const res = await server.app.inject({ method: 'POST', url, headers: { 'x-api-key': API_KEY } });

      expect(res.statusCode, res.body).toBe(status ?? 400);
      expect(res.json()).toMatchObject({ success: false });
      expect(res.json().error).toContain(error);
      expect(await runsOf(model)).toBe(0);
    },
  );

  it('answers the same for a JSON body as for the query string', async () => {
    count('POST /admin/trigger-training');
    const model = stubs.model();
    await new ModelRegistry(new FileBlobStore(path.join(dir, 'store'))).saveSpec(stubSpec(model));
    const res = await server.app.inject({
      method: 'POST',
      url: '/admin/trigger-training',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      payload: { model, epochs: -1 },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toContain('epochs:');
    expect(await runsOf(model)).toBe(0);
  });
});

describe('model names with path tricks on the training routes', () => {
  it.each(['../x', 'a/b', '%2e%2e', '', 'x'.repeat(64), 'modèle', 'a\u0000b', 'UPPER'])(
    '%j: training-status, training-stats and cancel-training answer 400 naming the slug rule',
    async (name) => {
      for (const [method, url] of [
        ['GET', '/admin/training-status'],
        ['GET', '/admin/training-stats'],
        ['POST', '/admin/cancel-training'],
      ] as const) {
        count('model names (training routes)');
        const res = await server.app.inject({
          method,
          url: `${url}?model=${encodeURIComponent(name)}`,
          headers: { 'x-api-key': API_KEY },
        });
        expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
        expect(res.json().error).toContain(SLUG_RULE);
      }
    },
  );
});

describe('a corrupt model met by an activity', () => {
  it('fails the run on the first attempt with a non-retryable CorruptArtefact naming the key', async () => {
    count('corrupt model in an activity');
    const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
    const spec = ModelSpecSchema.parse({ ...stubSpec('prod-model'), features: ['flights', 'delay'] });
    await publishVersion(registry, spec, 'v1');
    await corruptWeights(registry, spec.name, 'v1');
    const attempts: number[] = [];
    // As validateModel does for the production model: load it through store-io.
    const model = stubs.model({
      validateModel: async () => {
        attempts.push(Context.current().info.attempt);
        await storeLoadHandler(registry.store, registry.versionPrefix(spec.name, 'v1')).load!();
        throw new Error('unreachable: the weights are truncated');
      },
    });
    const { type, message, nonRetryable } = await corruptArtefactFailure(
      model,
      `retrain-${model}-corrupt-${randomUUID()}`,
    );
    expect(type).toBe(ErrorType.CorruptArtefact);
    expect(message).toMatch(/Corrupt weights at \S+\/models\/prod-model\/versions\/v1\/weights\.bin: /);
    expect(nonRetryable).toBe(true);
    expect(attempts).toEqual([1]);
  });
});

describe('corrupt metadata met by an activity', () => {
  it('fails the run on the first attempt with a non-retryable CorruptArtefact naming metadata.json', async () => {
    count('corrupt model in an activity');
    const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
    const spec = ModelSpecSchema.parse({ ...stubSpec('prod-meta'), features: ['flights', 'delay'] });
    await publishVersion(registry, spec, 'v1');
    await registry.store.put(`${registry.versionPrefix(spec.name, 'v1')}/metadata.json`, '{"model": "prod-');
    const attempts: number[] = [];
    // As validateModel does for the production model: read its metadata from the registry.
    const model = stubs.model({
      validateModel: async () => {
        attempts.push(Context.current().info.attempt);
        await registry.getMetadata(spec.name, 'v1');
        throw new Error('unreachable: the metadata is not JSON');
      },
    });
    const { type, message, nonRetryable } = await corruptArtefactFailure(
      model,
      `retrain-${model}-corrupt-meta-${randomUUID()}`,
    );
    expect(type).toBe(ErrorType.CorruptArtefact);
    expect(message).toMatch(/\/models\/prod-meta\/versions\/v1\/metadata\.json is not valid JSON$/);
    expect(nonRetryable).toBe(true);
    expect(attempts).toEqual([1]);
  });
});

/**
 * Runs the model on the stub workers, expects the run to fail, and returns the activity's
 * CorruptArtefact failure from its cause chain (the workflow wraps it with its stage).
 */
async function corruptArtefactFailure(
  model: string,
  workflowId: string,
): Promise<{ type?: string | null; message: string; nonRetryable?: boolean | null }> {
  const handle = await stubs.client.workflow.start('retrainWorkflow', {
    taskQueue: stubs.taskQueue,
    workflowId,
    args: [{ model }],
  });
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let current: unknown = err;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure && current.type === ErrorType.CorruptArtefact) {
      return { type: current.type, message: current.message, nonRetryable: current.nonRetryable };
    }
    current = current.cause;
  }
  return { message: `no CorruptArtefact failure under ${(err as Error).message}` };
}
