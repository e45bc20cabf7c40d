import fs from 'node:fs/promises';
import path from 'node:path';
import { decodeTimeoutType } from '@temporalio/common';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RegisterInput, RegisterResult } from '../../common/stages';
import { RESERVED_NAME_PREFIX } from '../../storage/errors';
import type { FileLock } from '../../storage/file-lock';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, outcomes, scheduled, startedEvent } from '../helpers/history';
import { pendingActivity } from '../helpers/pending-activity';
import { holdFileStoreKey } from '../helpers/store-lock';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';
import {
  killWorkerProcess,
  startWorkerProcess,
  stopWorkerProcess,
  type WorkerProcess,
} from '../helpers/worker-process';

/** Every file under `dir`, relative to it, the store's reserved names (locks, temp files) included. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

// A killed registration is noticed after registerModel's 10 s heartbeat timeout.
describe('a cpu worker process SIGKILLed inside registerModel', { timeout: 240_000 }, () => {
  let pipeline: Pipeline;
  const workers: WorkerProcess[] = [];
  let aliasLock: FileLock | undefined;
  beforeAll(async () => {
    pipeline = await createPipeline({
      epochs: 2,
      hyperparams: { hiddenUnits: 8, batchSize: 128, seed: 5 },
      gate: PERMISSIVE_GATE,
    });
  });
  afterEach(async () => {
    await aliasLock?.release();
    for (const worker of workers.splice(0)) await stopWorkerProcess(worker);
  });
  afterAll(async () => pipeline?.cleanup());

  async function startRun(
    name: string,
  ): Promise<WorkflowHandleWithFirstExecutionRunId<typeof retrainWorkflow>> {
    const { client, spec, taskQueue } = pipeline;
    const workflowId = `retrain-${spec.name}-${name}-${Date.now()}`;
    return client.workflow.start(retrainWorkflow, {
      taskQueue,
      workflowId,
      args: [{ model: spec.name, incremental: false }],
    });
  }

  it('the retry on a new worker completes the same version: one new version, production on it, complete', async () => {
    const { registry } = pipeline.deps;
    const model = pipeline.spec.name;
    const storeRoot = path.join(pipeline.dir, 'store');
    workers.push(await startWorkerProcess(pipeline, 'gpu'));
    const firstCpu = await startWorkerProcess(pipeline, 'cpu');
    workers.push(firstCpu);

    const firstRun = await startRun('first');
    const first = await firstRun.result();
    expect(first.status, first.reason).toBe('completed');
    expect(first.version).toBe('v1');

    // Another writer (a rollback, say) holds the alias: registerModel writes its version, then waits
    // for the alias lock, heartbeating. That is where the kill lands.
    aliasLock = await holdFileStoreKey(storeRoot, `models/${model}/aliases/production.json`);
    const handle = await startRun('killed');
    const atKill = await eventually(
      'registerModel started and waiting on the alias, its version written',
      async () => {
        const pending = await pendingActivity(handle, 'registerModel');
        if (!pending?.started) return undefined;
        const metadata = await registry.getMetadata(model, 'v2');
        return metadata && { pending, metadata, alias: (await registry.getAlias(model))?.value };
      },
      150_000,
    );
    expect(atKill.pending.attempt).toBe(1);
    expect(atKill.alias?.version).toBe('v1');
    expect(await killWorkerProcess(firstCpu)).toBe('SIGKILL');
    // The kill landed inside the activity: still pending, still attempt 1, production unmoved.
    const afterKill = await pendingActivity(handle, 'registerModel');
    expect(afterKill).toMatchObject({ attempt: 1, started: true });
    expect((await registry.getAlias(model))?.value.version).toBe('v1');

    await aliasLock.release();
    aliasLock = undefined;
    workers.push(await startWorkerProcess(pipeline, 'cpu'));
    const result = await handle.result();

    expect(result.status, result.reason).toBe('completed');
    expect(result.version).toBe('v2');
    // The history: one registerModel, completed by its second attempt after the first one's heartbeat timed out.
    const events = await historyEvents(handle);
    const [registration, ...more] = scheduled<RegisterInput>(events, 'registerModel');
    expect(more).toEqual([]);
    expect(outcomes<RegisterResult>(events, registration?.eventId ?? -1)).toEqual([
      { kind: 'completed', attempt: 2, result: expect.objectContaining({ version: 'v2', previous: 'v1' }) },
    ]);
    const started = startedEvent(events, registration?.eventId ?? -1);
    expect(decodeTimeoutType(started?.lastFailure?.timeoutFailureInfo?.timeoutType)).toBe('HEARTBEAT');

    // Exactly one new version, complete, the one the first attempt wrote (its metadata kept).
    expect(await registry.listVersions(model)).toEqual(['v1', 'v2']);
    expect(await registry.versionProblem(model, 'v2')).toBeUndefined();
    expect(await registry.versionProblem(model, 'v1')).toBeUndefined();
    const metadata = await registry.getMetadata(model, 'v2');
    expect(metadata).toEqual(atKill.metadata);
    expect(metadata).toMatchObject({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
    const candidate = registration?.input.candidateKey ?? '';
    for (const file of ['model.json', 'weights.bin']) {
      const stored = await pipeline.deps.store.get(`models/${model}/versions/v2/${file}`);
      const trained = await pipeline.deps.store.get(`${candidate}/${file}`);
      expect(stored?.etag, file).toBe(trained?.etag);
    }
    // Production on it, moved once from v1 by this run.
    expect((await registry.getAlias(model))?.value).toMatchObject({
      version: 'v2',
      previous: 'v1',
      workflowId: handle.workflowId,
    });
    // Nothing else under the model: no third claim, one registration record per run, no lock or temp file left behind. (A lock waiter's
    // scratch claim directory can outlive a SIGKILL; no listing or lock ever reads it.)
    const versionFiles = ['claim.json', 'metadata.json', 'model.json', 'weights.bin'];
    const left = await filesUnder(path.join(storeRoot, 'models', model));
    expect(left.filter((f) => !f.includes(`${RESERVED_NAME_PREFIX}lock-production.json.claim-`))).toEqual([
      'aliases/production.json',
      ...[firstRun, handle].map((run) => `registrations/${encodeURIComponent(run.workflowId)}.json`).sort(),
      'spec.json',
      ...versionFiles.map((f) => `versions/v1/${f}`),
      ...versionFiles.map((f) => `versions/v2/${f}`),
    ]);
    console.info(
      `[faults-register-kill] SIGKILL in registerModel attempt 1 (v2 written, alias held); ` +
        `attempt 2 on a new worker completed v2 after a ${started?.lastFailure?.message ?? '?'}`,
    );
  });
});
