import { parseArgs } from 'node:util';
import type { BackendChoice } from '../ml/backend';
import { cliBench } from './cli';
import { exportBench } from './export';
import { memoryBench } from './memory';
import { pipelineBench } from './pipeline';
import { failurePredictorBench, failurePredictorRows } from './failure-predictor';
import { choiceRows, chooseBench, qualityBench, SERIES } from './quality';
import {
  cliRows,
  exportRows,
  memoryRows,
  peakRssRow,
  pipelineRows,
  qualityRows,
  serveRows,
  trainRows,
  triggersRows,
} from './rows';
import { scaleBench, scaleRows } from './scale';
import { serveBench } from './serve';
import type { BenchRow } from './table';
import { sideBySideRows, trainBench, trainSideBySide } from './train';
import { triggersBench } from './triggers';

/** Marks the line of stdout that carries a child's rows, whatever else the bench printed. */
export const ROWS_MARK = '@@bench-rows ';

/** Every bench by name, with options from run-all's command line; `quick` shrinks each to seconds. */
export const BENCHES: Record<string, (backend: BackendChoice, quick: boolean) => Promise<BenchRow[]>> = {
  export: async (_backend, quick) => exportRows(await exportBench({ repeat: quick ? 1 : 5 })),
  // `all`: every trainer and backend side by side against the PyTorch yardstick (one process each).
  train: async (backend, quick) =>
    (backend as string) === 'all'
      ? sideBySideRows(await trainSideBySide(quick ? { rows: 5000, epochs: 1, repeats: 1, rounds: 5 } : {}))
      : trainRows(await trainBench({ backend, ...(quick ? { rows: 5000, epochs: 1, repeats: 1 } : {}) })),
  serve: async (backend, quick) => serveRows(await serveBench({ backend, seconds: quick ? 2 : 10 })),
  pipeline: async (_backend, quick) =>
    pipelineRows(await pipelineBench(quick ? { idleRuns: 2, loadRuns: 6 } : {})),
  cli: async (_backend, quick) => cliRows(await cliBench(quick ? 2 : 10)),
  quality: async (backend, quick) => {
    const { backend: used, results } = await qualityBench({
      backend,
      ...(quick ? { variants: ['default'], datasets: ['us-employment', 'weather'] } : {}),
    });
    return qualityRows(used, results);
  },
  // Every candidate kind per dataset (the seven series, breast_cancer, diabetes) and the chosen default.
  'quality-kinds': async (backend, quick) =>
    choiceRows(
      await chooseBench({
        backend,
        datasets: quick
          ? ['breast_cancer', 'diabetes']
          : [...SERIES.map((s) => s.name), 'breast_cancer', 'diabetes'],
      }),
    ),
  'failure-predictor': async (_backend, quick) =>
    failurePredictorRows(await failurePredictorBench(quick ? { trainDays: 7, liveDays: 1 } : {})),
  triggers: async (_backend, quick) =>
    triggersRows(await triggersBench(quick ? { repeat: 1, airports: 10 } : {})),
  memory: async (_backend, quick) =>
    memoryRows(await memoryBench(quick ? { bucketMinutes: 60, airports: 20 } : {})),
  // A thousand models: server start to /readyz, the dashboard's models API, the CLI, trigger checks.
  scale: async (backend, quick) =>
    scaleRows(
      await scaleBench({
        backend,
        ...(quick ? { models: 100, concurrencies: [8], repeats: 1, triggerModels: 10 } : {}),
      }),
    ),
};

/** Benches whose own process's peak memory is a figure (export and training hold the data). */
const REPORTS_PEAK_RSS = new Set(['export', 'train']);

/** `tsx bench/child.ts <bench> [--backend b] [--quick]`: runs one bench in this fresh process. */
async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { backend: { type: 'string', default: 'auto' }, quick: { type: 'boolean', default: false } },
  });
  const name = positionals[0] ?? '';
  const bench = BENCHES[name];
  if (!bench) throw new Error(`unknown bench "${name}"; known: ${Object.keys(BENCHES).join(', ')}`);
  const rows = await bench(values.backend as BackendChoice, values.quick);
  if (REPORTS_PEAK_RSS.has(name) && values.backend !== 'all')
    rows.push(peakRssRow(name, rows[0]?.backend ?? '-', process.resourceUsage().maxRSS));
  console.log(`${ROWS_MARK}${JSON.stringify(rows)}`);
}

if (require.main === module) {
  main()
    .then(() => process.exit(0))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
