import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createExportDataset } from '../activities/export-dataset';
import { createTrainModel } from '../activities/train-model';
import { createValidateModel } from '../activities/validate-model';
import { lowerIsBetter, ModelSpecSchema, type ModelSpecInput } from '../common/model-spec';
import type { ExportResult, TrainResult, ValidateResult } from '../common/stages';
import { selectBackend, type BackendChoice } from '../ml/backend';
import { FLIGHTS_PARQUET, flightMetricsSql } from '../storage/demo-data';
import { sqlString, withDuckDb } from '../storage/duckdb';
import { localDeps } from '../test/helpers/local-pipeline';
import { round } from './figures';

const VEGA = path.dirname(FLIGHTS_PARQUET);

/** A real multi-entity series as the buffer would hold it: `ts`, `entity`, `value`. */
interface Series {
  name: string;
  what: string;
  sql: string;
  frequency?: string;
  /** One season and a step (25 hours, 13 months, two weeks), so the window sees the change a season ago. */
  lookback: number;
  windowDays: number;
}

const flights = flightMetricsSql({ topAirports: 20, everyBucket: true });
const flightSeries = (column: string) => `SELECT ts, origin AS entity, ${column} AS value FROM (${flights})`;

/** The datasets: every one shipped inside the vega-datasets npm package. */
export const SERIES: Series[] = [
  {
    name: 'flights-traffic',
    what: 'departures per hour, 20 busiest US airports, Jan-Jun 2001 (flights-3m)',
    sql: flightSeries('flights'),
    frequency: '1h',
    lookback: 25,
    windowDays: 200,
  },
  {
    name: 'flights-traffic-5m',
    what: 'departures per 5 minutes, 5 busiest airports, June 2001: the shape of 5-minute server metrics',
    sql: `SELECT ts, origin AS entity, flights AS value FROM (${flightMetricsSql({ topAirports: 5, fromDay: '2001-06-01', bucketMinutes: 5, everyBucket: true })})`,
    frequency: '5m',
    lookback: 12,
    windowDays: 200,
  },
  {
    name: 'flights-delay',
    what: 'mean departure delay per hour (minutes), same airports',
    sql: flightSeries('mean_delay'),
    frequency: '1h',
    lookback: 25,
    windowDays: 200,
  },
  {
    name: 'flights-late',
    what: 'share of departures over 15 minutes late per hour, same airports',
    sql: flightSeries('late_share'),
    frequency: '1h',
    lookback: 25,
    windowDays: 200,
  },
  {
    name: 'unemployment',
    what: 'unemployed per industry (thousands), monthly 2000-2010, 14 industries',
    sql: `SELECT date::TIMESTAMP AS ts, series AS entity, count::DOUBLE AS value
          FROM read_json(${sqlString(path.join(VEGA, 'unemployment-across-industries.json'))})`,
    lookback: 13,
    windowDays: 3650,
  },
  {
    name: 'us-employment',
    what: 'US employees per sector (thousands), monthly 2006-2015, 22 sectors from 550 to 136,000',
    sql: `SELECT month::TIMESTAMP AS ts, entity, value::DOUBLE AS value FROM (
            UNPIVOT (SELECT * EXCLUDE (nonfarm_change)
                     FROM read_csv(${sqlString(path.join(VEGA, 'us-employment.csv'))}, header = true))
            ON COLUMNS(* EXCLUDE (month)) INTO NAME entity VALUE value)`,
    lookback: 13,
    windowDays: 3650,
  },
  {
    name: 'weather',
    what: 'daily maximum temperature (°C), Seattle and New York, 2012-2015',
    sql: `SELECT date::TIMESTAMP AS ts, location AS entity, temp_max::DOUBLE AS value
          FROM read_csv(${sqlString(path.join(VEGA, 'weather.csv'))}, header = true)`,
    frequency: '1d',
    lookback: 14,
    windowDays: 1500,
  },
];

/** What each dataset is trained with: one feature, a season's lookback, horizon 1, 5 epochs, defaults otherwise. */
function specFor(series: Series, overrides: Partial<ModelSpecInput>) {
  return ModelSpecSchema.parse({
    name: `quality-${series.name}`,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'entity',
    features: ['value'],
    target: 'value',
    lookback: series.lookback,
    horizon: 1,
    epochs: 5,
    windowDays: series.windowDays,
    minRecords: 100,
    ...(series.frequency ? { frequency: series.frequency } : {}),
    ...overrides,
  });
}

export interface QualityResult {
  dataset: string;
  variant: string;
  metric: string;
  candidate: number;
  baselines: Record<string, number>;
  best: string;
  /** How much lower the candidate's figure is than the best baseline's, in % of it (negative: it loses). */
  margin: number;
  passed: boolean;
  trainSamples: number;
  seconds: number;
}

/** Exports, trains and validates one dataset under one spec variant, in a fresh store. */
async function runOne(
  series: Series,
  variant: string,
  overrides: Partial<ModelSpecInput>,
  backend: BackendChoice,
): Promise<QualityResult> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-quality-'));
  const started = performance.now();
  try {
    const deps = { ...localDeps(dir), backend };
    const spec = specFor(series, overrides);
    await deps.registry.saveSpec(spec);
    await withDuckDb(async (conn) => {
      await conn.run(`SET TimeZone = 'UTC'`);
      await deps.buffer.appendQuery(conn, spec.name, series.sql, {
        timeColumn: 'ts',
        entityColumn: 'entity',
      });
    });
    const env = new MockActivityEnvironment();
    const workflowId = `quality-${variant}`;
    const exported = (await env.run(createExportDataset(deps), {
      model: spec.name,
      workflowId,
    })) as ExportResult;
    if (exported.status !== 'ready') throw new Error(`${series.name}: ${exported.reason}`);
    const trained = (await env.run(createTrainModel(deps), {
      model: spec.name,
      workflowId,
      datasetKey: exported.datasetKey,
      epochs: spec.epochs,
      hyperparams: spec.hyperparams,
      incremental: false,
      gateMetric: spec.gate.metric,
    })) as TrainResult;
    const validation = (await env.run(createValidateModel(deps), {
      model: spec.name,
      datasetKey: exported.datasetKey,
      candidateKey: trained.candidateKey,
      gate: spec.gate,
    })) as ValidateResult;
    const metric = validation.metric;
    const baselines = Object.fromEntries(
      Object.entries(validation.baselines).map(([name, m]) => [name, m[metric] as number]),
    );
    const [best, reference] = Object.entries(baselines).reduce((a, b) =>
      lowerIsBetter(metric) ? (b[1] < a[1] ? b : a) : b[1] > a[1] ? b : a,
    );
    const candidate = validation.candidate[metric] as number;
    return {
      dataset: series.name,
      variant,
      metric,
      candidate,
      baselines,
      best,
      margin: (100 * (reference - candidate)) / reference,
      passed: validation.passed,
      trainSamples: exported.trainRows,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Spec variants: today's defaults, and the options before this bench existed (one scale, level targets). */
/**
 * Spec variants: the defaults, and the options as they were before per-entity scaling (one scale for
 * the fleet, level targets, no calendar) judged by the same fleet-fair metric.
 */
export const VARIANTS: Record<string, Partial<ModelSpecInput>> = {
  default: {},
  'global-level': {
    hyperparams: { normalisation: 'global', targetTransform: 'level', calendar: [] },
    gate: { metric: 'mase' },
  },
};

/** Every dataset under every variant; one result each. */
export async function qualityBench(
  options: { backend?: BackendChoice; variants?: string[]; datasets?: string[] } = {},
) {
  const choice = options.backend ?? 'auto';
  const backend = await selectBackend(choice, (line) => console.error(line));
  const results: QualityResult[] = [];
  for (const series of SERIES.filter((s) => !options.datasets || options.datasets.includes(s.name)))
    for (const variant of options.variants ?? Object.keys(VARIANTS)) {
      const overrides = VARIANTS[variant];
      if (!overrides)
        throw new Error(`unknown variant ${variant}; use one of ${Object.keys(VARIANTS).join(', ')}`);
      const result = await runOne(series, variant, overrides, choice);
      console.error(
        `${series.name} ${variant}: ${result.metric} ${round(result.candidate, 4)} vs ${result.best} ${round(result.baselines[result.best] as number, 4)} (${round(result.margin, 1)}%)`,
      );
      results.push(result);
    }
  return { backend, results };
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'auto' },
      variant: { type: 'string', multiple: true },
      dataset: { type: 'string', multiple: true },
    },
  });
  void qualityBench({
    backend: values.backend as BackendChoice,
    ...(values.variant ? { variants: values.variant } : {}),
    ...(values.dataset ? { datasets: values.dataset } : {}),
  }).then(({ backend, results }) => {
    console.log(JSON.stringify({ backend, results }, null, 2));
  });
}
