import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { decodeTimeoutType } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { datasetKey } from '../../activities/export-dataset';
import { manifestKey } from '../../datasets/dataset-io';
import { STAGES } from '../../common/retrain';
import { ROOT } from '../../scripts/lib/processes';
import { startDevServer, type DevServer } from '../../scripts/lib/temporal-server';
import type { FileLock } from '../../storage/file-lock';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, outcomes, scheduled, startedEvent } from '../helpers/history';
import { pendingActivity, type PendingActivity } from '../helpers/pending-activity';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';
import { holdFileStoreKey } from '../helpers/store-lock';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

type Handle = WorkflowHandle<typeof retrainWorkflow>;
type Events = Awaited<ReturnType<typeof historyEvents>>;

/** When the server recorded the end of the activity scheduled at `scheduledEventId`. */
function endedAt(events: Events, scheduledEventId: number): number | undefined {
  const ended = events.find((e) =>
    [e.activityTaskCompletedEventAttributes, e.activityTaskFailedEventAttributes].some(
      (a) => Number(a?.scheduledEventId) === scheduledEventId,
    ),
  );
  const time = ended?.eventTime;
  return time ? Number(String(time.seconds)) * 1000 + Math.floor((time.nanos ?? 0) / 1e6) : undefined;
}

/**
 * A long outage: longer than the SDK retries an activity's completion (about 10 s), so a completion
 * sent meanwhile is lost and only the heartbeat timeout of the cpu activities brings the run on.
 */
const LONG_OUTAGE_MS = 15_000;

/** `promise`, or a failure naming `what` after `ms` (instead of the test's own timeout). */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

// Each run trains 3 small epochs (a few seconds).
describe('the Temporal server SIGKILLed and restarted on its SQLite file', { timeout: 240_000 }, () => {
  const logs = path.join(ROOT, '.data', 'test', `faults-temporal-restart-${randomUUID().slice(0, 8)}`);
  const log = `${logs}-temporal.log`;
  let pipeline: Pipeline;
  let server: DevServer;
  let connection: Connection;
  let client: Client;
  const workers: WorkerProcess[] = [];
  let held: FileLock | undefined;

  beforeAll(async () => {
    pipeline = await createPipeline({
      // Long enough (about 5 s idle) that the train test finds the training past epoch 1 and still
      // running also on a loaded machine: 3 epochs took 1.2 s, and a full run's describe polls missed it.
      epochs: 12,
      hyperparams: { hiddenUnits: 32, batchSize: 16, seed: 7 },
      gate: PERMISSIVE_GATE,
    });
    server = await startDevServer({ log, dbFile: path.join(pipeline.dir, 'temporal.db') });
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection });
    const address = server.address;
    workers.push(
      ...(await Promise.all(
        (['cpu', 'gpu'] as const).map((kind) =>
          startWorkerProcess(pipeline, kind, { address, logFile: `${logs}-${kind}.log` }),
        ),
      )),
    );
  });
  afterEach(async () => {
    await held?.release();
    held = undefined;
  });
  afterAll(async () => {
    for (const worker of workers.splice(0)) await stopWorkerProcess(worker);
    await connection?.close();
    await server?.kill();
    await pipeline?.cleanup();
  });

  /**
   * SIGKILLs the server; `meanwhile` runs while it is down; after `outageMs` (at once when 0) it starts
   * again on the same port and file.
   */
  async function crashAndRestart(outageMs: number, meanwhile: () => Promise<void> = async () => {}) {
    const { port, dbFile, pid } = server;
    const killedAt = Date.now();
    await server.kill();
    await meanwhile();
    await new Promise((r) => setTimeout(r, Math.max(0, outageMs - (Date.now() - killedAt))));
    server = await startDevServer({ log, port, dbFile });
    expect(server.pid).not.toBe(pid);
    return { killedAt, downMs: Date.now() - killedAt };
  }

  async function startRun(name: string): Promise<Handle> {
    return client.workflow.start(retrainWorkflow, {
      taskQueue: pipeline.taskQueue,
      workflowId: `retrain-${pipeline.spec.name}-${name}-${Date.now()}`,
      args: [{ model: pipeline.spec.name, incremental: false }],
    });
  }

  /**
   * The run completed with one new version in production, each stage's activity scheduled and
   * completed exactly once, one dataset per run, the buffer untouched; the faulted activity ended
   * after the kill (it was pending across the outage). The workers are the ones started before.
   */
  async function expectCompletedOnce(
    handle: Handle,
    faulted: string,
    { killedAt, versionsBefore, records }: { killedAt: number; versionsBefore: string[]; records: number },
  ) {
    // Far less than the 10 minutes a lost completion waits without heartbeats.
    const result = await within(120_000, 'the run after the restart', handle.result());
    expect(result.status, result.reason).toBe('completed');
    const { registry, buffer, store } = pipeline.deps;
    const model = pipeline.spec.name;
    const version = `v${versionsBefore.length + 1}`;
    expect(result.version).toBe(version);
    expect(await registry.listVersions(model)).toEqual([...versionsBefore, version]);
    expect(await registry.versionProblem(model, version)).toBeUndefined();
    expect((await registry.getAlias(model))?.value).toMatchObject({ version, workflowId: handle.workflowId });

    const events = await historyEvents(handle);
    const attempts: Record<string, number | undefined> = {};
    for (const stage of STAGES) {
      const [once, ...more] = scheduled(events, stage);
      expect(once, stage).toBeDefined();
      expect(more, stage).toEqual([]);
      const ended = outcomes(events, once?.eventId ?? -1);
      expect(
        ended.map((o) => o.kind),
        stage,
      ).toEqual(['completed']);
      attempts[stage] = ended[0]?.attempt;
      if (stage === faulted) expect(endedAt(events, once?.eventId ?? -1)).toBeGreaterThan(killedAt);
    }
    const runDirs = new Set((await store.list(`datasets/${model}/`)).map((key) => key.split('/')[2]));
    expect([...runDirs]).toContain(handle.workflowId);
    expect(runDirs.size).toBe(versionsBefore.length + 1);
    expect((await buffer.stats(model)).records).toBe(records);
    for (const worker of workers) expect(worker.child.exitCode, `${worker.kind} worker`).toBeNull();
    return { version, attempts, events };
  }

  async function before() {
    const model = pipeline.spec.name;
    return {
      versionsBefore: await pipeline.deps.registry.listVersions(model),
      records: (await pipeline.deps.buffer.stats(model)).records,
    };
  }

  it('down 15 s from inside exportDataset: the export, its completion lost meanwhile, is retried; one version, nothing done twice', async () => {
    const start = await before();
    const workflowId = `retrain-${pipeline.spec.name}-export-${Date.now()}`;
    // Another writer holds the manifest's key: the export writes its rows, then waits to publish.
    const dataset = datasetKey(pipeline.spec.name, workflowId);
    held = await holdFileStoreKey(path.join(pipeline.dir, 'store'), manifestKey(dataset));
    const handle = await client.workflow.start(retrainWorkflow, {
      taskQueue: pipeline.taskQueue,
      workflowId,
      args: [{ model: pipeline.spec.name, incremental: false }],
    });
    const atKill: PendingActivity = await eventually(
      'exportDataset started, its rows written',
      async () => {
        const pending = await pendingActivity(handle, 'exportDataset');
        const written = await pipeline.deps.store.list(`${dataset}/`);
        return pending?.started && written.length > 0 ? pending : undefined;
      },
      // The workers may still be reconnecting after the previous test's restart: under a full suite's
      // load that took more than a minute once.
      120_000,
    );
    expect(atKill.attempt).toBe(1);
    // The export finishes right after the kill; its completion gives up long before the server is back.
    const crash = await crashAndRestart(LONG_OUTAGE_MS, async () => {
      await held?.release();
      held = undefined;
    });
    const { attempts, events } = await expectCompletedOnce(handle, 'exportDataset', {
      killedAt: crash.killedAt,
      ...start,
    });
    // So the attempt that finished was lost, and its heartbeat timeout started the one that completed
    // (finding the dataset the first wrote) instead of the 10-minute start-to-close timeout.
    expect(attempts.exportDataset).toBe(2);
    expect(
      decodeTimeoutType(
        startedEvent(events, scheduled(events, 'exportDataset')[0]?.eventId ?? -1)?.lastFailure
          ?.timeoutFailureInfo?.timeoutType,
      ),
    ).toBe('HEARTBEAT');
    console.info(
      `[faults-temporal-restart] export: server down ${crash.downMs} ms; exportDataset attempts ${attempts.exportDataset}`,
    );
  });

  it('restarted at once from inside trainModel: the training carries on; one version, nothing done twice', async () => {
    const start = await before();
    const handle = await startRun('train');
    const atKill = await eventually(
      'trainModel started with a heartbeat past epoch 1',
      async () => {
        const pending = await pendingActivity(handle, 'trainModel');
        const epoch = (pending?.heartbeat as { epoch?: number } | undefined)?.epoch ?? 0;
        return pending?.started && epoch >= 1 ? pending : undefined;
      },
      120_000,
      50,
    );
    expect(atKill.attempt).toBe(1);
    const crash = await crashAndRestart(0);
    const { attempts } = await expectCompletedOnce(handle, 'trainModel', {
      killedAt: crash.killedAt,
      ...start,
    });
    // Its heartbeats reached the restarted server within the 30 s heartbeat timeout: not retried.
    expect(attempts.trainModel).toBe(1);
    console.info(
      `[faults-temporal-restart] training: server down ${crash.downMs} ms; trainModel attempts ${attempts.trainModel}`,
    );
  });
});
