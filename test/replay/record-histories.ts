import fs from 'node:fs/promises';
import path from 'node:path';
import { CancelledFailure, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelRetrainSignal, progressQuery } from '../../common/messages';
import { retrainWorkflow } from '../../workflows';
import { createPipeline, type Pipeline } from '../helpers/pipeline';

// Run through vitest.record.config.ts only: it rewrites the committed histories.
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

  it('a completed run with three trials, one of them failed', async () => {
    const { client, spec, taskQueue } = pipeline;
    const result = await pipeline.withWorkers(
      async () => {
        const handle = await client.workflow.start(retrainWorkflow, {
          taskQueue,
          workflowId: `retrain-${spec.name}-replay-trials`,
          args: [{ model: spec.name, trials: 3, incremental: false }],
        });
        const result = await handle.result();
        await save('trials-completed', handle);
        return result;
      },
      { gpuSlots: 2 },
    );
    expect(result.status).toBe('completed');
  });

  it('a multi-trial run cancelled by signal during training', async () => {
    const { client, spec, taskQueue } = pipeline;
    const result = await pipeline.withWorkers(async () => {
      const handle = await client.workflow.start(retrainWorkflow, {
        taskQueue,
        workflowId: `retrain-${spec.name}-replay-cancelled`,
        args: [{ model: spec.name, trials: 2, epochs: 400, incremental: false }],
      });
      while ((await handle.query(progressQuery)).epoch < 1) await new Promise((r) => setTimeout(r, 200));
      await handle.signal(cancelRetrainSignal, { reason: 'recorded for replay' });
      await expect(handle.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
      await save('trials-cancelled', handle);
      return handle.describe();
    });
    expect(result.status.name).toBe('CANCELLED');
  });
});
