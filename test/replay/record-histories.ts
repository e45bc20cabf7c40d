import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { CancelledFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ErrorType, RetryableErrorType } from '../../common/errors';
import { cancelRetrainSignal, progressQuery } from '../../common/messages';
import type { ModelSpecInput } from '../../common/model-spec';
import type { RetrainInput } from '../../common/retrain';
import type { TrainResult } from '../../common/stages';
import { loadFlightsIntoBuffer } from '../../storage/demo-data';
import { createGpuWorker } from '../../workers/worker-factory';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, outcomes, scheduled } from '../helpers/history';
import {
  createPipeline,
  flightSpec,
  PERMISSIVE_GATE,
  TEST_FLIGHTS,
  type Pipeline,
} from '../helpers/pipeline';

// Run through vitest.record.config.ts only (`npm run record-histories`): it rewrites the committed
// histories. Every run is a real one: real export, TensorFlow.js training, registry and rollout.
const HISTORIES = path.join(__dirname, 'histories');

/**
 * protobufjs's JSON form of the History message (read back with History.fromObject). Not the
 * proto3 JSON of `temporal workflow show --output json`: @temporalio/common's historyToJSON and
 * historyFromJSON throw "type must be a Type" in this install (two protobufjs copies).
 */
async function save(name: string, handle: WorkflowHandle): Promise<void> {
  const history = temporal.api.history.v1.History.fromObject(await handle.fetchHistory());
  await fs.writeFile(path.join(HISTORIES, `${name}.json`), `${JSON.stringify(history.toJSON(), null, 1)}\n`);
}

describe('record workflow histories for the replay test', () => {
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await createPipeline({
      epochs: 3,
      // Trial 2 or 3 draws SGD at rate 1 with 64 units on MSE, which diverges: the history has a failed trial.
      hyperparams: { hiddenUnits: 16, batchSize: 128, seed: 2, loss: 'mse' },
      search: { optimizer: ['sgd', 'adam'], learningRate: { min: 1, max: 1 }, hiddenUnits: [64] },
      gate: { mustBeatBaseline: false },
    });
    await fs.mkdir(HISTORIES, { recursive: true });
  });
  afterAll(async () => pipeline?.cleanup());

  /** Another model in the pipeline's store and buffer, with its own spec: each kind of run gets its own. */
  async function addModel(overrides: Partial<ModelSpecInput>): Promise<string> {
    const spec = flightSpec({ name: `m-${randomUUID().slice(0, 8)}`, epochs: 3, ...overrides });
    await pipeline.deps.registry.saveSpec(spec);
    await loadFlightsIntoBuffer(pipeline.deps.buffer, [spec.name], TEST_FLIGHTS);
    return spec.name;
  }

  function start(id: string, input: RetrainInput) {
    return pipeline.client.workflow.start(retrainWorkflow, {
      taskQueue: pipeline.taskQueue,
      workflowId: `retrain-${input.model}-replay-${id}`,
      args: [input],
    });
  }

  /** Resolves once `handle` reports a trained epoch: its lease is held and training is under way. */
  const training = (handle: WorkflowHandle, epoch = 1) =>
    eventually(
      `epoch ${epoch} of ${handle.workflowId}`,
      async () => (await handle.query(progressQuery)).epoch >= epoch,
      120_000,
    );

  it('a completed run with three trials, one of them failed', async () => {
    const result = await pipeline.withWorkers(
      async () => {
        const handle = await start('trials', { model: pipeline.spec.name, trials: 3, incremental: false });
        const result = await handle.result();
        await save('trials-completed', handle);
        return result;
      },
      { gpuSlots: 2 },
    );
    expect(result.status).toBe('completed');
    expect(result.stages.find((s) => s.name === 'trainModel')?.summary).toMatch(
      /best of 3 trials: #\d, 1 failed/,
    );
  });

  it('a multi-trial run cancelled by signal during training', async () => {
    const result = await pipeline.withWorkers(async () => {
      const handle = await start('cancelled', {
        model: pipeline.spec.name,
        trials: 2,
        epochs: 400,
        incremental: false,
      });
      await training(handle);
      await handle.signal(cancelRetrainSignal, { reason: 'recorded for replay' });
      await expect(handle.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
      await save('trials-cancelled', handle);
      return handle.describe();
    });
    expect(result.status.name).toBe('CANCELLED');
  });

  it('a run rejected for too little data', async () => {
    const result = await pipeline.withWorkers(async () => {
      const handle = await start('insufficient', { model: pipeline.spec.name, minRecords: 10_000_000 });
      const result = await handle.result();
      await save('rejected-insufficient-data', handle);
      return result;
    });
    expect(result).toMatchObject({ status: 'rejected', rejection: { kind: 'insufficientData' } });
  });

  it('a run whose candidate the gate rejects', async () => {
    // One epoch at a negligible rate leaves the net at its random start: it cannot beat the baselines.
    const model = await addModel({ gate: { mustBeatBaseline: true, tolerance: 0 } });
    const result = await pipeline.withWorkers(async () => {
      const handle = await start('gate', { model, epochs: 1, hyperparams: { learningRate: 1e-6 } });
      const result = await handle.result();
      await save('rejected-gate', handle);
      return result;
    });
    expect(result, result.reason).toMatchObject({
      status: 'rejected',
      rejection: { kind: 'gate', decision: { by: 'baseline' } },
    });
  });

  it('a run whose training is interrupted by a gpu worker shutdown and resumed by the retry', async () => {
    // About 3 s an epoch: the training outlasts the worker's 5 s shutdown grace.
    const model = await addModel({
      epochs: 8,
      hyperparams: { hiddenUnits: 128, batchSize: 16, seed: 21 },
      gate: PERMISSIVE_GATE,
    });
    const { handle, result } = await pipeline.withWorkers(
      async () => {
        const native = await NativeConnection.connect({ address: inject('temporalAddress') });
        try {
          const options = {
            connection: native,
            namespace: 'default',
            taskQueue: pipeline.taskQueue,
            deps: pipeline.deps,
            gpuSlots: 1,
          };
          // runUntil shuts the first worker down once training is under way (or the wait failed).
          const first = await createGpuWorker(options);
          const handle = await first.runUntil(async () => {
            const started = await start('worker-shutdown', { model, incremental: false });
            await training(started, 2);
            return started;
          });
          const second = await createGpuWorker(options);
          return { handle, result: await second.runUntil(handle.result()) };
        } finally {
          await native.close();
        }
      },
      { gpu: false },
    );
    expect(result.status, result.reason).toBe('completed');
    const events = await historyEvents(handle);
    const [train, ...more] = scheduled(events, 'trainModel');
    expect(more).toEqual([]);
    const [outcome] = outcomes<TrainResult>(events, train?.eventId ?? -1);
    expect(outcome).toMatchObject({ kind: 'completed', attempt: 2 });
    expect(outcome?.result?.resumedFrom).toMatch(/epoch-\d+/);
    const startedTraining = events.find(
      (e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === train?.eventId,
    )?.activityTaskStartedEventAttributes;
    expect(startedTraining?.lastFailure?.applicationFailureInfo?.type).toBe(
      RetryableErrorType.TrainingInterrupted,
    );
    await save('resumed-after-worker-shutdown', handle);
  });

  it('a run whose inference servers refuse the new version, rolled back to the previous one', async () => {
    const model = await addModel({ epochs: 1, gate: PERMISSIVE_GATE });
    const { first, failure, handle } = await pipeline.withWorkers(async () => {
      const first = await (await start('reload-first', { model })).result();
      // A fleet member (the worker's static list) that nothing answers at: reloadTargets may name it.
      pipeline.deps.servingUrls = ['http://127.0.0.1:1'];
      const handle = await start('reload-failed', { model, reloadTargets: ['http://127.0.0.1:1'] });
      const failure = await handle.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      return { first, failure, handle };
    });
    expect(first.status, first.reason).toBe('completed');
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toMatchObject({
      type: ErrorType.ReloadFailed,
      details: [{ rollback: { to: first.version, aliasMoved: true } }],
    });
    await save('reload-failed-rolled-back', handle);
  });

  it('a run refused because another run of the model holds its lease', async () => {
    const model = await addModel({ gate: PERMISSIVE_GATE });
    const { holder, result } = await pipeline.withWorkers(async () => {
      const holder = await start('busy-holder', { model, epochs: 400 });
      await training(holder);
      const refused = await start('busy-refused', { model });
      const result = await refused.result();
      await save('rejected-model-busy', refused);
      await holder.signal(cancelRetrainSignal, { reason: 'the refusal is recorded' });
      await holder.result().catch(() => undefined);
      return { holder, result };
    });
    expect(result).toMatchObject({
      status: 'rejected',
      rejection: { kind: 'modelBusy', runningWorkflowId: holder.workflowId },
    });
  });
});
