import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createMeasureTriggers } from '../activities/measure-triggers';
import { ModelSpecSchema } from '../common/model-spec';
import { evaluateTriggers } from '../common/triggers';
import { loadFlightsIntoBuffer, flightMetricsSql } from '../storage/demo-data';
import { withDuckDb } from '../storage/duckdb';
import { PredictionLog, predictionLogReader } from '../storage/prediction-log';
import { localDeps } from '../test/helpers/local-pipeline';
import { publishVersion } from '../test/helpers/models';
import { median, round } from './figures';

export interface TriggersBenchResult {
  days: number;
  records: number;
  predictions: number;
  /** Seconds per evaluation (measure + decide), each repeat. */
  seconds: number[];
  decision: string;
}

/**
 * The cost of one trigger evaluation on a 60-day buffer: every hour of the 50 busiest airports from
 * March 1 to April 29 2001 (flights data, idle hours as zero), a production version trained on the
 * first 53 days, and one logged forecast per record of the last 7 days; all three triggers declared.
 */
export async function triggersBench({ repeat = 5, airports = 50 } = {}): Promise<TriggersBenchResult> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-bench-triggers-'));
  try {
    const deps = localDeps(dir);
    const spec = ModelSpecSchema.parse({
      name: 'triggers-bench',
      task: 'forecast',
      timeColumn: 'ts',
      entityColumn: 'origin',
      features: ['flights', 'mean_delay', 'late_share'],
      target: 'mean_delay',
      frequency: '1h',
      lookback: 6,
      triggers: { newRecords: 10_000, liveErrorIncreasePct: 20, driftPsi: 0.25 },
    });
    await deps.registry.saveSpec(spec);
    const window = { from: '2001-03-01T00:00:00Z', to: '2001-04-22T23:00:00Z' };
    const options = {
      topAirports: airports,
      fromDay: '2001-03-01',
      beforeDay: '2001-04-30',
      everyBucket: true,
    };
    const records = await loadFlightsIntoBuffer(deps.buffer, [spec.name], options);
    await publishVersion(deps.registry, spec, 'v1', {
      metadata: {
        metrics: { mae: 12 },
        dataset: { key: 'datasets/x', rows: { train: 1, holdout: 1 }, window },
      },
    });
    await deps.registry.setAlias(spec.name, 'v1', null);
    const log = await PredictionLog.open(path.join(dir, 'predictions'));
    const recent = await withDuckDb(async (conn) => {
      const reader = await conn.runAndReadAll(
        `SELECT origin, epoch_ms(ts)::DOUBLE AS t, mean_delay FROM (${flightMetricsSql(options)})
         WHERE ts > TIMESTAMP '2001-04-23 00:00:00'`,
      );
      return reader.getRowObjectsJson() as { origin: string; t: number; mean_delay: number }[];
    });
    await log.record(
      recent.map((r) => ({
        model: spec.name,
        version: 'v1',
        entity: r.origin,
        time: Number(r.t) - 3_600_000,
        for: Number(r.t),
        value: Number(r.mean_delay) + 5,
        label: null,
        predictedAt: Date.now(),
      })),
    );
    await log.close();
    const measure = createMeasureTriggers({
      ...deps,
      predictionLog: predictionLogReader(path.join(dir, 'predictions')),
    });
    const seconds: number[] = [];
    let decision = '';
    for (let i = 0; i < repeat; i++) {
      const started = process.hrtime.bigint();
      const measured = await measure({ model: spec.name });
      decision = evaluateTriggers(spec.name, measured.triggers, measured.figures, { now: new Date() }).reason;
      seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
    }
    return { days: 60, records, predictions: recent.length, seconds, decision };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  void triggersBench().then((r) => {
    console.log(
      `one trigger evaluation on a ${r.days}-day buffer (${r.records} records, ${r.predictions} logged predictions): median ${round(median(r.seconds))} s of ${r.seconds.map((s) => round(s)).join(', ')}\n${r.decision}`,
    );
  });
}
