import type { CliBenchResult } from './cli';
import type { ExportBenchResult } from './export';
import type { MemoryBenchResult } from './memory';
import type { PipelineBenchResult } from './pipeline';
import type { QualityResult } from './quality';
import type { ServeBenchPhase } from './serve';
import { median, round } from './figures';
import type { BenchRow } from './table';
import type { TrainBenchResult } from './train';
import type { TriggersBenchResult } from './triggers';

// Each bench's result as table rows: the headline figures, with the goal where the project set one.

const NONE = '-';
const num = (n: number) => n.toLocaleString('en-US');
const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;

export function exportRows(r: ExportBenchResult): BenchRow[] {
  const row = (figure: string, value: string): BenchRow => ({
    bench: 'export',
    backend: NONE,
    figure,
    value,
  });
  return [
    row(
      `exportDataset, whole demo buffer (${num(r.bufferRows)} rows)`,
      `${r.exportSeconds} s (median of ${r.repeat})`,
    ),
    row('DuckDB COPY yardstick, same window', `${r.copySeconds} s`),
    row('export / COPY, wall (goal <= 2)', `${r.ratio}`),
    row('export / COPY, CPU seconds', `${r.cpuRatio}`),
    row('samples/s exported', num(r.samplesPerSec)),
  ];
}

export function trainRows(r: TrainBenchResult): BenchRow[] {
  const row = (figure: string, value: string): BenchRow => ({
    bench: 'train',
    backend: r.backend,
    figure,
    value,
  });
  return [
    row(`training samples/s (${r.model})`, `${num(r.training.samplesPerSec)} (${r.training.gflops} GFLOP/s)`),
    row(
      'matmul-only samples/s, same shapes',
      `${num(r.matmulOnly.samplesPerSec)} (${r.matmulOnly.gflops} GFLOP/s)`,
    ),
    row('training / matmul', `${r.trainingToMatmul}`),
    row('heartbeat bookkeeping', `${r.heartbeat.callbackPct} % of training time`),
  ];
}

export function serveRows(phases: ServeBenchPhase[]): BenchRow[] {
  return phases.flatMap((p) => {
    const row = (figure: string, value: string): BenchRow => ({
      bench: 'serve',
      backend: p.backend,
      figure,
      value,
    });
    const reloads = p.reloads === undefined ? '' : `, ${p.reloads} reloads`;
    return [
      row(
        `/predict ${p.phase} (${p.entitiesPerRequest} entities, ${p.concurrency} clients)`,
        `${num(p.requestsPerSec)} req/s, ${num(p.predictionsPerSec)} predictions/s`,
      ),
      row(
        `/predict ${p.phase} latency`,
        `p50 ${p.p50Ms} ms, p99 ${p.p99Ms} ms, ${p.failed} failed${reloads}`,
      ),
    ];
  });
}

export function pipelineRows(r: PipelineBenchResult): BenchRow[] {
  const row = (figure: string, value: string): BenchRow => ({
    bench: 'pipeline',
    backend: 'cpu',
    figure,
    value,
  });
  return [
    row(
      `overhead of one run alone (median of ${r.runs}; goal < ${r.idleGoalS} s)`,
      `${r.overheadMedianS} s (wall ${r.wallMedianS} s, in activities ${r.activityMedianS} s)`,
    ),
    row('overhead of one run alone, as the client sees it', `${r.clientOverheadMedianS} s`),
    row(
      `${r.load.runs} runs at once (${r.gpuSlots} training slots)`,
      `${r.load.completed}/${r.load.runs} completed in ${r.load.seconds} s, ${r.load.runsPerMin} runs/min`,
    ),
    row(
      `overhead per run under that load`,
      `median ${r.load.overheadMedianS} s, max ${r.load.overheadMaxS} s`,
    ),
  ];
}

export function cliRows(r: CliBenchResult): BenchRow[] {
  // header: command, median s, min s, max s, first s, exit, goal
  return r.rows.map(([command = '', med = '', , , first = '', exit = '', goal = '']) => ({
    bench: 'cli',
    backend: NONE,
    figure: `${command} (${r.header[6] ?? 'goal'})`,
    value: `${med} s median, ${first} s first run, exit ${exit}, ${goal === 'yes' ? 'meets goal' : 'misses goal'}`,
  }));
}

export function memoryRows(r: MemoryBenchResult): BenchRow[] {
  const row = (figure: string, value: string): BenchRow => ({
    bench: 'memory',
    backend: NONE,
    figure,
    value,
  });
  return [
    row(
      `export peak RSS, ${num(r.bufferRows)}-row window (limit ${mib(r.limitBytes)})`,
      `${mib(r.export.maxRssBytes)} in ${r.export.seconds} s`,
    ),
    row(
      `training peak RSS, same window (${String(r.train.backend)})`,
      `${mib(r.train.maxRssBytes)} in ${r.train.seconds} s`,
    ),
  ];
}

/** Peak resident set of the process a bench ran in (`process.resourceUsage().maxRSS`). */
export function peakRssRow(bench: string, backend: string, maxRssKiB: number): BenchRow {
  return { bench, backend, figure: 'peak RSS of the bench process', value: mib(maxRssKiB * 1024) };
}

/** The bench table's rows: per dataset and variant, the candidate's gate figure beside each baseline's. */
export function qualityRows(backend: string, results: QualityResult[]): BenchRow[] {
  return results.map((r) => ({
    bench: `quality ${r.dataset}`,
    backend,
    figure: `${r.variant}: ${r.metric} candidate vs baselines (margin over best)`,
    value:
      `${round(r.candidate, 4)} vs ` +
      Object.entries(r.baselines)
        .map(([name, v]) => `${name} ${round(v, 4)}`)
        .join(', ') +
      ` (${r.margin >= 0 ? '+' : ''}${round(r.margin, 1)}% ${r.passed ? 'pass' : 'FAIL'})`,
  }));
}

export function triggersRows(r: TriggersBenchResult): BenchRow[] {
  return [
    {
      bench: 'triggers',
      backend: NONE,
      figure: `one trigger evaluation, ${r.days}-day buffer (rows scanned: ${num(r.records)} records, ${num(r.predictions)} logged predictions)`,
      value: `${round(median(r.seconds))} s median of ${r.seconds.length}`,
    },
  ];
}
