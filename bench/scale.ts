import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { createMeasureTriggers } from '../activities/measure-triggers';
import { ModelSpecSchema, type ModelSpec } from '../common/model-spec';
import { REGISTRY_REFRESH_MS } from '../control/registry-read-cache';
import { selectBackend, type BackendChoice } from '../ml/backend';
import { ROOT, freePort, httpOk, spawnDaemon, stopProcess, waitFor } from '../scripts/lib/processes';
import { startDevServer } from '../scripts/lib/temporal-server';
import { openBlobStore, putJson } from '../storage/open-store';
import { ModelRegistry } from '../storage/registry';
import { localDeps } from '../test/helpers/local-pipeline';
import { ensureBucket, startMinio, type Minio } from '../test/helpers/minio';
import { cpuLoadSpec, publishVersion } from '../test/helpers/models';
import { runCli } from './cli';
import { machine, median, round } from './figures';
import type { BenchRow } from './table';

/** Goals: a restarted server serves within half a minute; the dashboard and the CLI answer within a second. */
const READY_GOAL_S = 30;
const DASHBOARD_GOAL_S = 1;
const CLI_GOAL_S = 1;
/** Files written at once while the registry is filled. */
const WRITES_AT_ONCE = 16;
/** A server not ready after this is reported as such; the bench goes on. */
const READY_TIMEOUT_MS = 300_000;
/** Where the bench's MinIO keeps the registry (`--store s3`). */
const BUCKET = 'retrain-scale';

/** Options of {@link scaleBench}. */
export interface ScaleBenchOptions {
  models?: number;
  /** `RETRAIN_LOAD_CONCURRENCY` values: the server is started once with each. */
  concurrencies?: number[];
  /** Server starts per concurrency; the median is the figure. */
  repeats?: number;
  /** Models whose trigger check is timed, one after another. */
  triggerModels?: number;
  backend?: BackendChoice;
  /** `file`: a directory; `s3`: a MinIO of the bench's own (`.tools/bin/minio`), every read a round trip. */
  store?: 'file' | 's3';
}

/** The inference server's starts over the registry at one load concurrency. */
export interface StartFigures {
  concurrency: number;
  /**
   * Process start to `/healthz` (listening) and to `/readyz` 200 (every production model loaded),
   * one per start; null: not within the timeout.
   */
  listeningS: (number | null)[];
  readyS: (number | null)[];
  /** Of the last start. */
  loaded: number;
  failed: number;
}

export interface ScaleBenchResult {
  models: number;
  store: 'file' | 's3';
  /** `TFJS_BACKEND` of the server. */
  backend: BackendChoice;
  /** Seconds to write the registry (specs, versions, aliases). */
  fillS: number;
  starts: StartFigures[];
  /**
   * `GET /ui/api/models` as the dashboard asks (its first page): the first poll, one within the
   * refresh interval, one after it; the models on the page and in all.
   */
  dashboard: { firstS: number; cachedS: number; refreshedS: number; models: number; total: number };
  cli: { seconds: number; code: number | null };
  triggers: { models: number; seconds: number };
  /** 1, 5 and 15 minute load averages before and after. */
  load: { before: number[]; after: number[] };
}

/**
 * A thousand models in a fresh store (a directory, or a MinIO of its own): each a spec (triggers declared) with one small production
 * version (one tiny trained model's files copied under every name). Measures the inference server
 * (serving/main.ts, a process of its own, a Temporal dev server beside it) from start to `/readyz`
 * 200 at each load concurrency (round by round), the dashboard's `GET /ui/api/models` on the last one, `retrain models
 * list` through bin/retrain.js, and the trigger check's activity body called directly for a sample of models.
 */
export async function scaleBench({
  models = 1000,
  concurrencies = [1, 8, 32],
  repeats = 3,
  triggerModels = 100,
  backend = 'cpu',
  store: storeKind = 'file',
}: ScaleBenchOptions = {}): Promise<ScaleBenchResult> {
  for (const [what, n] of [
    ['models', models],
    ['repeats', repeats],
    ['triggerModels', triggerModels],
    ...concurrencies.map((c) => ['a load concurrency', c] as const),
  ] as const)
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`scale bench: ${what} must be a whole number >= 1, got ${n}`);
  const load = { before: os.loadavg(), after: [] as number[] };
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-bench-scale-'));
  const temporal = await startDevServer({ log: path.join(ROOT, '.data', 'bench', 'temporal.log') });
  let minio: Minio | undefined;
  try {
    await selectBackend('cpu');
    let storeEnv: NodeJS.ProcessEnv = { RETRAIN_STORE: `file://${path.join(dir, 'store')}` };
    if (storeKind === 's3') {
      minio = await startMinio();
      await ensureBucket(minio, BUCKET);
      storeEnv = {
        RETRAIN_STORE: `s3://${BUCKET}/scale`,
        S3_ENDPOINT: minio.endpoint,
        AWS_REGION: minio.region,
        AWS_ACCESS_KEY_ID: minio.accessKeyId,
        AWS_SECRET_ACCESS_KEY: minio.secretAccessKey,
      };
    }
    const store = openBlobStore(storeEnv.RETRAIN_STORE!, minio);
    const registry = new ModelRegistry(store);
    const filling = performance.now();
    const specs = await fillRegistry(registry, models);
    const fillS = (performance.now() - filling) / 1000;

    const env = {
      ...process.env,
      ...storeEnv,
      RETRAIN_BUFFER_DIR: path.join(dir, 'buffer'),
      RETRAIN_PREDICTION_LOG_DIR: path.join(dir, 'predictions'),
      TEMPORAL_ADDRESS: temporal.address,
      TFJS_BACKEND: backend,
      RETRAIN_LOG_LEVEL: 'warn',
      // The bench times the models API's reads, not the key check: no key to hand around.
      RETRAIN_DASHBOARD_PUBLIC: 'true',
    };
    const starts: StartFigures[] = [];
    let dashboard: ScaleBenchResult['dashboard'] = {
      firstS: NaN,
      cachedS: NaN,
      refreshedS: NaN,
      models: 0,
      total: 0,
    };
    for (const concurrency of concurrencies)
      starts.push({ concurrency, listeningS: [], readyS: [], loaded: 0, failed: 0 });
    // Round by round, so a neighbour's load on a shared machine falls on every concurrency alike.
    for (let run = 0; run < repeats; run++) {
      for (const [i, figures] of starts.entries()) {
        const { concurrency } = figures;
        const last = i === starts.length - 1 && run === repeats - 1;
        await startServer(
          { ...env, RETRAIN_LOAD_CONCURRENCY: String(concurrency) },
          dir,
          async (url, since) => {
            const listeningS = await timeTo(`${url}/healthz`, since);
            const readyS = listeningS === null ? null : await timeTo(`${url}/readyz`, since);
            figures.listeningS.push(listeningS);
            figures.readyS.push(readyS);
            if (readyS === null) return;
            const ready = (await (await fetch(`${url}/readyz`)).json()) as {
              models: Record<string, string>;
              failed: unknown[];
            };
            figures.loaded = Object.keys(ready.models).length;
            figures.failed = ready.failed.length;
            if (last) dashboard = await pollDashboard(url);
          },
        );
      }
    }

    // Unmeasured first: tsx's transform cache, or the CLI bundle rebuilt after a source changed.
    await runCli(['models', 'list', '--json'], env, READY_TIMEOUT_MS);
    const cli = await runCli(['models', 'list', '--json'], env, READY_TIMEOUT_MS);

    const measure = createMeasureTriggers(localDeps(dir, store));
    const sample = specs.slice(0, Math.min(triggerModels, specs.length));
    const checking = performance.now();
    for (const spec of sample) await measure({ model: spec.name });
    const triggers = { models: sample.length, seconds: (performance.now() - checking) / 1000 };

    load.after = os.loadavg();
    return {
      ...{ models, store: storeKind, backend, fillS, starts, dashboard, triggers, load },
      cli: { seconds: cli.seconds, code: cli.code },
    };
  } finally {
    await minio?.stop();
    await temporal.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Starts serving/main.ts in a process of its own on a free port, runs `measure`, and stops it. */
async function startServer(
  env: NodeJS.ProcessEnv,
  dir: string,
  measure: (url: string, since: () => number) => Promise<void>,
): Promise<void> {
  const port = await freePort();
  const started = performance.now();
  const pid = spawnDaemon(
    process.execPath,
    ['--require', 'tsx/cjs', path.join(ROOT, 'serving', 'main.ts')],
    path.join(dir, 'serving.log'),
    { ...env, SERVING_PORT: String(port) },
  );
  try {
    await measure(`http://127.0.0.1:${port}`, () => (performance.now() - started) / 1000);
  } finally {
    await stopProcess(pid);
  }
}

/**
 * `count` models `scale-0000`, ...: the first version is trained and saved once; every other model
 * gets copies of its model.json and weights.bin, its own metadata.json, and a production alias.
 */
async function fillRegistry(registry: ModelRegistry, count: number): Promise<ModelSpec[]> {
  const specs = Array.from({ length: count }, (_, i) =>
    ModelSpecSchema.parse({
      ...cpuLoadSpec(`scale-${String(i).padStart(4, '0')}`),
      triggers: { newRecords: 10_000 },
    }),
  );
  const [first] = specs as [ModelSpec];
  await publishVersion(registry, first, 'v1');
  const from = registry.versionPrefix(first.name, 'v1');
  const read = async (file: string) => {
    const blob = await registry.store.get(`${from}/${file}`);
    if (!blob) throw new Error(`${from}/${file} was not written`);
    return blob.body;
  };
  const [topology, weights, metadata] = await Promise.all(
    ['model.json', 'weights.bin', 'metadata.json'].map(read),
  );
  const template = JSON.parse(Buffer.from(metadata!).toString('utf8')) as Record<string, unknown>;
  for (let at = 0; at < specs.length; at += WRITES_AT_ONCE)
    await Promise.all(
      specs.slice(at, at + WRITES_AT_ONCE).map(async (spec) => {
        await registry.saveSpec(spec);
        if (spec !== first) {
          const to = registry.versionPrefix(spec.name, 'v1');
          await registry.store.put(`${to}/model.json`, topology!);
          await registry.store.put(`${to}/weights.bin`, weights!);
          await putJson(registry.store, `${to}/metadata.json`, { ...template, model: spec.name });
        }
        await registry.setAlias(spec.name, 'v1', null);
      }),
    );
  return specs;
}

/** Seconds from the server's start until `url` answers 200, or null when it does not within the timeout. */
async function timeTo(url: string, since: () => number): Promise<number | null> {
  try {
    await waitFor(url, () => httpOk(url), READY_TIMEOUT_MS);
    return since();
  } catch {
    return null;
  }
}

/** The dashboard's page of models (control/ui/index.html asks for 20 at a time). */
const DASHBOARD_PAGE = 20;

/** The dashboard's models API: cold, again at once (cached), and once the refresh interval has passed. */
async function pollDashboard(url: string): Promise<ScaleBenchResult['dashboard']> {
  const poll = async () => {
    const started = performance.now();
    const res = await fetch(`${url}/ui/api/models?offset=0&limit=${DASHBOARD_PAGE}`);
    if (!res.ok) throw new Error(`GET /ui/api/models answered ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as unknown[];
    const total = Number(res.headers.get('x-total-count'));
    return { seconds: (performance.now() - started) / 1000, models: body.length, total };
  };
  const first = await poll();
  const cached = await poll();
  await sleep(REGISTRY_REFRESH_MS + 100);
  const refreshed = await poll();
  return {
    firstS: first.seconds,
    cachedS: cached.seconds,
    refreshedS: refreshed.seconds,
    models: first.models,
    total: first.total,
  };
}

const verdict = (seconds: number | null, goal: number) =>
  seconds !== null && seconds <= goal ? 'meets goal' : 'misses goal';
const secondsOf = (seconds: number | null) => (seconds === null ? 'not ready' : `${round(seconds, 3)} s`);

/** The bench's rows for `npm run bench`: each figure beside its goal. */
export function scaleRows(r: ScaleBenchResult): BenchRow[] {
  const row = (figure: string, value: string): BenchRow => ({
    bench: 'scale',
    backend: r.backend,
    figure,
    value,
  });
  const loadOf = (l: number[]) => l.map((x) => x.toFixed(1)).join('/');
  return [
    row(`registry filled (${r.models} models, ${r.store} store)`, `${round(r.fillS, 1)} s`),
    ...r.starts.map((s) => {
      const complete = s.readyS.every((x) => x !== null) && s.listeningS.every((x) => x !== null);
      const ready = complete ? median(s.readyS as number[]) : null;
      const loading = complete
        ? median(s.readyS.map((x, i) => (x as number) - (s.listeningS[i] as number)))
        : null;
      return row(
        `server start to /readyz 200, ${r.models} models, RETRAIN_LOAD_CONCURRENCY=${s.concurrency}, median of ${s.readyS.length} (goal <= ${READY_GOAL_S} s)`,
        `${secondsOf(ready)} (of ${s.readyS.map(secondsOf).join(', ')}; loading after listening ${secondsOf(loading)}; ${s.loaded} loaded, ${s.failed} failed), ${verdict(ready, READY_GOAL_S)}`,
      );
    }),
    ...(
      [
        ['first poll', r.dashboard.firstS],
        ['cached poll', r.dashboard.cachedS],
        [`poll after the ${REGISTRY_REFRESH_MS / 1000} s refresh`, r.dashboard.refreshedS],
      ] as const
    ).map(([which, s]) =>
      row(
        `GET /ui/api/models, ${which}, a page of ${r.dashboard.models} of ${r.dashboard.total} models (goal <= ${DASHBOARD_GOAL_S} s)`,
        `${secondsOf(Number.isNaN(s) ? null : s)}, ${verdict(Number.isNaN(s) ? null : s, DASHBOARD_GOAL_S)}`,
      ),
    ),
    row(
      `retrain models list --json, ${r.models} models (goal <= ${CLI_GOAL_S} s)`,
      `${secondsOf(r.cli.seconds)}, exit ${r.cli.code ?? 'killed'}, ${verdict(r.cli.code === 0 ? r.cli.seconds : null, CLI_GOAL_S)}`,
    ),
    row(
      `trigger checks per minute (measureTriggers body, ${r.triggers.models} models in turn, empty buffers)`,
      `${Math.round((r.triggers.models / r.triggers.seconds) * 60)}`,
    ),
    row('load average 1/5/15 min, before / after', `${loadOf(r.load.before)} / ${loadOf(r.load.after)}`),
  ];
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '1,8,32' },
      repeats: { type: 'string', default: '3' },
      'trigger-models': { type: 'string', default: '100' },
      store: { type: 'string', default: 'file' },
    },
  });
  if (values.store !== 'file' && values.store !== 's3')
    throw new Error(`--store must be file or s3, got ${values.store}`);
  scaleBench({
    models: Number(values.models),
    concurrencies: values.concurrency.split(',').map(Number),
    repeats: Number(values.repeats),
    store: values.store,
    triggerModels: Number(values['trigger-models']),
  })
    .then((r) => {
      console.log(`scale bench: machine ${machine()}, node ${process.version}`);
      for (const { figure, value } of scaleRows(r)) console.log(`${figure}: ${value}`);
    })
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
