import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../ml/backend';
import { withDuckDb } from '../../storage/duckdb';
import { FileBlobStore } from '../../storage/file-store';
import { PredictionLog } from '../../storage/prediction-log';
import { ModelRegistry } from '../../storage/registry';
import { createServer } from '../../serving/server';
import { cpuLoadSpec, publishVersion, recentRows, smallModel } from '../helpers/models';

const ROOT = path.resolve(__dirname, '..', '..');
const CHILD = path.join(ROOT, 'test', 'helpers', 'prediction-log-child.ts');

let dir: string;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-prediction-log-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Every logged row of `model`: entity, version and value, as DuckDB reads the Parquet files. */
async function logged(log: PredictionLog, model: string) {
  const source = await log.source(model);
  if (!source) return [];
  return withDuckDb(async (conn) => {
    const reader = await conn.runAndReadAll(
      `SELECT entity, version, value, epoch_ms(time)::DOUBLE AS time, epoch_ms(predicted_at)::DOUBLE AS answered FROM ${source} ORDER BY answered, entity`,
    );
    return reader.getRowObjectsJson() as {
      entity: string;
      version: string;
      value: number;
      time: number;
      at: number;
    }[];
  });
}

describe('the prediction log', { timeout: 120_000 }, () => {
  it('keeps every /predict answer of a concurrent load across a server restart', async () => {
    const logDir = path.join(dir, 'served');
    const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
    const spec = cpuLoadSpec('logged');
    await registry.saveSpec(spec);
    await publishVersion(registry, spec, 'v1', { net: smallModel(spec, 1) });
    await registry.setAlias(spec.name, 'v1', null);

    const answers: { entity: string; value: number }[] = [];
    for (const round of [0, 1]) {
      // Each round is one server life: start, 200 requests at once, close.
      const log = await PredictionLog.open(logDir, { flushMs: 20 });
      const server = createServer({ registry, predictionLog: log });
      await server.loadProductionModels();
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          server.app.inject({
            method: 'POST',
            url: '/predict',
            payload: { model: spec.name, rows: recentRows(spec, [`h${round}-${i}`, `g${round}-${i}`]) },
          }),
        ),
      );
      for (const reply of replies) {
        expect(reply.statusCode).toBe(200);
        for (const p of reply.json().predictions as { entity: string; value: number }[]) answers.push(p);
      }
      await server.app.close();
      await log.close();
    }
    const reopened = await PredictionLog.open(logDir);
    const rows = await logged(reopened, spec.name);
    await reopened.close();
    expect(rows).toHaveLength(800);
    const byEntity = new Map(rows.map((r) => [r.entity, r]));
    expect(byEntity.size).toBe(800);
    for (const answer of answers) {
      expect(byEntity.get(answer.entity)?.value).toBeCloseTo(answer.value, 9);
      expect(byEntity.get(answer.entity)?.version).toBe('v1');
    }
    // The time of the newest input row: 00:02 for recentRows' three minutes.
    expect(new Set(rows.map((r) => r.time))).toEqual(new Set([Date.UTC(2024, 0, 1, 0, 2)]));
  });

  it('loses no acknowledged answer when its process is SIGKILLed, and adds none twice', async () => {
    const logDir = path.join(dir, 'killed');
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, logDir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acked = 0;
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await new Promise<void>((resolve, reject) => {
      child.once('exit', () => reject(new Error(`the writer exited early: ${stderr}`)));
      child.stdout.on('data', (c: Buffer) => {
        const last = c
          .toString()
          .trim()
          .split('\n')
          .at(-1)
          ?.match(/^acked (\d+)$/);
        if (last) acked = Number(last[1]);
        // Well past several turns of the journal into Parquet (every 50 ms).
        if (acked >= 5000 && child.exitCode === null) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    const journals = await fs.readdir(path.join(logDir, '.journal'));
    expect(journals.some((j) => j.endsWith('.jsonl'))).toBe(true);

    // The next process recovers the dead one's journal at once (orphanMs 0 here; 30 s by default).
    const first = await PredictionLog.open(logDir, { orphanMs: 0 });
    const rows = await logged(first, 'killed');
    await first.close();
    expect(rows.length).toBeGreaterThanOrEqual(acked);
    expect(rows.length % 10).toBe(0);
    // Every value once: 0, 1, 2, ... in order of recording.
    const values = rows.map((r) => r.value).sort((a, b) => a - b);
    expect(values).toEqual(values.map((_, i) => i));
    const again = await PredictionLog.open(logDir, { orphanMs: 0 });
    expect(await logged(again, 'killed')).toHaveLength(rows.length);
    await again.close();
    expect((await fs.readdir(path.join(logDir, '.journal'))).filter((j) => j.endsWith('.jsonl'))).toEqual([]);
  });

  it('records the share RETRAIN_PREDICTION_LOG_SAMPLE asks for', async () => {
    let draw = 0;
    // A fixed sequence: every fourth draw is under 0.25.
    const log = await PredictionLog.open(path.join(dir, 'sampled'), {
      sample: 0.25,
      random: () => (draw++ % 4) / 4,
    });
    const record = (i: number) => ({
      model: 's',
      version: 'v1',
      entity: `e${i}`,
      time: 0,
      for: null,
      value: i,
      label: null,
      predictedAt: Date.now(),
    });
    await log.record(Array.from({ length: 400 }, (_, i) => record(i)));
    await log.flush();
    expect(await logged(log, 's')).toHaveLength(100);
    await log.close();
    await expect(PredictionLog.open(dir, { sample: 1.5 })).rejects.toThrow(
      'sample must be between 0 and 1, not 1.5',
    );
  });
});
