import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/config';
import { withDuckDb } from '../../storage/duckdb';
import { PredictionLog } from '../../storage/prediction-log';

const DAY_MS = 86_400_000;

let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-prediction-log-retention-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('prediction log retention', { timeout: 60_000 }, () => {
  it('drops the days answered more than retentionDays ago, and keeps the rest', async () => {
    const logDir = path.join(dir, randomUUID());
    const now = Date.now();
    // Answers given 40, 31, 29 and 0 days ago.
    const ages = [40, 31, 29, 0];
    const log = await PredictionLog.open(logDir, { logger: { warn() {} } });
    await log.record(
      ages.map((age) => ({
        model: 'kept',
        version: 'v1',
        entity: `aged-${age}`,
        time: now - age * DAY_MS,
        for: null,
        value: age,
        label: null,
        predictedAt: now - age * DAY_MS,
      })),
    );
    await log.close();
    const reopened = await PredictionLog.open(logDir, { retentionDays: 30, logger: { warn() {} } });
    try {
      const source = await reopened.source('kept');
      const values = await withDuckDb(async (conn) =>
        (await conn.runAndReadAll(`SELECT value FROM ${source} ORDER BY value`))
          .getRowObjectsJson()
          .map((r) => Number((r as { value: number }).value)),
      );
      expect(values).toEqual([0, 29]);
      expect(reopened.faults.count('retention')).toBe(0);
    } finally {
      await reopened.close();
    }
  });

  it('is RETRAIN_PREDICTION_LOG_RETENTION_DAYS, 30 by default, a whole number of days', async () => {
    expect(loadConfig({}, '/nowhere').predictionLog.retentionDays).toBe(30);
    expect(
      loadConfig({ RETRAIN_PREDICTION_LOG_RETENTION_DAYS: '7' }, '/nowhere').predictionLog.retentionDays,
    ).toBe(7);
    for (const bad of ['0', '1.5', 'week']) {
      expect(() => loadConfig({ RETRAIN_PREDICTION_LOG_RETENTION_DAYS: bad }, '/nowhere')).toThrow(
        ConfigError,
      );
      expect(() => loadConfig({ RETRAIN_PREDICTION_LOG_RETENTION_DAYS: bad }, '/nowhere')).toThrow(
        'RETRAIN_PREDICTION_LOG_RETENTION_DAYS',
      );
    }
    await expect(PredictionLog.open(path.join(dir, 'bad'), { retentionDays: 0 })).rejects.toThrow(
      'retentionDays must be a whole number of days, at least 1, not 0',
    );
  });
});
