import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAGES } from '../../common/retrain';
import { median } from '../../bench/figures';
import { fleetSpecs, runFleet, seedFleet } from '../helpers/fleet';
import { createPipeline, type Pipeline } from '../helpers/pipeline';

const RUNS = 50;
const ACTIVITIES = [
  'exportDataset',
  'loadRunSettings',
  'trainModel',
  'validateModel',
  'registerModel',
  'reloadServers',
];

describe(`${RUNS} concurrent retrains of ${RUNS} distinct small models`, () => {
  let pipeline: Pipeline;

  beforeAll(async () => {
    pipeline = await createPipeline();
  });

  afterAll(async () => {
    await pipeline?.cleanup();
  });

  it(
    'all complete, each model gets exactly one version, and every run accounts for its time',
    { timeout: 240_000 },
    async () => {
      const specs = fleetSpecs(RUNS);
      await seedFleet(pipeline.deps, specs);
      const { runs, seconds } = await pipeline.withWorkers(
        () => runFleet(pipeline.client, pipeline.taskQueue, specs),
        { gpuSlots: 2 },
      );

      const notCompleted = runs.filter((r) => r.result.status !== 'completed');
      expect(notCompleted.map((r) => `${r.workflowId}: ${r.result.reason}`)).toEqual([]);
      for (const { result } of runs) {
        expect(result.stages.map((s) => `${s.name}:${s.status}`)).toEqual(
          STAGES.map((s) => `${s}:completed`),
        );
        expect(result.version).toBe('v1');
      }

      for (const [i, spec] of specs.entries()) {
        expect(await pipeline.deps.registry.listVersions(spec.name)).toEqual(['v1']);
        const alias = await pipeline.deps.registry.getAlias(spec.name);
        expect(alias?.value.version).toBe('v1');
        expect(alias?.value.workflowId).toBe(runs[i]?.workflowId);
        const metadata = await pipeline.deps.registry.getMetadata(spec.name, 'v1');
        expect(metadata?.hyperparams.hiddenUnits).toBe(spec.hyperparams.hiddenUnits);
      }

      // Each activity timed itself; the run's overhead is its wall time less that, nothing else.
      for (const { result } of runs) {
        const t = result.timings;
        expect(t, `${result.model} has timings`).toBeDefined();
        if (!t) continue;
        expect(Object.keys(t.byActivity).sort()).toEqual([...ACTIVITIES].sort());
        const summed = Object.values(t.byActivity).reduce((a, b) => a + b, 0);
        expect(t.activityMs).toBeCloseTo(summed, 0);
        expect(t.overheadMs).toBeCloseTo(t.wallMs - t.activityMs, 0);
        expect(t.activityMs).toBeGreaterThan(0);
        for (const stage of result.stages) {
          // The stage carries its own activity's time, as the run adds it up (each rounded to 0.1 ms).
          const gap = (stage.activityMs ?? NaN) - (t.byActivity[stage.name] ?? NaN);
          expect(Math.abs(gap), `${stage.name} of ${result.model}`).toBeLessThanOrEqual(0.1 + 1e-9);
          // The activity ran between its stage's start and end (whole milliseconds on the workflow clock).
          expect(stage.activityMs).toBeLessThanOrEqual(stage.durationMs + 1);
        }
      }

      const overheads = runs.map((r) => r.result.timings?.overheadMs ?? NaN);
      console.info(
        `load: ${RUNS} runs in ${seconds.toFixed(1)} s = ${((RUNS / seconds) * 60).toFixed(1)} runs/min; ` +
          `overhead per run median ${(median(overheads) / 1000).toFixed(3)} s, max ${(Math.max(...overheads) / 1000).toFixed(3)} s`,
      );
    },
  );
});
