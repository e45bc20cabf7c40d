import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { performance } from 'node:perf_hooks';
import type { ActivityDeps } from '../../activities';
import { ModelNameAttribute } from '../../common/messages';
import type { ModelSpec } from '../../common/model-spec';
import type { RetrainResult } from '../../common/retrain';
import { loadFlightsIntoBuffer } from '../../storage/demo-data';
import { retrainWorkflow } from '../../workflows';
import { flightSpec, PERMISSIVE_GATE } from './local-pipeline';

/** Five days of the six busiest airports: each run exports three of them (~430 rows). */
const FLEET_FLIGHTS = { topAirports: 6, fromDay: '2001-06-26' };

/**
 * `count` distinct small forecasters for load runs: one epoch on a three-day window, every
 * model its own width, learning rate and seed, and a gate every finite candidate passes.
 */
export function fleetSpecs(count: number, prefix = `fleet-${randomUUID().slice(0, 6)}`): ModelSpec[] {
  return Array.from({ length: count }, (_, i) =>
    flightSpec({
      name: `${prefix}-${i}`,
      epochs: 1,
      windowDays: 3,
      minRecords: 100,
      gate: PERMISSIVE_GATE,
      hyperparams: {
        hiddenUnits: 4 + (i % 13),
        learningRate: 0.002 + (i % 7) / 1000,
        batchSize: 128,
        seed: i + 1,
      },
    }),
  );
}

/** Saves every spec and loads the fleet's flights into each model's buffer. */
export async function seedFleet(
  deps: Pick<ActivityDeps, 'registry' | 'buffer'>,
  specs: ModelSpec[],
): Promise<void> {
  for (const spec of specs) await deps.registry.saveSpec(spec);
  await loadFlightsIntoBuffer(
    deps.buffer,
    specs.map((s) => s.name),
    FLEET_FLIGHTS,
  );
}

export interface FleetRun {
  workflowId: string;
  result: RetrainResult;
  /** Start to result as the client saw it, in milliseconds. */
  clientMs: number;
}

/** Starts one run of every model at once on `taskQueue` and waits for all; `seconds` is start to last result. */
export async function runFleet(
  client: Client,
  taskQueue: string,
  specs: ModelSpec[],
): Promise<{ runs: FleetRun[]; seconds: number }> {
  const started = performance.now();
  const runs = await Promise.all(
    specs.map(async (spec) => {
      const workflowId = `retrain-${spec.name}-${randomUUID().slice(0, 8)}`;
      const t0 = performance.now();
      const handle = await client.workflow.start(retrainWorkflow, {
        taskQueue,
        workflowId,
        args: [{ model: spec.name }],
        typedSearchAttributes: [{ key: ModelNameAttribute, value: spec.name }],
      });
      const result = await handle.result();
      return { workflowId, result, clientMs: performance.now() - t0 };
    }),
  );
  return { runs, seconds: (performance.now() - started) / 1000 };
}
