import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { HyperparamsSchema, ModelSpecSchema } from '../common/model-spec';
import { selectBackend, type BackendChoice } from '../ml/backend';
import { createModel } from '../ml/model';
import { createServer } from '../serving/server';
import { PredictionLog } from '../storage/prediction-log';
import { FileBlobStore } from '../storage/file-store';
import { ModelRegistry } from '../storage/registry';
import { publishVersion, recentRows } from '../test/helpers/models';
import { machine, median } from './figures';

/** The demo forecaster's shape: lookback 6 x 3 features, MLP with 32 hidden units. */
const SPEC = ModelSpecSchema.parse({
  name: 'bench-serve',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'origin',
  features: ['flights', 'mean_delay', 'late_share'],
  target: 'mean_delay',
  lookback: 6,
});

interface PhaseFigures {
  phase: string;
  seconds: number;
  requests: number;
  failed: number;
  requestsPerSec: number;
  predictionsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  versions: Record<string, number>;
  reloads?: number;
}

/**
 * `/predict` throughput and latency on a real listening server, with the load coming from a second
 * process (so the client does not share the server's event loop): steady, then while the model is
 * hot-reloaded every second. One result per phase; `npm run bench:serve` prints each as a JSON line.
 */
export async function serveBench(
  options: { backend?: BackendChoice; seconds?: number; concurrency?: number; entities?: number } = {},
): Promise<ServeBenchPhase[]> {
  const { seconds = 10, concurrency = 8 } = options;
  const results: ServeBenchPhase[] = [];
  const backend = await selectBackend(options.backend ?? 'auto');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-bench-serve-'));
  const registry = new ModelRegistry(new FileBlobStore(dir));
  await registry.saveSpec(SPEC);
  for (const [version, seed] of [
    ['v1', 1],
    ['v2', 2],
  ] as const) {
    const hyperparams = HyperparamsSchema.parse({ hiddenUnits: 32, seed });
    const net = createModel(
      { task: SPEC.task, lookback: SPEC.lookback, features: SPEC.features.length },
      hyperparams,
    );
    await publishVersion(registry, SPEC, version, { net, metadata: { hyperparams, backend } });
  }
  await registry.setAlias(SPEC.name, 'v1', null);
  const apiKey = 'bench-serve-key-0123456789';
  // The same server twice: without and with the prediction log recording every answer.
  const predictionLog = await PredictionLog.open(path.join(dir, 'predictions'));
  const server = createServer({ registry, apiKey });
  const logging = createServer({ registry, apiKey, predictionLog });
  const urls: Record<'plain' | 'logged', string> = { plain: '', logged: '' };
  for (const [name, s] of [
    ['plain', server],
    ['logged', logging],
  ] as const) {
    await s.loadProductionModels();
    urls[name] = await s.app.listen({ host: '127.0.0.1', port: 0 });
  }
  const url = urls.plain;
  const entities = Array.from({ length: options.entities ?? 32 }, (_, i) => `E${i}`);
  const body = path.join(dir, 'body.json');
  await fs.writeFile(body, JSON.stringify({ model: SPEC.name, rows: recentRows(SPEC, entities) }));
  const common = {
    bench: 'serve' as const,
    backend,
    machine: machine(),
    entitiesPerRequest: entities.length,
    concurrency,
  };
  try {
    // Warm-up, not reported.
    for (const u of Object.values(urls)) await measure(u, body, 2, concurrency);
    // Without and with the log in turns, so the machine's drift hits both alike; merged below.
    const steady = ['steady', 'steady, prediction log on'] as const;
    const rounds: PhaseFigures[] = [];
    for (const phase of [...steady, ...steady, ...steady, 'reloading every 1s'] as const) {
      let reloads = 0;
      let stop = false;
      const reloader = async () => {
        for (let i = 0; !stop; i++) {
          await sleep(1000);
          if (stop) break;
          const res = await fetch(`${url}/admin/reload`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
            body: JSON.stringify({ model: SPEC.name, version: i % 2 === 0 ? 'v2' : 'v1' }),
          });
          if (res.status !== 200) throw new Error(`reload answered ${res.status}: ${await res.text()}`);
          reloads++;
        }
      };
      const reloading = phase === 'reloading every 1s' ? reloader() : Promise.resolve();
      const figures = await measure(
        phase === 'steady, prediction log on' ? urls.logged : url,
        body,
        seconds,
        concurrency,
      );
      stop = true;
      await reloading;
      const out: PhaseFigures = {
        ...figures,
        phase,
        predictionsPerSec: Math.round(figures.requestsPerSec * entities.length),
        ...(phase === 'reloading every 1s' ? { reloads } : {}),
      };
      rounds.push(out);
    }
    for (const phase of [...steady, 'reloading every 1s'] as const)
      results.push({ ...common, ...mergeRounds(rounds.filter((r) => r.phase === phase)) });
  } finally {
    await server.app.close();
    await logging.app.close();
    await predictionLog.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
  return results;
}

/** Rounds of one phase as one: requests and failures summed, rates averaged, latencies their median. */
function mergeRounds(rounds: PhaseFigures[]): PhaseFigures {
  const first = rounds[0] as PhaseFigures;
  if (rounds.length === 1) return first;
  const mean = (f: (r: PhaseFigures) => number) =>
    Math.round(rounds.reduce((a, r) => a + f(r), 0) / rounds.length);
  return {
    ...first,
    seconds: rounds.reduce((a, r) => a + r.seconds, 0),
    requests: rounds.reduce((a, r) => a + r.requests, 0),
    failed: rounds.reduce((a, r) => a + r.failed, 0),
    requestsPerSec: mean((r) => r.requestsPerSec),
    predictionsPerSec: mean((r) => r.predictionsPerSec),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
  };
}

export interface ServeBenchPhase extends PhaseFigures {
  bench: 'serve';
  backend: string;
  machine: string;
  entitiesPerRequest: number;
  concurrency: number;
}

/** Runs the client process for `seconds` and returns its figures. */
async function measure(
  url: string,
  body: string,
  seconds: number,
  concurrency: number,
): Promise<Omit<PhaseFigures, 'phase' | 'predictionsPerSec'>> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      __filename,
      '--client',
      url,
      '--body',
      body,
      '--seconds',
      String(seconds),
      '--concurrency',
      String(concurrency),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`bench client exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1) as string) as Omit<
    PhaseFigures,
    'phase' | 'predictionsPerSec'
  >;
}

/** Client side: `concurrency` loops POST the body for `seconds`, then one JSON line of figures. */
async function runClient(url: string, bodyFile: string, seconds: number, concurrency: number): Promise<void> {
  const body = await fs.readFile(bodyFile, 'utf8');
  const latencies: number[] = [];
  const versions: Record<string, number> = {};
  let failed = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${url}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const answer = (await res.json()) as { version?: string };
        if (res.status !== 200 || !answer.version) {
          failed++;
          continue;
        }
        latencies.push(performance.now() - t0);
        versions[answer.version] = (versions[answer.version] ?? 0) + 1;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    Number((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0).toFixed(2));
  console.log(
    JSON.stringify({
      seconds: Number(elapsed.toFixed(2)),
      requests: latencies.length,
      failed,
      requestsPerSec: Math.round(latencies.length / elapsed),
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      versions,
    }),
  );
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'auto' },
      seconds: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '8' },
      entities: { type: 'string', default: '32' },
      client: { type: 'string' },
      body: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const run =
    values.client && values.body
      ? runClient(values.client, values.body, seconds, concurrency)
      : serveBench({
          backend: values.backend as BackendChoice,
          seconds,
          concurrency,
          entities: Number(values.entities),
        }).then((phases) => phases.forEach((phase) => console.log(JSON.stringify(phase))));
  run.catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
