import type { RunSettings } from '../common/fleet-slots';
import type { ModelSpec } from '../common/model-spec';
import type { ActivityDeps } from './deps';
import { createDeliverEvent, createEventSinks } from './deliver-event';
import { createCompactBuffer } from './compact-buffer';
import { createExportDataset } from './export-dataset';
import { createRequestFleetSlot, runningRuns } from './fleet-slots';
import { withFeatureFrame } from './export-frame';
import { loadSpecOrFail } from './load-spec';
import { judgedRunsOfTemporal } from './judged-runs';
import { createMeasureTriggers, createRecordEvaluation } from './measure-triggers';
import { createRegisterModel } from './register-model';
import { createReloadServers } from './reload-servers';
import { requestCancellation } from './request-cancellation';
import { createTrainModel } from './train-model';
import { timed } from './timed';
import { createValidateModel } from './validate-model';

export type { ActivityDeps } from './deps';

/** Every activity of the pipeline, bound to its dependencies; each run's activities time themselves. */
export function createActivities(deps: ActivityDeps) {
  return {
    loadSpec: timed(async ({ model }: { model: string }): Promise<ModelSpec> =>
      loadSpecOrFail(deps.registry, model),
    ),
    // A run's first read: its spec, and whether it must take a slot of the deployment's cap.
    loadRunSettings: timed(async ({ model }: { model: string }): Promise<RunSettings> => ({
      spec: await loadSpecOrFail(deps.registry, model),
      fleetCapped: deps.fleetCap !== undefined,
    })),
    exportDataset: timed(withFeatureFrame(deps, createExportDataset(deps))),
    trainModel: timed(createTrainModel(deps)),
    validateModel: timed(createValidateModel(deps)),
    registerModel: timed(createRegisterModel(deps)),
    reloadServers: timed(createReloadServers(deps)),
    // A trigger check's (workflows/trigger-check-workflow), not a run's.
    measureTriggers: createMeasureTriggers(deps, judgedRunsOfTemporal),
    recordEvaluation: createRecordEvaluation(deps),
    // The event relays' (workflows/run-events-workflow).
    eventSinks: createEventSinks(deps),
    deliverEvent: createDeliverEvent(deps),
    // Only a cancel calls it, and it is no part of a run's work.
    requestCancellation,
    // The deployment's cap on concurrent runs (workflows/fleet-slot, workflows/fleet-slots-workflow).
    requestFleetSlot: createRequestFleetSlot(deps.fleetCap),
    runningRuns,
    // The buffer's scheduled maintenance (workflows/buffer-maintenance-workflow).
    listModels: async (): Promise<string[]> => deps.registry.listModels(),
    compactBuffer: createCompactBuffer(deps),
  };
}
