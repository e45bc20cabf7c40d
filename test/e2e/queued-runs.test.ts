import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Context } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../config/config';
import { modelQueue, readRun, startRun, type ModelQueue } from '../../runs';
import { createServer, type InferenceServer } from '../../serving/server';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { eventually } from '../helpers/eventually';
import { cliWith, type CliResult } from '../helpers/run-cli';
import { stubSpec, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

const KEY = 'queued-runs-test-key-0123456789';

/** The priorities of the ten queued starts, in the order they are made. */
const PRIORITIES = [3, 5, 1, 3, 2, 5, 1, 4, 2, 3];

describe('queued runs: ten starts of one busy model run one at a time, in priority order', () => {
  let env: StubWorkers;
  let dir: string;
  let server: InferenceServer;
  let url: string;
  let retrain: (...argv: string[]) => Promise<CliResult>;
  let model: string;
  /** Which runs trained, in order; and how many trained at once, at most. */
  const trained: string[] = [];
  let training = 0;
  let mostAtOnce = 0;
  /** The holder trains until the test lets it finish. */
  let holderMayFinish = false;

  beforeAll(async () => {
    env = await stubWorkers();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-queued-'));
    const registry = new ModelRegistry(new FileBlobStore(dir));
    model = env.model({
      trainModel: async ({ workflowId, epochs }) => {
        training++;
        mostAtOnce = Math.max(mostAtOnce, training);
        trained.push(workflowId);
        const ctx = Context.current();
        while (trained.length === 1 && !holderMayFinish) {
          ctx.heartbeat();
          await ctx.sleep(100);
        }
        training--;
        return {
          candidateKey: `checkpoints/${model}/${workflowId}/final`,
          backend: 'cpu',
          epochs,
          loss: 0.5,
          valLoss: 0.6,
          samplesPerSec: 1000,
          warmStart: { skipped: 'no production model' },
        };
      },
    });
    await registry.saveSpec(stubSpec(model));
    const buffer = new DataBuffer(path.join(dir, 'buffer'));
    server = createServer({
      registry,
      apiKey: KEY,
      temporal: { client: env.client, taskQueue: env.taskQueue, buffer },
      buffer,
      dashboard: { temporalUiUrl: 'http://127.0.0.1:8233', namespace: 'default', servingUrls: [] },
    });
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    retrain = cliWith(
      loadConfig({ TEMPORAL_ADDRESS: inject('temporalAddress'), RETRAIN_TASK_QUEUE: env.taskQueue }, dir),
    );
  });
  afterAll(async () => {
    await server?.app.close();
    await env?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('queues behind the holder, shows the same positions in the CLI, the admin API and the dashboard, and runs them in order', async () => {
    const { client, taskQueue } = env;
    const holder = await startRun(
      client,
      { model, incremental: true, trials: 1 },
      { taskQueue, origin: 'test' },
    );
    expect(holder.admission).toBe('admitted');
    await eventually('the holder training', async () => trained.length === 1);

    const queued = [];
    for (const priority of PRIORITIES)
      queued.push(
        await startRun(
          client,
          { model, incremental: true, trials: 1, admission: 'queue', priority },
          { taskQueue, origin: 'test' },
        ),
      );
    expect(queued.map((q) => q.admission)).toEqual(PRIORITIES.map(() => 'queued'));
    expect(new Set(queued.map((q) => q.workflowId)).size).toBe(10);

    // Priority first, then who came first: the order the queue must run them in.
    const expected = queued
      .map((q, i) => ({ id: q.workflowId, priority: PRIORITIES[i] ?? 0, i }))
      .sort((a, b) => a.priority - b.priority || a.i - b.i)
      .map((q) => q.id);

    const settled = await eventually('every queued run to record its final place', async () => {
      const queue = await modelQueue(client, model);
      return queue.queued.length === 10 &&
        queue.queued.every((q, i) => q.position === i + 1 && q.waiting === 10)
        ? queue
        : undefined;
    });
    expect(settled.holder).toBe(holder.workflowId);
    expect(settled.queued.map((q) => q.workflowId)).toEqual(expected);
    const places = (queue: Pick<ModelQueue, 'queued'>) =>
      queue.queued.map((q) => [q.workflowId, q.position, q.priority]);

    const cli = await retrain('queue', '--model', model, '--json');
    expect(cli.code, cli.stderr).toBe(0);
    expect(places(JSON.parse(cli.stdout) as ModelQueue)).toEqual(places(settled));

    const admin = await fetch(`${url}/admin/queue?model=${model}`, { headers: { 'X-API-Key': KEY } });
    expect(admin.status).toBe(200);
    expect(places((await admin.json()) as ModelQueue)).toEqual(places(settled));
    expect((await fetch(`${url}/admin/queue?model=${model}`)).status).toBe(401);

    const dashboard = (await (
      await fetch(`${url}/ui/api/runs?model=${model}`, { headers: { 'X-API-Key': KEY } })
    ).json()) as {
      workflowId: string;
      status: string;
      queue: { position: number; priority: number } | null;
    }[];
    const onDashboard = dashboard
      .filter((r) => r.status === 'queued')
      .sort((a, b) => (a.queue?.position ?? 0) - (b.queue?.position ?? 0))
      .map((r) => [r.workflowId, r.queue?.position, r.queue?.priority]);
    expect(onDashboard).toEqual(places(settled));

    const status = await retrain('status', expected[0] ?? '');
    expect(status.stdout).toContain(`queued: 1 of 10 (priority 1) behind ${holder.workflowId}`);

    holderMayFinish = true;
    for (const id of expected)
      await eventually(
        `${id} to complete`,
        async () => (await readRun(client, id)).status === 'completed',
        30_000,
      );
    expect(trained).toEqual([holder.workflowId, ...expected]);
    expect(mostAtOnce).toBe(1);
  });
});
