import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { ActivityDeps } from '../activities';
import { createExportDataset } from '../activities/export-dataset';
import { createTrainModel } from '../activities/train-model';
import { HyperparamsSchema, ModelSpecSchema, type ModelSpec } from '../common/model-spec';
import type { ExportResult, TrainResult } from '../common/stages';
import type { BackendChoice } from '../ml/backend';
import { DataBuffer } from '../storage/buffer';
import { loadFlightsIntoBuffer } from '../storage/demo-data';
import { FileBlobStore } from '../storage/file-store';
import { ModelRegistry } from '../storage/registry';
import { machine, round } from './figures';

const ROOT = path.join(__dirname, '..');
/** The bound the export and training must stay under. */
const LIMIT_BYTES = 2 * 2 ** 30;

/** What one child measured: its peak resident set and what it did. */
interface ChildFigures {
  stage: 'export' | 'train';
  maxRssBytes: number;
  seconds: number;
  [key: string]: unknown;
}

export interface MemoryBenchResult {
  bench: 'memory';
  machine: string;
  bucketMinutes: number;
  airports: number;
  bufferRows: number;
  limitBytes: number;
  export: ChildFigures;
  train: ChildFigures;
  /** Both peaks under `limitBytes`. */
  withinLimit: boolean;
}

/**
 * Peak memory of exportDataset and trainModel on a window of ≥ 4 million rows built from the real
 * flights: per-`bucketMinutes` metrics of the busiest `airports`, every bucket present (4.17M rows
 * at 5 minutes x 80 airports). Each stage runs in its own child process and reports
 * `process.resourceUsage().maxRSS`; the buffer is built in this process and not counted.
 */
export async function memoryBench(
  options: { bucketMinutes?: number; airports?: number; epochs?: number; backend?: BackendChoice } = {},
): Promise<MemoryBenchResult> {
  const { bucketMinutes = 5, airports = 80, epochs = 1, backend = 'auto' } = options;
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'retrain-bench-memory-'));
  try {
    const deps = depsIn(dir, backend);
    const spec = benchSpec();
    await deps.registry.saveSpec(spec);
    const bufferRows = await loadFlightsIntoBuffer(deps.buffer, [spec.name], {
      topAirports: airports,
      bucketMinutes,
      everyBucket: true,
    });
    const exported = await child(['export', dir, backend]);
    const trained = await child(['train', dir, backend, String(epochs)]);
    return {
      bench: 'memory',
      machine: machine(),
      bucketMinutes,
      airports,
      bufferRows,
      limitBytes: LIMIT_BYTES,
      export: exported,
      train: trained,
      withinLimit: exported.maxRssBytes < LIMIT_BYTES && trained.maxRssBytes < LIMIT_BYTES,
    };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** The demo forecaster over the whole buffer. */
function benchSpec(): ModelSpec {
  const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'flight-delay.json'), 'utf8'));
  return ModelSpecSchema.parse({ ...example, name: 'bench-memory', windowDays: 365 });
}

function depsIn(dir: string, backend: BackendChoice): ActivityDeps {
  const store = new FileBlobStore(path.join(dir, 'store'));
  return {
    store,
    registry: new ModelRegistry(store),
    buffer: new DataBuffer(path.join(dir, 'buffer')),
    backend,
    servingUrls: [],
  };
}

/** Runs this file as a child for one stage and parses the figures it prints last. */
function child(args: string[]): Promise<ChildFigures> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', __filename, '--child', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('error', reject);
    proc.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${args[0]} child exited with ${code}: ${last}`));
      try {
        resolve(JSON.parse(last) as ChildFigures);
      } catch {
        reject(new Error(`${args[0]} child printed no figures: ${last}`));
      }
    });
  });
}

/** One stage, in a child process: export, or train `epochs` on the exported dataset. */
async function runChild(
  stage: string,
  dir: string,
  backend: BackendChoice,
  epochs: number,
): Promise<ChildFigures> {
  const deps = depsIn(dir, backend);
  const spec = benchSpec();
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('WARN') });
  const started = performance.now();
  const seconds = () => round((performance.now() - started) / 1000, 2);
  const workflowId = 'bench-memory';
  if (stage === 'export') {
    const result = (await env.run(createExportDataset(deps), {
      model: spec.name,
      workflowId,
    })) as ExportResult;
    if (result.status !== 'ready') throw new Error(`export was not ready: ${result.reason}`);
    return {
      stage,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      seconds: seconds(),
      trainSamples: result.trainRows,
      holdoutSamples: result.holdoutRows,
    };
  }
  const result = (await env.run(createTrainModel(deps), {
    model: spec.name,
    workflowId,
    datasetKey: `datasets/${spec.name}/${workflowId}`,
    epochs,
    hyperparams: HyperparamsSchema.parse(spec.hyperparams),
    incremental: false,
  })) as TrainResult;
  return {
    stage: 'train',
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    seconds: seconds(),
    epochs,
    backend: result.backend,
    samplesPerSec: Math.round(result.samplesPerSec),
    loss: result.loss,
    valLoss: result.valLoss,
  };
}

if (require.main === module) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      child: { type: 'boolean', default: false },
      'bucket-minutes': { type: 'string', default: '5' },
      airports: { type: 'string', default: '80' },
      epochs: { type: 'string', default: '1' },
      backend: { type: 'string', default: 'auto' },
    },
  });
  const run = values.child
    ? runChild(
        positionals[0] ?? '',
        positionals[1] ?? '',
        (positionals[2] ?? 'auto') as BackendChoice,
        Number(positionals[3] ?? 1),
      )
    : memoryBench({
        bucketMinutes: Number(values['bucket-minutes']),
        airports: Number(values.airports),
        epochs: Number(values.epochs),
        backend: values.backend as BackendChoice,
      });
  run
    .then((result) => {
      console.log(JSON.stringify(result));
      if ('withinLimit' in result && !result.withinLimit) process.exitCode = 1;
    })
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
