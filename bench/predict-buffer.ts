import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { HyperparamsSchema, ModelSpecSchema, type ModelSpec } from '../common/model-spec';
import { selectBackend, type BackendChoice } from '../ml/backend';
import { createModel } from '../ml/model';
import { createServer } from '../serving/server';
import { DataBuffer } from '../storage/buffer';
import { BufferWriter } from '../storage/buffer-writer';
import { FileBlobStore } from '../storage/file-store';
import { Ingestor } from '../storage/ingest';
import { ModelRegistry } from '../storage/registry';
import { publishVersion, recentRows } from '../test/helpers/models';
import { machine, median } from './figures';

/** The demo forecaster's shape (as bench/serve), twice: one model fed by /predict, one not. */
const specOf = (name: string, predictFeedsBuffer: boolean): ModelSpec =>
  ModelSpecSchema.parse({
    name,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'origin',
    features: ['flights', 'mean_delay', 'late_share'],
    target: 'mean_delay',
    lookback: 6,
    predictFeedsBuffer,
  });

interface Figures {
  requests: number;
  failed: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * `/predict` p50 and p99 on one listening server, for a model whose rows feed the buffer and one whose
 * do not, in alternating rounds (so the machine's drift hits both alike); the load comes from bench/serve's
 * client process. Every request sends the same rows, so after the first the feed deduplicates them all.
 */
async function predictBufferBench(options: {
  backend: BackendChoice;
  seconds: number;
  concurrency: number;
  entities: number;
  rounds: number;
}) {
  const backend = await selectBackend(options.backend);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-bench-predict-buffer-'));
  const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
  const specs = { off: specOf('bench-feed-off', false), on: specOf('bench-feed-on', true) };
  for (const spec of Object.values(specs)) {
    await registry.saveSpec(spec);
    const hyperparams = HyperparamsSchema.parse({ hiddenUnits: 32, seed: 1 });
    const net = createModel(
      { task: spec.task, lookback: spec.lookback, features: spec.features.length },
      hyperparams,
    );
    await publishVersion(registry, spec, 'v1', { net, metadata: { hyperparams, backend } });
    await registry.setAlias(spec.name, 'v1', null);
  }
  const writer = await BufferWriter.open(new DataBuffer(path.join(dir, 'buffer')), { retentionDays: 60 });
  const server = createServer({ registry, ingestor: new Ingestor(registry, writer) });
  await server.loadProductionModels();
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const entities = Array.from({ length: options.entities }, (_, i) => `E${i}`);
  const bodies = { off: path.join(dir, 'off.json'), on: path.join(dir, 'on.json') };
  for (const feed of ['off', 'on'] as const)
    await fs.writeFile(
      bodies[feed],
      JSON.stringify({ model: specs[feed].name, rows: recentRows(specs[feed], entities) }),
    );
  try {
    for (const feed of ['off', 'on'] as const) await measure(url, bodies[feed], 2, options.concurrency);
    const rounds: Record<'off' | 'on', Figures[]> = { off: [], on: [] };
    for (let i = 0; i < options.rounds; i++)
      for (const feed of ['off', 'on'] as const)
        rounds[feed].push(await measure(url, bodies[feed], options.seconds, options.concurrency));
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const fed = [
      ...metrics.matchAll(/^retrain_predict_feed_rows_total\{model="bench-feed-on",result="(\w+)"\} (\d+)/gm),
    ];
    return {
      backend,
      machine: machine(),
      entitiesPerRequest: entities.length,
      rowsPerRequest: entities.length * specs.on.lookback,
      concurrency: options.concurrency,
      off: merge(rounds.off),
      on: merge(rounds.on),
      feed: Object.fromEntries(fed.map((m) => [m[1], Number(m[2])])),
    };
  } finally {
    await server.app.close();
    await writer.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Rounds as one: counts summed, rates averaged, latencies their median. */
function merge(rounds: Figures[]): Figures {
  return {
    requests: rounds.reduce((a, r) => a + r.requests, 0),
    failed: rounds.reduce((a, r) => a + r.failed, 0),
    requestsPerSec: Math.round(rounds.reduce((a, r) => a + r.requestsPerSec, 0) / rounds.length),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
  };
}

/** bench/serve's load client for `seconds` against `url`; its one JSON line of figures. */
async function measure(url: string, body: string, seconds: number, concurrency: number): Promise<Figures> {
  const client = path.join(__dirname, 'serve.ts');
  const args = ['--import', 'tsx', client, '--client', url, '--body', body];
  const child = spawn(
    process.execPath,
    [...args, '--seconds', String(seconds), '--concurrency', String(concurrency)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`bench client exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1) as string) as Figures;
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'auto' },
      seconds: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '8' },
      entities: { type: 'string', default: '32' },
      rounds: { type: 'string', default: '3' },
    },
  });
  predictBufferBench({
    backend: values.backend as BackendChoice,
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
    entities: Number(values.entities),
    rounds: Number(values.rounds),
  })
    .then((r) => {
      console.log(`${r.machine}; ${r.backend}; ${r.rowsPerRequest} rows a request, ${r.concurrency} at once`);
      console.log('| /predict              | p50 ms | p99 ms | requests/s | failed |');
      console.log('| --------------------- | ------ | ------ | ---------- | ------ |');
      for (const [label, f] of [
        ['feed off', r.off],
        ['feed on (spec opt-in)', r.on],
      ] as const)
        console.log(
          `| ${label.padEnd(21)} | ${String(f.p50Ms).padStart(6)} | ${String(f.p99Ms).padStart(6)} | ${String(f.requestsPerSec).padStart(10)} | ${String(f.failed).padStart(6)} |`,
        );
      console.log(`feed rows: ${JSON.stringify(r.feed)}`);
      console.log(JSON.stringify({ bench: 'predict-buffer', ...r }));
    })
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
