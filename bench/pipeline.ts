import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { epochProgressSignal, type EpochProgress } from '../common/messages';
import { ROOT } from '../scripts/lib/processes';
import { startDevServer } from '../scripts/lib/temporal-server';
import { fleetSpecs, runFleet, seedFleet, type FleetRun } from '../test/helpers/fleet';
import { localDeps } from '../test/helpers/local-pipeline';
import { createCpuWorker, createGpuWorker } from '../workers/worker-factory';
import { machine, median, round } from './figures';

/** The goal for one run alone: orchestration adds less than this to the time its activities take. */
const IDLE_GOAL_SECONDS = 0.1;

export interface PipelineBenchOptions {
  /** Single runs, one after another, after one unmeasured warm-up run. @default 5 */
  idleRuns?: number;
  /** Runs started at once, one per model. @default 50 */
  loadRuns?: number;
  /** Trainings at once on the gpu worker. @default 2 */
  gpuSlots?: number;
}

/** Overhead figures of a set of runs, in seconds. */
interface Overheads {
  runs: number;
  completed: number;
  /** Run wall time less its activities' own time, from the run's `timings` (workflow clock). */
  overheadMedianS: number;
  overheadMaxS: number;
  /** Start to result as the client saw it, less the activities' time. */
  clientOverheadMedianS: number;
  wallMedianS: number;
  activityMedianS: number;
}

export interface PipelineBenchResult extends Overheads {
  bench: 'pipeline';
  machine: string;
  gpuSlots: number;
  idleGoalS: number;
  load: Overheads & { seconds: number; runsPerMin: number };
}

/**
 * The five-stage chain on a Temporal dev server of its own, with in-process cpu and gpu workers and
 * real training of small distinct models (test/helpers/fleet.ts): the orchestration overhead of one
 * run alone (median of `idleRuns`), then `loadRuns` runs at once: runs per minute and overhead per run.
 */
export async function pipelineBench(options: PipelineBenchOptions = {}): Promise<PipelineBenchResult> {
  const { idleRuns = 5, loadRuns = 50, gpuSlots = 2 } = options;
  const temporal = await startDevServer({ log: path.join(ROOT, '.data', 'bench', 'temporal-pipeline.log') });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-bench-pipeline-'));
  const connection = await Connection.connect({ address: temporal.address });
  const native = await NativeConnection.connect({ address: temporal.address });
  try {
    const client = new Client({ connection });
    const deps = {
      ...localDeps(dir),
      reportEpoch: (workflowId: string, progress: EpochProgress) =>
        client.workflow.getHandle(workflowId).signal(epochProgressSignal, progress),
    };
    const specs = fleetSpecs(1 + idleRuns + loadRuns, 'bench');
    await seedFleet(deps, specs);
    const taskQueue = 'bench-pipeline';
    const workerOptions = { connection: native, namespace: 'default', taskQueue, deps, gpuSlots };
    const cpuWorker = await createCpuWorker(workerOptions);
    const gpuWorker = await createGpuWorker(workerOptions);
    const measure = async () => {
      const [warmUp, ...rest] = specs;
      await runFleet(client, taskQueue, [warmUp!]);
      const idle: FleetRun[] = [];
      for (const spec of rest.slice(0, idleRuns))
        idle.push(...(await runFleet(client, taskQueue, [spec])).runs);
      const load = await runFleet(client, taskQueue, rest.slice(idleRuns));
      return { idle, load };
    };
    const { idle, load } = await cpuWorker.runUntil(gpuWorker.runUntil(measure));
    return {
      bench: 'pipeline',
      machine: machine(),
      gpuSlots,
      idleGoalS: IDLE_GOAL_SECONDS,
      ...overheads(idle),
      load: {
        ...overheads(load.runs),
        seconds: round(load.seconds, 1),
        runsPerMin: round((load.runs.length / load.seconds) * 60, 1),
      },
    };
  } finally {
    await native.close();
    await connection.close();
    await temporal.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function overheads(runs: FleetRun[]): Overheads {
  const timed = runs.flatMap((r) =>
    r.result.timings ? [{ ...r.result.timings, clientMs: r.clientMs }] : [],
  );
  const s = (values: number[]) => round(median(values) / 1000, 3);
  return {
    runs: runs.length,
    completed: runs.filter((r) => r.result.status === 'completed').length,
    overheadMedianS: s(timed.map((t) => t.overheadMs)),
    overheadMaxS: round(Math.max(...timed.map((t) => t.overheadMs)) / 1000, 3),
    clientOverheadMedianS: s(timed.map((t) => t.clientMs - t.activityMs)),
    wallMedianS: s(timed.map((t) => t.wallMs)),
    activityMedianS: s(timed.map((t) => t.activityMs)),
  };
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      'idle-runs': { type: 'string', default: '5' },
      'load-runs': { type: 'string', default: '50' },
      'gpu-slots': { type: 'string', default: '2' },
    },
  });
  pipelineBench({
    idleRuns: Number(values['idle-runs']),
    loadRuns: Number(values['load-runs']),
    gpuSlots: Number(values['gpu-slots']),
  })
    .then((result) => console.log(JSON.stringify(result)))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
