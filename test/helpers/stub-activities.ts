import type { createActivities } from '../../activities';
import { createRequestFleetSlot, runningRuns } from '../../activities/fleet-slots';
import { requestCancellation } from '../../activities/request-cancellation';
import { ModelSpecSchema, type ModelSpec } from '../../common/model-spec';

export type Activities = ReturnType<typeof createActivities>;

/** A spec the stub activities hand the workflow; nothing reads the data it describes. */
export function stubSpec(name: string): ModelSpec {
  return ModelSpecSchema.parse({
    name,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'origin',
    features: ['flights'],
    target: 'flights',
    lookback: 2,
    epochs: 2,
  });
}

/** Activities that succeed at once with small plausible results; tests override the ones they are about. */
export function passingActivities(): Activities {
  return {
    loadSpec: async ({ model }) => stubSpec(model),
    loadRunSettings: async ({ model }) => ({ spec: stubSpec(model), fleetCapped: false }),
    exportDataset: async ({ model, workflowId }) => ({
      status: 'ready',
      datasetKey: `datasets/${model}/${workflowId}`,
      trainRows: 80,
      holdoutRows: 20,
      features: 2,
    }),
    trainModel: async ({ model, workflowId, epochs, trial }) => ({
      candidateKey: `checkpoints/${model}/${workflowId}${trial ? `/trial-${trial}` : ''}/final`,
      backend: 'cpu',
      epochs,
      loss: 0.5 - (trial ?? 0) / 100,
      valLoss: 0.6 - (trial ?? 0) / 100,
      samplesPerSec: 1000,
      warmStart: { skipped: 'no production model' },
    }),
    validateModel: async () => ({
      passed: true,
      reason: 'candidate mae 1.0000 passes; no production model yet',
      metric: 'mae',
      decision: { by: 'baseline', against: 'lastValue', candidate: 1, reference: 2 },
      gate: { metric: 'mae', mustBeatBaseline: true, tolerance: 0.05 },
      candidate: { mae: 1, rmse: 1.5, mape: 10 },
      baselines: { lastValue: { mae: 2, rmse: 2.5, mape: 20 } },
    }),
    registerModel: async () => ({ version: 'v1', previous: null }),
    reloadServers: async () => ({ servers: [] }),
    measureTriggers: async () => ({
      figures: { newRecords: 0, drift: {} },
      scanned: { predictions: 0, records: 0 },
    }),
    recordEvaluation: async () => undefined,
    eventSinks: async () => [],
    deliverEvent: async () => ({}),
    requestCancellation,
    // No cap: a run takes no slot (stubWorkers' `fleetCap` sets one).
    requestFleetSlot: createRequestFleetSlot(undefined),
    runningRuns,
    listModels: async () => [],
    compactBuffer: async ({ model }) => ({
      model,
      inStore: true,
      compactedDays: [],
      partsBefore: 0,
      partsAfter: 0,
      expiredDays: [],
    }),
  };
}
