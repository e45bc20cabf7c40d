import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { afterEach, describe, expect, inject, it } from 'vitest';

import { ErrorType } from '../../common/errors';
import type { ReloadResult } from '../../common/stages';
import { rollBack } from '../../rollout/rollback';
import { createServer, type InferenceServer } from '../../serving/server';
import { ServerDirectory } from '../../storage/server-directory';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, outcomes, scheduled } from '../helpers/history';
import { flightSpec } from '../helpers/local-pipeline';
import { publishVersion } from '../helpers/models';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';

const API_KEY = 'fleet-discovery-key-0123456789';
const ROOT = path.resolve(__dirname, '..', '..');

describe('inference servers found through the store', { timeout: 240_000 }, () => {
  const closing: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    // Last opened, first closed: the servers leave the fleet before the pipeline's store goes.
    for (const close of closing.splice(0).reverse()) await close().catch(() => undefined);
  });

  /** A pipeline whose `v1` is production, reloading no static server: its fleet is what announces itself. */
  async function fleetPipeline(): Promise<Pipeline> {
    const pipeline = await createPipeline({ gate: PERMISSIVE_GATE, epochs: 2 });
    closing.push(() => pipeline.cleanup());
    pipeline.deps.apiKey = API_KEY;
    pipeline.deps.servingUrls = [];
    await publishVersion(pipeline.deps.registry, pipeline.spec, 'v1', { seed: 1 });
    await pipeline.deps.registry.setAlias(pipeline.spec.name, 'v1', null);
    return pipeline;
  }

  /** An in-process inference server on the pipeline's store that has joined its fleet. */
  async function member(
    pipeline: Pipeline,
    aliasPollMs: number,
  ): Promise<{ server: InferenceServer; url: string }> {
    const server = createServer({
      registry: pipeline.deps.registry,
      apiKey: API_KEY,
      fleet: { directory: new ServerDirectory(pipeline.deps.store), heartbeatMs: 1000, aliasPollMs },
    });
    closing.push(() => server.app.close());
    await server.loadProductionModels();
    const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
    await server.joinFleet(url);
    return { server, url };
  }

  /**
   * `serving/main.ts` as a child process on the pipeline's store (announcing every 60 s, so it still
   * counts as alive for three minutes after it is killed); resolves once it has announced serving `v1`.
   */
  async function childServer(pipeline: Pipeline): Promise<{ child: ChildProcess; url: string }> {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join('serving', 'main.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        RETRAIN_STORE: `file://${path.join(pipeline.dir, 'store')}`,
        RETRAIN_BUFFER_DIR: path.join(pipeline.dir, 'child-buffer'),
        RETRAIN_PREDICTION_LOG_SAMPLE: '0',
        RETRAIN_API_KEY: API_KEY,
        SERVING_HOST: '127.0.0.1',
        SERVING_PORT: String(port),
        RETRAIN_SERVER_HEARTBEAT_SECONDS: '60',
        TFJS_BACKEND: 'cpu',
        TEMPORAL_ADDRESS: inject('temporalAddress'),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    closing.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    });
    // The default advertised URL: http://SERVING_HOST:SERVING_PORT.
    const url = `http://127.0.0.1:${port}`;
    const directory = new ServerDirectory(pipeline.deps.store);
    await eventually(
      `serving/main.ts at ${url} to announce serving ${pipeline.spec.name} v1`,
      async () => {
        if (child.exitCode !== null) throw new Error(`it exited ${child.exitCode}: ${stderr.slice(-2000)}`);
        const found = (await directory.aliveServers()).find((server) => server.url === url);
        return found?.models[pipeline.spec.name] === 'v1';
      },
      90_000,
      200,
    );
    return { child, url };
  }

  it('completes a promotion without rollback when an announced server dies mid-run; the survivors serve the new version', async () => {
    const pipeline = await fleetPipeline();
    const { client, spec, taskQueue, deps } = pipeline;
    const survivors = [await member(pipeline, 600_000), await member(pipeline, 600_000)];
    const doomed = await childServer(pipeline);

    const workflowId = `retrain-${spec.name}-fleet-${Date.now()}`;
    const result = await pipeline.withWorkers(async () => {
      const handle = await client.workflow.start(retrainWorkflow, {
        taskQueue,
        workflowId,
        args: [{ model: spec.name }],
      });
      doomed.child.kill('SIGKILL');
      await once(doomed.child, 'exit');
      return handle.result();
    });

    expect(result).toMatchObject({ status: 'completed', version: 'v2' });
    const events = await historyEvents(client.workflow.getHandle(workflowId));
    const [reload] = scheduled(events, 'reloadServers');
    const [done] = outcomes<ReloadResult>(events, reload!.eventId);
    expect(done?.kind).toBe('completed');
    const byUrl = (a: { url: string }, b: { url: string }) => a.url.localeCompare(b.url);
    expect(done?.result?.servers.sort(byUrl)).toEqual(
      survivors.map(({ url }) => ({ url, ok: true, version: 'v2', attempts: 1 })).sort(byUrl),
    );
    expect(done?.result?.skipped).toEqual([
      { url: doomed.url, reason: expect.stringMatching(/^unreachable: /) },
    ]);
    // The run says so too, as every surface shows its stages.
    expect(result.stages.find((s) => s.name === 'reloadServers')?.summary).toBe(
      `2 server(s) serve v2; 1 unreachable skipped (${doomed.url})`,
    );
    expect((await deps.registry.getAlias(spec.name))?.value.version).toBe('v2');
    expect(survivors.map(({ server }) => server.pool.get(spec.name)?.version)).toEqual(['v2', 'v2']);
  });

  it('a server that missed a promotion follows the production alias by its poll, and learns new models', async () => {
    const pipeline = await fleetPipeline();
    const { registry } = pipeline.deps;
    const { spec } = pipeline;
    const { server } = await member(pipeline, 300);
    expect(server.pool.get(spec.name)?.version).toBe('v1');

    // Promoted without a reload reaching this server (it was not in the fleet, or was down).
    await publishVersion(registry, spec, 'v2', { seed: 2 });
    await registry.setAlias(spec.name, 'v2', null);
    await eventually(
      `the server to follow ${spec.name} to v2`,
      () => server.pool.get(spec.name)?.version === 'v2',
    );

    // A model created after the server started, then promoted.
    const added = flightSpec({ name: `${spec.name}-new`, epochs: 2 });
    await registry.saveSpec(added);
    await eventually(`the server to know ${added.name}`, () => server.pool.isKnown(added.name));
    expect(server.pool.get(added.name)).toBeUndefined();
    await publishVersion(registry, added, 'v1', { seed: 3 });
    await registry.setAlias(added.name, 'v1', null);
    await eventually(
      `the server to load ${added.name} v1`,
      () => server.pool.get(added.name)?.version === 'v1',
    );
  });

  it('a server announces its url and served versions, and withdraws the announcement when it closes', async () => {
    const pipeline = await fleetPipeline();
    const directory = new ServerDirectory(pipeline.deps.store);
    const { server, url } = await member(pipeline, 600_000);
    expect(await directory.aliveServers()).toEqual([
      expect.objectContaining({ url, heartbeatSeconds: 1, models: { [pipeline.spec.name]: 'v1' } }),
    ]);
    await server.app.close();
    expect(await directory.list()).toEqual([]);
  });

  it('a rollback reloads the announced servers at once, beside the static list', async () => {
    const pipeline = await fleetPipeline();
    const { registry } = pipeline.deps;
    const { spec } = pipeline;
    await publishVersion(registry, spec, 'v2', { seed: 2 });
    await registry.setAlias(spec.name, 'v2', null);
    const { server, url } = await member(pipeline, 600_000);
    expect(server.pool.get(spec.name)?.version).toBe('v2');

    // Without a lease: this test is about the fleet it reloads (rollback.test.ts holds one).
    const report = await rollBack(registry, {
      model: spec.name,
      targets: [],
      apiKey: API_KEY,
      hold: (work) => work(),
    });

    expect(report).toMatchObject({
      ok: true,
      from: 'v2',
      to: 'v1',
      servers: [{ url, ok: true, version: 'v1' }],
    });
    expect(server.pool.get(spec.name)?.version).toBe('v1');
  });

  it("refuses a run's reloadTargets outside the fleet before any request carries the key, and puts production back", async () => {
    const pipeline = await fleetPipeline();
    const { client, spec, taskQueue, deps } = pipeline;
    const { url: memberUrl } = await member(pipeline, 600_000);
    const heard: http.IncomingHttpHeaders[] = [];
    const stranger = http.createServer((req, res) => {
      heard.push(req.headers);
      res.end('{}');
    });
    stranger.listen(0, '127.0.0.1');
    await once(stranger, 'listening');
    closing.push(() => new Promise((resolve) => stranger.close(resolve)));
    const strangerUrl = `http://127.0.0.1:${(stranger.address() as net.AddressInfo).port}`;

    const failed = await pipeline
      .withWorkers(() =>
        client.workflow.execute(retrainWorkflow, {
          taskQueue,
          workflowId: `retrain-${spec.name}-stranger-${Date.now()}`,
          args: [{ model: spec.name, reloadTargets: [memberUrl, strangerUrl] }],
        }),
      )
      .then(
        () => undefined,
        (err: unknown) => err,
      );

    expect(failed).toBeInstanceOf(WorkflowFailedError);
    const cause = (failed as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause.type).toBe(ErrorType.InvalidInput);
    expect(cause.message).toContain(
      `reloadTargets names ${strangerUrl}: not an inference server of this fleet`,
    );
    expect(cause.message).not.toContain(API_KEY);
    expect(heard).toEqual([]);
    expect((await deps.registry.getAlias(spec.name))?.value.version).toBe('v1');
  });
});

/** A loopback port free now, for a child process to listen on. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
