import { CancelledFailure } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTCOME_MEMO, type RunOutcome } from '../../common/retrain';
import { epochProgressSignal, progressQuery, type EpochProgress } from '../../common/messages';
import type { TrainInput, TrainResult } from '../../common/stages';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, outcomes, scheduled, signals } from '../helpers/history';
import { createPipeline, type Pipeline } from '../helpers/pipeline';

const EPOCHS = 400;

describe("Temporal's own cancel (handle.cancel())", () => {
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await createPipeline({
      epochs: EPOCHS,
      hyperparams: { hiddenUnits: 16, batchSize: 64, seed: 9 },
    });
  });
  afterAll(async () => pipeline?.cleanup());

  it('stops the running training and ends the run Canceled with nothing registered, like the cancel signal', async () => {
    const { client, spec, taskQueue } = pipeline;
    const workflowId = `retrain-${spec.name}-temporal-cancel-${Date.now()}`;
    const handle = client.workflow.getHandle<typeof retrainWorkflow>(workflowId);
    const { result, epochAtCancel } = await pipeline.withWorkers(async () => {
      await client.workflow.start(retrainWorkflow, {
        taskQueue,
        workflowId,
        args: [{ model: spec.name, incremental: false }],
      });
      const progress = await eventually(
        'training to report epoch 2',
        async () => {
          const now = await handle.query(progressQuery);
          return now.epoch >= 2 && now;
        },
        90_000,
      );
      await handle.cancel();
      await expect(handle.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
      const result = (await handle.describe()).memo?.[OUTCOME_MEMO] as RunOutcome;
      return { result, epochAtCancel: progress.epoch };
    });

    expect(epochAtCancel).toBeGreaterThanOrEqual(2);
    expect(result.status).toBe('cancelled');
    expect(result.reason).toBe('cancelled through Temporal');
    expect(result.stages.map((s) => [s.name, s.status])).toEqual([
      ['exportDataset', 'completed'],
      ['trainModel', 'cancelled'],
    ]);
    // Canceled in Temporal, as the Web UI, `temporal workflow list` and visibility show it.
    expect((await handle.describe()).status.name).toBe('CANCELLED');

    const events = await historyEvents(handle);
    const [training] = scheduled<TrainInput>(events, 'trainModel');
    expect(training).toBeDefined();
    expect(events.some((e) => e.activityTaskCancelRequestedEventAttributes)).toBe(true);
    expect(outcomes<TrainResult>(events, training?.eventId ?? -1).map((o) => o.kind)).toEqual(['cancelled']);
    const epochs = signals<EpochProgress>(events, epochProgressSignal.name).map((r) => r.epoch);
    expect(Math.max(...epochs)).toBeLessThan(EPOCHS);
    expect(scheduled(events, 'validateModel')).toEqual([]);
    expect(scheduled(events, 'registerModel')).toEqual([]);
    expect(await pipeline.deps.registry.listVersions(spec.name)).toEqual([]);
  });
});
