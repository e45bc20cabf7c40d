import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../ml/backend';
import { withDuckDb } from '../../storage/duckdb';
import { FileBlobStore } from '../../storage/file-store';
import { PredictionLog } from '../../storage/prediction-log';
import { PredictionLogFaults } from '../../storage/prediction-log-faults';
import { ModelRegistry } from '../../storage/registry';
import { createServer } from '../../serving/server';
import { eventually } from '../helpers/eventually';
import { cpuLoadSpec, publishVersion, recentRows, smallModel } from '../helpers/models';

const ROOT = path.resolve(__dirname, '..', '..');
const CHILD = path.join(ROOT, 'test', 'helpers', 'prediction-log-full-disk-child.ts');
const quiet = { warn() {} };

let dir: string;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-prediction-log-faults-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The values logged for `model`, in order. */
async function loggedValues(log: PredictionLog, model: string): Promise<number[]> {
  const source = await log.source(model);
  if (!source) return [];
  return withDuckDb(async (conn) => {
    const reader = await conn.runAndReadAll(`SELECT value FROM ${source} ORDER BY value`);
    return (reader.getRowObjectsJson() as { value: number }[]).map((r) => Number(r.value));
  });
}

const record = (model: string, i: number) => ({
  model,
  version: 'v1',
  entity: `e${i}`,
  time: 1_700_000_000_000,
  for: null,
  value: i,
  label: null,
  predictedAt: Date.now(),
});

describe('the prediction log under faults', { timeout: 120_000 }, () => {
  it('opens over a journal with a torn last line: the whole lines are read, the cut is counted and served', async () => {
    const logDir = path.join(dir, `torn-${randomUUID()}`);
    await fs.mkdir(path.join(logDir, '.journal'), { recursive: true });
    const journal = path.join(logDir, '.journal', `${randomUUID()}.jsonl`);
    const whole = [0, 1, 2].map((i) => JSON.stringify(record('torn', i))).join('\n') + '\n';
    await fs.writeFile(journal, whole + JSON.stringify(record('torn', 3)).slice(0, 25));
    const warned: object[] = [];
    const log = await PredictionLog.open(logDir, { orphanMs: 0, logger: { warn: (f) => warned.push(f) } });
    try {
      expect(await loggedValues(log, 'torn')).toEqual([0, 1, 2]);
      expect(log.faults.count('torn_line')).toBe(1);
      expect(warned).toEqual([expect.objectContaining({ kind: 'torn_line' })]);
      expect(await fs.readdir(path.join(logDir, '.journal'))).toEqual([]);
      const server = createServer({
        registry: new ModelRegistry(new FileBlobStore(path.join(dir, 'torn-store'))),
        predictionLog: log,
      });
      const scraped = (await server.app.inject('/metrics')).body;
      await server.app.close();
      expect(scraped).toMatch(/^retrain_prediction_log_faults_total\{kind="torn_line"\} 1$/m);
    } finally {
      await log.close();
    }
  });

  it('keeps recording past a full disk (EFBIG under ulimit -f), counts the failures, and loses no acknowledged answer', async () => {
    const logDir = path.join(dir, `full-${randomUUID()}`);
    // 64 KiB per file: a journal of ~1 KiB batches fills it many times over in 400 batches.
    const { stdout } = await promisify(execFile)(
      'bash',
      ['-c', 'ulimit -f 64 && exec "$0" --import tsx "$1" "$2" 400', process.execPath, CHILD, logDir],
      { cwd: ROOT },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
      acked: number;
      failed: number;
      faults: { write: number; turn: number };
    };
    // The process lived through every failed write and still acknowledged answers after the first one.
    expect(result.failed).toBeGreaterThan(0);
    expect(result.faults.write).toBe(result.failed);
    expect(result.acked).toBeGreaterThan(0);
    expect(result.acked + result.failed * 10).toBe(4000);

    // Without the limit, the next process turns the journals the full disk left: every acknowledged
    // answer is there once, torn lines are cut.
    const log = await PredictionLog.open(logDir, { orphanMs: 0, logger: quiet });
    try {
      const values = await loggedValues(log, 'full');
      expect(new Set(values).size).toBe(values.length);
      expect(values.length).toBeGreaterThanOrEqual(result.acked);
      expect(values.length).toBeLessThanOrEqual(4000);
      expect(await fs.readdir(path.join(logDir, '.journal'))).toEqual([]);
    } finally {
      await log.close();
    }
  });

  it('keeps answering /predict while the journal cannot be written, and counts each lost answer', async () => {
    const logDir = path.join(dir, `unwritable-${randomUUID()}`);
    const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'unwritable-store')));
    const spec = cpuLoadSpec(`unwritable-${randomUUID().slice(0, 8)}`);
    await registry.saveSpec(spec);
    await publishVersion(registry, spec, 'v1', { net: smallModel(spec, 1) });
    await registry.setAlias(spec.name, 'v1', null);
    const log = await PredictionLog.open(logDir, { logger: quiet });
    // The journal directory gone: every journal open fails (as a full disk fails every write).
    await fs.rm(path.join(logDir, '.journal'), { recursive: true });
    const server = createServer({ registry, predictionLog: log });
    try {
      await server.loadProductionModels();
      for (let i = 0; i < 5; i++) {
        const reply = await server.app.inject({
          method: 'POST',
          url: '/predict',
          payload: { model: spec.name, rows: recentRows(spec, [`h${i}`]) },
        });
        expect(reply.statusCode).toBe(200);
      }
      await eventually('five failed journal writes counted', () => log.faults.count('write') === 5);
      const scraped = (await server.app.inject('/metrics')).body;
      expect(scraped).toMatch(/^retrain_prediction_log_faults_total\{kind="write"\} 5$/m);
      expect(scraped).toContain(`retrain_prediction_log_failures_total{model="${spec.name}"} 5`);
    } finally {
      await server.app.close();
      await log.close();
    }
  });
});

describe('prediction log faults', () => {
  it('log the first fault of a burst and count every one', () => {
    let now = 0;
    const warned: object[] = [];
    const faults = new PredictionLogFaults({ warn: (f) => warned.push(f) }, () => now);
    for (let i = 0; i < 5; i++) faults.report('write', new Error('ENOSPC'));
    now = 120_000;
    faults.report('write', new Error('ENOSPC'));
    faults.report('turn', new Error('ENOSPC'));
    expect(faults.count('write')).toBe(6);
    expect(warned).toEqual([
      expect.objectContaining({ kind: 'write' }),
      expect.objectContaining({ kind: 'write', unloggedInPreviousBurst: 4 }),
      expect.objectContaining({ kind: 'turn' }),
    ]);
  });
});
