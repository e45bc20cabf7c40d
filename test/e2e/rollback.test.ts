import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { Context } from '@temporalio/activity';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';

import { main } from '../../clients/cli';
import type { CommandOutput } from '../../clients/output';
import { admissionUpdate } from '../../common/messages';
import { selectBackend } from '../../ml/backend';
import { createServer, type InferenceServer } from '../../serving/server';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import {
  AliasConflictError,
  ModelNotFoundError,
  ModelRegistry,
  RollbackRefusedError,
} from '../../storage/registry';
import { loadConfig, type Config } from '../../config/config';
import { retrainWorkflow } from '../../workflows';
import { corruptWeights, cpuLoadSpec, publishVersion, recentRows } from '../helpers/models';
import { stubWorkers, type StubWorkers } from '../helpers/stub-workers';

const API_KEY = 'rollback-test-key-0123456789';
const SPEC = cpuLoadSpec('roll-me-back');

let dir: string;
let registry: ModelRegistry;
/** The workflows (the model's lease among them) on the suite's dev server, for the command's lease. */
let temporal: StubWorkers;

/** v1, v2 good; v3 with truncated weights (complete files no server may load); v4 without weights.bin. */
beforeAll(async () => {
  await selectBackend('cpu');
  temporal = await stubWorkers();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-rollback-'));
  registry = new ModelRegistry(new FileBlobStore(dir));
  await registry.saveSpec(SPEC);
  for (const [version, seed] of [
    ['v1', 1],
    ['v2', 2],
    ['v3', 3],
    ['v4', 4],
  ] as const)
    await publishVersion(registry, SPEC, version, { seed });
  await corruptWeights(registry, SPEC.name, 'v3');
  await registry.store.delete(`${registry.versionPrefix(SPEC.name, 'v4')}/weights.bin`);
});

afterAll(async () => {
  await temporal?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

/** The command line's config for this file's store, the suite's Temporal and the stub workers' queue. */
function cliConfig(more: Record<string, string> = {}): Config {
  return loadConfig(
    {
      RETRAIN_STORE: `file://${dir}`,
      RETRAIN_API_KEY: API_KEY,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      RETRAIN_TASK_QUEUE: temporal.taskQueue,
      ...more,
    },
    dir,
  );
}

describe('registry rollback', () => {
  beforeEach(async () => {
    await registry.store.delete(`models/${SPEC.name}/aliases/production.json`);
  });

  it('refuses when there is no alias, or no previous version and no --to, naming what to do', async () => {
    await expect(registry.rollback(SPEC.name)).rejects.toThrow(
      new RollbackRefusedError(`${SPEC.name} has no production alias: nothing to roll back`),
    );
    await registry.setAlias(SPEC.name, 'v1', null);
    await expect(registry.rollback(SPEC.name)).rejects.toThrow(
      /production v1 has no previous version; name one with --to/,
    );
    await expect(registry.rollback('no-such-model')).rejects.toThrow(ModelNotFoundError);
  });

  it('moves production back to its previous version by default, and to a named complete version', async () => {
    await registry.setAlias(SPEC.name, 'v1', null);
    await registry.setAlias(SPEC.name, 'v2', 'wf-2');
    const move = await registry.rollback(SPEC.name);
    expect(move).toMatchObject({
      from: 'v2',
      to: 'v1',
      alias: { version: 'v1', previous: 'v2', workflowId: null },
    });
    expect((await registry.getAlias(SPEC.name))?.value).toMatchObject({ version: 'v1', previous: 'v2' });
    expect(await registry.rollback(SPEC.name, 'v2')).toMatchObject({ from: 'v1', to: 'v2' });
  });

  it('refuses a target that does not exist, lacks a file, or is already production; the alias stays', async () => {
    await registry.setAlias(SPEC.name, 'v2', null);
    const before = await registry.getAlias(SPEC.name);
    await expect(registry.rollback(SPEC.name, 'v9')).rejects.toThrow(
      `cannot roll ${SPEC.name} back to v9: ${SPEC.name} v9 does not exist or is incomplete (no metadata.json)`,
    );
    await expect(registry.rollback(SPEC.name, 'v4')).rejects.toThrow(`${SPEC.name} v4 lacks weights.bin`);
    await expect(registry.rollback(SPEC.name, 'v2')).rejects.toThrow('already is v2');
    expect((await registry.getAlias(SPEC.name))?.etag).toBe(before?.etag);
  });

  it('lets one of two concurrent rollbacks win; the other gets a conflict', async () => {
    await registry.setAlias(SPEC.name, 'v1', null);
    await registry.setAlias(SPEC.name, 'v2', null);
    const other = new ModelRegistry(new FileBlobStore(dir));
    const settled = await Promise.allSettled([registry.rollback(SPEC.name), other.rollback(SPEC.name)]);
    expect(settled.map((s) => s.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(AliasConflictError);
    expect((await registry.getAlias(SPEC.name))?.value).toMatchObject({ version: 'v1', previous: 'v2' });
  });
});

describe('retrain rollback (command line) with a real inference server', () => {
  let server: InferenceServer;
  let url: string;
  let results: string[];
  let logs: string[];
  let stderr: string[];
  const out: CommandOutput = {
    log: (line) => logs.push(line),
    progress: (line) => logs.push(line),
    endProgress: () => {},
    result: (json, value, text) => results.push(json ? JSON.stringify(value) : text),
    writeOut: (text) => results.push(text),
    writeErr: (text) => stderr.push(text),
  };
  let config: Config;
  const predictVersion = async () => {
    const res = await fetch(`${url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: SPEC.name, rows: recentRows(SPEC, ['a']) }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { version: string }).version;
  };

  beforeAll(async () => {
    await registry.store.delete(`models/${SPEC.name}/aliases/production.json`);
    await registry.setAlias(SPEC.name, 'v1', null);
    await registry.setAlias(SPEC.name, 'v2', 'wf-2');
    server = createServer({ registry, apiKey: API_KEY });
    await server.loadProductionModels();
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
    config = cliConfig({ RETRAIN_SERVING_URLS: url });
  });
  afterAll(async () => {
    await server?.app.close();
  });
  beforeEach(() => {
    results = [];
    logs = [];
    stderr = [];
  });

  it('moves production to the previous version and reloads the server, reporting it as JSON', async () => {
    expect(await predictVersion()).toBe('v2');
    const code = await main(['rollback', '--model', SPEC.name, '--json'], out, config);
    expect(code).toBe(0);
    expect(results).toHaveLength(1);
    expect(JSON.parse(results[0] as string)).toEqual({
      model: SPEC.name,
      from: 'v2',
      to: 'v1',
      ok: true,
      production: 'v1',
      servers: [{ url, ok: true, version: 'v1', attempts: 1 }],
    });
    expect(await predictVersion()).toBe('v1');
    expect((await registry.getAlias(SPEC.name))?.value).toMatchObject({ version: 'v1', previous: 'v2' });
  });

  it('exits 1 when the server refuses the target, puts the alias back and keeps the server on the old version', async () => {
    const code = await main(['rollback', '--model', SPEC.name, '--to', 'v3', '--json'], out, config);
    expect(code).toBe(1);
    const report = JSON.parse(results[0] as string);
    expect(report).toMatchObject({ from: 'v1', to: 'v3', ok: false, production: 'v1' });
    expect(report.servers[0]).toMatchObject({ url, ok: false, attempts: 1 });
    expect(report.servers[0].error).toMatch(/^reload answered 422: .*Corrupt weights/);
    expect(report.revert).toMatchObject({
      to: 'v1',
      aliasMoved: true,
      servers: [{ url, ok: true, version: 'v1' }],
    });
    expect(stderr.join('')).toMatch(
      /^retrain: inference servers refused roll-me-back v3: .*production rolled back to v1/,
    );
    expect(stderr.join('').trim().split('\n')).toHaveLength(1);
    expect((await registry.getAlias(SPEC.name))?.value.version).toBe('v1');
    expect(await predictVersion()).toBe('v1');
    expect([...results, ...logs, ...stderr].join('\n')).not.toContain(API_KEY);
  });

  it('refuses a malformed --to with exit 2 and changes nothing', async () => {
    const before = await registry.getAlias(SPEC.name);
    expect(await main(['rollback', '--model', SPEC.name, '--to', 'latest'], out, config)).toBe(2);
    expect(stderr.join('')).toContain('to: a version looks like v3');
    expect(await main(['rollback', '--to', 'v1'], out, config)).toBe(2);
    expect((await registry.getAlias(SPEC.name))?.etag).toBe(before?.etag);
    expect(results).toEqual([]);
  });
});

/** A training that heartbeats until it is cancelled, so its run holds the model's lease as long as a test needs. */
async function trainUntilCancelled(): Promise<never> {
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat({ alive: true });
    await ctx.sleep(50);
  }
}

describe("retrain rollback under the model's lease", () => {
  const stderr: string[] = [];
  const results: string[] = [];
  const out: CommandOutput = {
    log: () => {},
    progress: () => {},
    endProgress: () => {},
    result: (json, value, text) => results.push(json ? JSON.stringify(value) : text),
    writeOut: (text) => results.push(text),
    writeErr: (text) => stderr.push(text),
  };

  it('is refused, changing nothing, while a run holds the lease; goes through once it ended, and frees the lease after', async () => {
    const { client, taskQueue } = temporal;
    const model = temporal.model({ trainModel: trainUntilCancelled });
    await registry.saveSpec(cpuLoadSpec(model));
    await publishVersion(registry, cpuLoadSpec(model), 'v1', { seed: 1 });
    await publishVersion(registry, cpuLoadSpec(model), 'v2', { seed: 2 });
    await registry.setAlias(model, 'v1', null);
    await registry.setAlias(model, 'v2', 'wf-2');
    const config = cliConfig();
    const startRun = async (name: string) => {
      const handle = await client.workflow.start(retrainWorkflow, {
        taskQueue,
        workflowId: `retrain-${model}-${name}`,
        args: [{ model }],
      });
      return { handle, admission: await handle.executeUpdate(admissionUpdate) };
    };

    const running = await startRun('holder');
    expect(running.admission.admitted).toBe(true);
    const before = await registry.getAlias(model);
    const refusal = `model busy: run ${running.handle.workflowId} holds ${model}; rollback refused, try again when it has ended`;
    expect(await main(['rollback', '--model', model], out, config)).toBe(1);
    expect(stderr.join('')).toBe(`retrain: ${refusal}\n`);
    // The dashboard's button: the same refusal, as a 409.
    const dashboard = createServer({
      registry,
      apiKey: API_KEY,
      temporal: { client, taskQueue, buffer: new DataBuffer(path.join(dir, 'buffer')) },
    });
    try {
      const res = await dashboard.app.inject({
        method: 'POST',
        url: `/ui/api/models/${model}/rollback`,
        headers: { 'x-api-key': API_KEY },
      });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ error: refusal, holder: running.handle.workflowId });
    } finally {
      await dashboard.app.close();
    }
    expect((await registry.getAlias(model))?.etag).toBe(before?.etag);

    await running.handle.cancel();
    await expect(running.handle.result()).rejects.toThrow('Workflow execution cancelled');
    stderr.length = 0;
    expect(await main(['rollback', '--model', model, '--json'], out, config)).toBe(0);
    expect(stderr).toEqual([]);
    expect(JSON.parse(results.at(-1) as string)).toMatchObject({ from: 'v2', to: 'v1', ok: true });
    expect((await registry.getAlias(model))?.value).toMatchObject({ version: 'v1', previous: 'v2' });

    // The rollback released the lease: the next run takes the model at once.
    const next = await startRun('after');
    expect(next.admission.admitted).toBe(true);
    await next.handle.cancel();
    await expect(next.handle.result()).rejects.toThrow('Workflow execution cancelled');
  });
});
