import { CancelledFailure } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTCOME_MEMO, type RunOutcome } from '../../common/retrain';
import { cancelRetrainSignal } from '../../common/messages';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { createPipeline, type Pipeline } from '../helpers/pipeline';

describe('retrainWorkflow outcomes that are results, not failures', () => {
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await createPipeline();
  });
  afterAll(async () => pipeline?.cleanup());

  it('ends as rejected with the record count when the window has too little data', async () => {
    const { client, spec, taskQueue } = pipeline;
    const result = await pipeline.withWorkers(() =>
      client.workflow.execute(retrainWorkflow, {
        taskQueue,
        workflowId: `retrain-${spec.name}-insufficient-${Date.now()}`,
        args: [{ model: spec.name, minRecords: 10_000_000 }],
      }),
    );
    expect(result.status).toBe('rejected');
    expect(result.reason).toMatch(/^Insufficient data: \d+ < 10000000 records/);
    expect(result.stages.map((s) => [s.name, s.status])).toEqual([['exportDataset', 'rejected']]);
    expect(await pipeline.deps.registry.listVersions(spec.name)).toEqual([]);
  });

  it('ends Canceled without registering anything when the cancel signal arrives during training', async () => {
    const { client, spec, taskQueue } = pipeline;
    const result = await pipeline.withWorkers(async () => {
      const handle = await client.workflow.start(retrainWorkflow, {
        taskQueue,
        workflowId: `retrain-${spec.name}-cancel-${Date.now()}`,
        args: [{ model: spec.name, epochs: 500 }],
      });
      await eventually(
        'trainModel to be pending',
        async () =>
          ((await handle.describe()).raw.pendingActivities ?? []).some(
            (a) => a.activityType?.name === 'trainModel',
          ),
        60_000,
      );
      await handle.signal(cancelRetrainSignal, { reason: 'operator asked' });
      await expect(handle.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
      expect((await handle.describe()).status.name).toBe('CANCELLED');
      return (await handle.describe()).memo?.[OUTCOME_MEMO] as RunOutcome;
    });
    expect(result.status).toBe('cancelled');
    expect(result.reason).toBe('operator asked');
    expect(result.stages.map((s) => s.name)).toEqual(['exportDataset', 'trainModel']);
    expect(result.stages[1]?.status).toBe('cancelled');
    expect(await pipeline.deps.registry.listVersions(spec.name)).toEqual([]);
  });

  it('fails with a non-retryable InvalidInput naming the field when the input is malformed', async () => {
    const { client, taskQueue } = pipeline;
    const run = pipeline.withWorkers(() =>
      client.workflow.execute(retrainWorkflow, {
        taskQueue,
        workflowId: `retrain-bad-input-${Date.now()}`,
        args: [{ model: 'Not A Slug' }],
      }),
    );
    await expect(run).rejects.toMatchObject({
      cause: { type: 'InvalidInput', message: expect.stringContaining('model:') },
    });
  });
});
