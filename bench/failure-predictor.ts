import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { epochProgressSignal, type EpochProgress } from '../common/messages';
import { ModelSpecSchema } from '../common/model-spec';
import type { RetrainInput, RetrainResult } from '../common/retrain';
import { seededRandom } from '../common/seeded-random';
import { pythonTaskQueueFor } from '../common/task-queues';
import { ROOT } from '../scripts/lib/processes';
import { startDevServer } from '../scripts/lib/temporal-server';
import { createServer } from '../serving/server';
import { BufferWriter } from '../storage/buffer-writer';
import { Ingestor } from '../storage/ingest';
import { localDeps } from '../test/helpers/local-pipeline';
import { startPythonWorker } from '../test/helpers/python-worker';
import { retrainWorkflow } from '../workflows';
import { createCpuWorker } from '../workers/worker-factory';
import { machine, median, round } from './figures';
import { benchPython, NO_PYTHON } from './python';
import { markdownTable, type BenchRow } from './table';

const API_KEY = 'bench-failure-predictor-key-0123456789';
const FEATURES = ['cpu', 'memory', 'error_rate', 'response_ms'] as const;
const DAY_MS = 86_400_000;
const START = Date.UTC(2026, 0, 1);

/** The failure predictor of seed 004, as a spec (docs/models.md "Tabular specs"): the label on the row. */
const SPEC = ModelSpecSchema.parse({
  name: 'host-failures',
  task: 'classify',
  trainer: 'python',
  timeColumn: 'observed_at',
  entityColumn: 'host',
  features: [...FEATURES],
  target: 'failed',
  threshold: 0.5,
  horizon: 0,
  lookback: 1,
  windowDays: 30,
  minRecords: 500,
  epochs: 100,
  hyperparams: { architecture: 'logistic', params: {}, seed: 7 },
});

type Row = { observed_at: string; host: string } & Record<(typeof FEATURES)[number] | 'failed', number>;

/**
 * Host metrics every 15 minutes, seeded: each host's load follows a daily cycle plus an AR(1)
 * disturbance, memory leaks slowly until a restart, error rate and response time rise with load
 * and saturation. A row is `failed` (its health check failed) with a probability that grows with
 * them, steeply once CPU and memory saturate together: logistic in the metrics, plus an interaction
 * a linear model cannot draw. About 3 % of rows fail.
 */
export function hostRows(days: number, hosts = 24, seed = 4): Row[] {
  const random = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const rows: Row[] = [];
  const state = Array.from({ length: hosts }, (_, h) => ({
    base: 0.3 + 0.4 * random(),
    ar: 0,
    leak: random() * 30,
    leakRate: 0.1 + 0.2 * random(),
    name: `host-${String(h + 1).padStart(2, '0')}`,
  }));
  const steps = days * 96;
  for (let s = 0; s < steps; s++) {
    const t = START + s * 15 * 60_000;
    const hour = (t % DAY_MS) / 3_600_000;
    const daily = 0.25 * Math.sin(((hour - 9) / 24) * 2 * Math.PI);
    for (const h of state) {
      h.ar = 0.9 * h.ar + 0.08 * gauss();
      h.leak = random() < 0.004 ? 0 : h.leak + h.leakRate * (1 + 0.5 * gauss());
      const load = Math.max(0, h.base + daily + h.ar);
      const cpu = Math.min(100, Math.max(1, 15 + 70 * load + 4 * gauss()));
      const memory = Math.min(100, Math.max(5, 40 + h.leak + 10 * load + 3 * gauss()));
      const saturated = Math.max(0, cpu - 80) / 20 + Math.max(0, memory - 85) / 15;
      const errorRate = Math.max(0, 0.002 + 0.01 * saturated + 0.003 * Math.abs(gauss()));
      const responseMs = 80 * (1 + 2.5 * saturated) * Math.exp(0.25 * gauss());
      const z =
        -5.5 +
        0.04 * (cpu - 70) +
        0.06 * (memory - 85) +
        100 * errorRate +
        0.004 * (responseMs - 100) +
        (cpu > 80 && memory > 88 ? 5 : 0);
      rows.push({
        observed_at: new Date(t).toISOString(),
        host: h.name,
        cpu: round(cpu, 2),
        memory: round(memory, 2),
        error_rate: round(errorRate, 5),
        response_ms: round(responseMs, 1),
        failed: random() < 1 / (1 + Math.exp(-z)) ? 1 : 0,
      });
    }
  }
  return rows;
}

/** Served answers scored against the rows' labels: F1 at the 0.5 cut, accuracy, and the share predicted failed. */
function scoreServed(rows: Row[], probabilities: number[]) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let correct = 0;
  rows.forEach((row, i) => {
    const said = (probabilities[i] as number) > 0.5 ? 1 : 0;
    if (said === row.failed) correct++;
    if (said && row.failed) tp++;
    else if (said) fp++;
    else if (row.failed) fn++;
  });
  return {
    rows: rows.length,
    f1: round((2 * tp) / Math.max(1, 2 * tp + fp + fn), 4),
    accuracy: round(correct / rows.length, 4),
    failedShare: round(rows.filter((r) => r.failed).length / rows.length, 4),
  };
}

/**
 * The failure predictor end to end on the real local pieces: a Temporal dev server of its own, the
 * cpu worker in this process, the Python trainer worker as a child process on `-py`, an inference
 * server taking rows through /ingest. Run 1 trains logistic regression on the first `trainDays`;
 * `liveDays` more are served and scored, then ingested; run 2 retrains with XGBoost (the run's
 * hyperparams), passes the gate against v1 and is hot-reloaded; the next `liveDays` are served by
 * v2; a second server started afresh loads v2 from the registry and must answer exactly as the first.
 */
export async function failurePredictorBench(options: { trainDays?: number; liveDays?: number } = {}) {
  const { trainDays = 14, liveDays = 2 } = options;
  const python = benchPython();
  if (!python) throw new Error(NO_PYTHON);
  const rows = hostRows(trainDays + 2 * liveDays);
  const cut = (day: number) => START + day * DAY_MS;
  const between = (from: number, to: number) =>
    rows.filter((r) => Date.parse(r.observed_at) >= cut(from) && Date.parse(r.observed_at) < cut(to));
  const phases = {
    train: between(0, trainDays),
    live1: between(trainDays, trainDays + liveDays),
    live2: between(trainDays + liveDays, trainDays + 2 * liveDays),
  };

  const temporal = await startDevServer({ log: path.join(ROOT, '.data', 'bench', 'temporal-failure.log') });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-bench-failure-'));
  const connection = await Connection.connect({ address: temporal.address });
  const native = await NativeConnection.connect({ address: temporal.address });
  const taskQueue = 'bench-failure';
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const client = new Client({ connection });
    const deps = {
      ...localDeps(dir),
      apiKey: API_KEY,
      reportEpoch: (workflowId: string, progress: EpochProgress) =>
        client.workflow.getHandle(workflowId).signal(epochProgressSignal, progress),
    };
    await deps.registry.saveSpec(SPEC);
    const worker = await startPythonWorker({
      python,
      storeUri: `file://${path.join(dir, 'store')}`,
      taskQueue: pythonTaskQueueFor(taskQueue, 'cpu'),
      temporalAddress: temporal.address,
    });
    closers.push(() => worker.stop());
    const writer = await BufferWriter.open(deps.buffer, { retentionDays: 60 });
    closers.push(() => writer.close());
    const server = createServer({
      registry: deps.registry,
      apiKey: API_KEY,
      ingestor: new Ingestor(deps.registry, writer),
    });
    closers.push(() => server.app.close());
    await server.loadProductionModels();
    const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
    // A member of the fleet (its static list), so the runs' reloadTargets may name it.
    deps.servingUrls = [url];

    const post = async (base: string, route: string, body: unknown) => {
      const res = await fetch(`${base}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<Record<string, unknown>>;
    };
    const ingest = async (part: Row[]) => {
      for (let i = 0; i < part.length; i += 2000)
        await post(url, '/ingest', { model: SPEC.name, rows: part.slice(i, i + 2000) });
    };
    /** /predict on `part` without the label, 500 rows a request; answers and each request's latency. */
    const predict = async (base: string, part: Row[]) => {
      const probabilities: number[] = [];
      const latencies: number[] = [];
      let version = '';
      for (let i = 0; i < part.length; i += 500) {
        const asked = part.slice(i, i + 500).map(({ failed: _label, ...row }) => row);
        const started = performance.now();
        const body = (await post(base, '/predict', { model: SPEC.name, rows: asked })) as {
          version: string;
          predictions: { value: number }[];
        };
        latencies.push(performance.now() - started);
        version = body.version;
        probabilities.push(...body.predictions.map((p) => p.value));
      }
      return { version, probabilities, p50Ms: round(median(latencies), 1) };
    };

    const cpuWorker = await createCpuWorker({ connection: native, namespace: 'default', taskQueue, deps });
    const retrain = (n: number, hyperparams?: RetrainInput['hyperparams']) => {
      const started = performance.now();
      return client.workflow
        .start(retrainWorkflow, {
          taskQueue,
          workflowId: `retrain-${SPEC.name}-bench-${n}-${Date.now()}`,
          args: [
            {
              model: SPEC.name,
              reloadTargets: [url],
              incremental: false,
              ...(hyperparams ? { hyperparams } : {}),
            },
          ],
        })
        .then((handle) => handle.result())
        .then((result) => ({ ...result, clientSeconds: (performance.now() - started) / 1000 }));
    };

    const figures = await cpuWorker.runUntil(async () => {
      await ingest(phases.train);
      const run1 = await retrain(1);
      const served1 = await predict(url, phases.live1);
      await ingest(phases.live1);
      // v1's answers on the rows v2 will serve, for a comparison on the same unseen rows.
      const v1OnLive2 = await predict(url, phases.live2);
      const run2 = await retrain(2, {
        architecture: 'xgboost',
        params: { max_depth: 4, learning_rate: 0.1 },
      });
      const served2 = await predict(url, phases.live2);
      // A server started afresh loads production from the registry: the same version, the same answers.
      const fresh = createServer({ registry: deps.registry, apiKey: API_KEY });
      closers.push(() => fresh.app.close());
      const loaded = performance.now();
      await fresh.loadProductionModels();
      const loadMs = performance.now() - loaded;
      const freshUrl = await fresh.app.listen({ host: '127.0.0.1', port: 0 });
      const again = await predict(freshUrl, phases.live2);
      const maxDiff = Math.max(
        ...again.probabilities.map((p, i) => Math.abs(p - (served2.probabilities[i] as number))),
      );
      return { run1, run2, served1, served2, v1OnLive2, again, loadMs, maxDiff };
    });
    const version = async (run: RetrainResult & { clientSeconds: number }) => {
      const meta = run.version ? await deps.registry.getMetadata(SPEC.name, run.version) : undefined;
      const stage = (name: string) => run.stages.find((s) => s.name === name);
      return {
        status: run.status,
        version: run.version,
        reason: run.reason,
        backend: run.backend,
        metrics: run.metrics,
        baselines: meta?.baselines,
        gate: meta?.gate,
        trainSamplesPerSec: meta ? Math.round(meta.training.samplesPerSec) : undefined,
        trainSeconds: round((stage('trainModel')?.durationMs ?? 0) / 1000, 2),
        reloadSeconds: round((stage('reloadServers')?.durationMs ?? 0) / 1000, 3),
        wallSeconds: round(run.clientSeconds, 2),
        validateSummary: stage('validateModel')?.summary,
      };
    };
    return {
      bench: 'failure-predictor' as const,
      machine: machine(),
      rows: { train: phases.train.length, live1: phases.live1.length, live2: phases.live2.length },
      failedShare: round(rows.filter((r) => r.failed).length / rows.length, 4),
      logistic: {
        ...(await version(figures.run1)),
        live: scoreServed(phases.live1, figures.served1.probabilities),
        servedBy: figures.served1.version,
        predictP50Ms: figures.served1.p50Ms,
      },
      xgboost: {
        ...(await version(figures.run2)),
        live: scoreServed(phases.live2, figures.served2.probabilities),
        servedBy: figures.served2.version,
        predictP50Ms: figures.served2.p50Ms,
      },
      sameRows: {
        rows: phases.live2.length,
        v1: scoreServed(phases.live2, figures.v1OnLive2.probabilities),
        v2: scoreServed(phases.live2, figures.served2.probabilities),
      },
      reloaded: {
        version: figures.again.version,
        loadSeconds: round(figures.loadMs / 1000, 3),
        maxAbsDiff: figures.maxDiff,
      },
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await native.close();
    await connection.close();
    await temporal.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export type FailurePredictorResult = Awaited<ReturnType<typeof failurePredictorBench>>;

/** Each version's holdout figures beside its baselines, and the served figures on rows it never saw. */
export function failurePredictorRows(r: FailurePredictorResult): BenchRow[] {
  const rows: BenchRow[] = [];
  const row = (backend: string, figure: string, value: string) =>
    rows.push({ bench: 'failure-predictor', backend, figure, value });
  for (const [kind, v] of [
    ['logistic', r.logistic],
    ['xgboost', r.xgboost],
  ] as const) {
    const baselines = Object.entries(v.baselines ?? {})
      .map(([name, m]) => `${name} ${round((m as Record<string, number>).f1 ?? NaN, 4)}`)
      .join(', ');
    row(
      kind,
      `run: ${v.status} ${v.version ?? ''} (${v.backend ?? ''})`,
      `${v.wallSeconds} s wall, training ${v.trainSeconds} s, reload ${v.reloadSeconds} s`,
    );
    row(kind, 'training samples/s', `${(v.trainSamplesPerSec ?? 0).toLocaleString('en-US')}`);
    row(kind, 'gate', v.validateSummary ?? '-');
    row(
      kind,
      'holdout F1 vs baselines',
      `${round(v.metrics?.f1 ?? NaN, 4)} vs ${baselines}; AUC ${round(v.metrics?.auc ?? NaN, 4)}`,
    );
    row(
      kind,
      `served ${v.servedBy} on ${v.live.rows} unseen rows`,
      `F1 ${v.live.f1}, accuracy ${v.live.accuracy} (failed ${v.live.failedShare}), /predict p50 ${v.predictP50Ms} ms per 500 rows`,
    );
  }
  row(
    '-',
    `v1 and v2 on the same ${r.sameRows.rows} unseen rows`,
    `F1 ${r.sameRows.v1.f1} -> ${r.sameRows.v2.f1}, accuracy ${r.sameRows.v1.accuracy} -> ${r.sameRows.v2.accuracy}`,
  );
  row(
    '-',
    'a fresh server loads production',
    `${r.reloaded.version} in ${r.reloaded.loadSeconds} s, answers differ by at most ${r.reloaded.maxAbsDiff}`,
  );
  return rows;
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      'train-days': { type: 'string', default: '14' },
      'live-days': { type: 'string', default: '2' },
    },
  });
  failurePredictorBench({ trainDays: Number(values['train-days']), liveDays: Number(values['live-days']) })
    .then((result) => {
      console.error(JSON.stringify(result));
      console.log(
        `failure predictor end to end: ${result.machine}\n\n${markdownTable(failurePredictorRows(result))}`,
      );
      process.exit(0);
    })
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
