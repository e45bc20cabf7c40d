import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createExportDataset } from '../activities/export-dataset';
import { withFeatureFrame } from '../activities/export-frame';
import { createTrainModel } from '../activities/train-model';
import { createValidateModel } from '../activities/validate-model';
import { lowerIsBetter, ModelSpecSchema, type ModelSpec, type ModelSpecInput } from '../common/model-spec';
import { checkpointPrefix, DatasetManifestSchema } from '../common/artefacts';
import type { ExportResult, PythonTrainInput, TrainResult, ValidateResult } from '../common/stages';
import { trainerOf } from '../common/trainer-kinds';
import { selectBackend, type BackendChoice } from '../ml/backend';
import { FLIGHTS_PARQUET, flightMetricsSql } from '../storage/demo-data';
import type { BufferKey } from '../storage/buffer';
import { sqlString, withDuckDb } from '../storage/duckdb';
import { getJson } from '../storage/open-store';
import { localDeps } from '../test/helpers/local-pipeline';
import { machine, round } from './figures';
import { benchPython, NO_PYTHON, runPythonJson } from './python';
import type { BenchRow } from './table';

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

/**
 * A real tabular dataset scikit-learn ships (written to CSV by bench/python/export_datasets.py at
 * bench time, nothing downloaded): its rows in a seeded shuffle, one an hour from 2024-01-01, so the
 * time cut that makes the holdout (the newest 20 %) is a random 20 % of the rows.
 */
interface Tabular {
  name: string;
  what: string;
  task: 'classify' | 'regress';
  target: string;
  threshold?: number;
}

export const TABULAR: Tabular[] = [
  {
    name: 'breast_cancer',
    what: 'Wisconsin breast cancer (scikit-learn): 569 tumours, 30 features, malignant 1/0',
    task: 'classify',
    target: 'malignant',
    threshold: 0.5,
  },
  {
    name: 'diabetes',
    what: 'diabetes (scikit-learn): 442 patients, 10 features, disease progression a year later',
    task: 'regress',
    target: 'progression',
  },
];

interface ExportedCsv {
  file: string;
  rows: number;
  features: string[];
  target: string;
}

/** The CSVs of {@link TABULAR}, written by the venv's python into `dir`. */
async function exportTabular(dir: string): Promise<Record<string, ExportedCsv>> {
  return runPythonJson<Record<string, ExportedCsv>>('export_datasets.py', [dir]);
}

function tabularSql(csv: ExportedCsv): string {
  const columns = [...csv.features, csv.target].map((c) => `"${c}"::DOUBLE AS "${c}"`).join(', ');
  return `SELECT TIMESTAMP '2024-01-01' + to_hours(row_number() OVER (ORDER BY hash(n * 7919 + 11)) - 1) AS ts, ${columns}
          FROM (SELECT *, row_number() OVER () AS n FROM read_csv(${sqlString(csv.file)}, header = true))`;
}

function tabularSpec(t: Tabular, csv: ExportedCsv, overrides: Partial<ModelSpecInput>) {
  return ModelSpecSchema.parse({
    name: `quality-${t.name.replaceAll('_', '-')}`,
    task: t.task,
    timeColumn: 'ts',
    features: csv.features,
    target: t.target,
    ...(t.threshold === undefined ? {} : { threshold: t.threshold }),
    horizon: 0,
    lookback: 1,
    windowDays: 60,
    minRecords: 100,
    epochs: 100,
    ...overrides,
  });
}

/**
 * Who trains a candidate: the spec's defaults (TensorFlow.js, `mlp`), another TensorFlow.js
 * architecture, or a python kind (its defaults; boosting rounds are the spec's epochs).
 */
export const VARIANTS: Record<string, Partial<ModelSpecInput>> = {
  default: {},
  /** The options as they were before per-entity scaling (one scale, level targets, no calendar), same metric. */
  'global-level': {
    hyperparams: { normalisation: 'global', targetTransform: 'level', calendar: [] },
    gate: { metric: 'mase' },
  },
  linear: { hyperparams: { architecture: 'linear' } },
  xgboost: { trainer: 'python', epochs: 100, hyperparams: { architecture: 'xgboost', params: {} } },
  lightgbm: { trainer: 'python', epochs: 100, hyperparams: { architecture: 'lightgbm', params: {} } },
  logistic: { trainer: 'python', hyperparams: { architecture: 'logistic', params: {} } },
};

/** The kinds each task's default is chosen among (`default` is today's TensorFlow.js mlp). */
const CANDIDATES: Record<'forecast' | 'classify' | 'regress', string[]> = {
  forecast: ['default', 'linear', 'xgboost', 'lightgbm'],
  classify: ['default', 'xgboost', 'lightgbm', 'logistic'],
  regress: ['default', 'xgboost', 'lightgbm'],
};

export interface QualityResult {
  dataset: string;
  variant: string;
  /** `tfjs <backend>` or the python kind's backend (`xgboost 3.2.0 cpu`). */
  trainer: string;
  metric: string;
  candidate: number;
  baselines: Record<string, number>;
  best: string;
  /** How much better the candidate's figure is than the best baseline's, in % of it (negative: it loses). */
  margin: number;
  passed: boolean;
  trainSamples: number;
  /** The trainer's own figure: samples/s (neural), rows/s per round (boosting). */
  samplesPerSec: number;
  seconds: number;
  /** When the holdout starts: rows before it are what a choice may look at. */
  holdoutFrom: string;
}

/** One dataset as the buffer gets it: its rows' SQL and key, and the spec for a variant. */
interface Source {
  name: string;
  sql: string;
  key: BufferKey;
  spec(overrides: Partial<ModelSpecInput>): ModelSpec;
}

function seriesSource(series: Series): Source {
  return {
    name: series.name,
    sql: series.sql,
    key: { timeColumn: 'ts', entityColumn: 'entity' },
    spec: (overrides) => specFor(series, overrides),
  };
}

/**
 * Lower-is-better aware: how much better `candidate` is than `reference`, in % of it; against a
 * reference of 0 (a majority baseline's F1), the difference in points of the metric x 100.
 */
function marginOf(metric: string, candidate: number, reference: number): number {
  const better = lowerIsBetter(metric) ? reference - candidate : candidate - reference;
  return (100 * better) / (Math.abs(reference) || 1);
}

/**
 * Exports, trains and validates one dataset under one spec variant, in a fresh store: the export,
 * training and validation activities (TensorFlow.js training in this process; a python kind by
 * bench/python/train_frame.py, the Python worker's trainModel body on the frame the export wrote).
 * `before`: only the rows before that time (a choice's look at the train period).
 */
async function runOne(
  source: Source,
  variant: string,
  backend: BackendChoice,
  before?: string,
): Promise<QualityResult> {
  const overrides = VARIANTS[variant];
  if (!overrides)
    throw new Error(`unknown variant ${variant}; use one of ${Object.keys(VARIANTS).join(', ')}`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-quality-'));
  const started = performance.now();
  try {
    const deps = { ...localDeps(dir), backend };
    const spec = source.spec(overrides);
    await deps.registry.saveSpec(spec);
    const sql = before
      ? `SELECT * FROM (${source.sql}) WHERE ts < TIMESTAMP ${sqlString(before.replace('T', ' ').replace('Z', ''))}`
      : source.sql;
    await withDuckDb(async (conn) => {
      await conn.run(`SET TimeZone = 'UTC'`);
      await deps.buffer.appendQuery(conn, spec.name, sql, source.key);
    });
    const env = new MockActivityEnvironment();
    const workflowId = `quality-${variant}${before ? '-choice' : ''}`;
    // The export stage as activities/index.ts wires it: rows, then the feature frame for a python spec.
    const exported = (await env.run(withFeatureFrame(deps, createExportDataset(deps)), {
      model: spec.name,
      workflowId,
    })) as ExportResult;
    if (exported.status !== 'ready') throw new Error(`${source.name}: ${exported.reason}`);
    const manifest = await getJson(deps.store, `${exported.datasetKey}/manifest.json`, DatasetManifestSchema);
    const trained =
      trainerOf(spec) === 'python'
        ? await runPythonJson<TrainResult>('train_frame.py', [
            path.join(dir, 'store'),
            JSON.stringify({
              model: spec.name,
              workflowId,
              datasetKey: exported.datasetKey,
              epochs: spec.epochs,
              incremental: false,
              gateMetric: spec.gate.metric,
              task: spec.task,
              hyperparams: {
                architecture: spec.hyperparams.architecture,
                params: spec.hyperparams.params ?? {},
                seed: spec.hyperparams.seed,
              },
              checkpointPrefix: checkpointPrefix(spec.name, workflowId),
            } satisfies PythonTrainInput),
          ])
        : ((await env.run(createTrainModel(deps), {
            model: spec.name,
            workflowId,
            datasetKey: exported.datasetKey,
            epochs: spec.epochs,
            hyperparams: spec.hyperparams,
            incremental: false,
            gateMetric: spec.gate.metric,
          })) as TrainResult);
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
      marginOf(metric, b[1], a[1]) > 0 ? b : a,
    );
    const candidate = validation.candidate[metric] as number;
    return {
      dataset: source.name,
      variant,
      trainer: trainerOf(spec) === 'python' ? trained.backend : `tfjs ${trained.backend}`,
      metric,
      candidate,
      baselines,
      best,
      margin: marginOf(metric, candidate, reference),
      passed: validation.passed,
      trainSamples: exported.trainRows,
      samplesPerSec: Math.round(trained.samplesPerSec),
      seconds: round((performance.now() - started) / 1000, 1),
      holdoutFrom: manifest?.value.timeRange.holdoutFrom ?? '',
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function log(r: QualityResult, what = ''): void {
  console.error(
    `${r.dataset} ${r.variant}${what}: ${r.metric} ${round(r.candidate, 4)} vs ${r.best} ${round(r.baselines[r.best] as number, 4)} (${round(r.margin, 1)}%), ${r.samplesPerSec} samples/s, ${r.seconds} s`,
  );
}

/** The sources a run asks for: the seven series and, with `tabular`, the scikit-learn datasets. */
async function sources(datasets: string[] | undefined, tabularDir: string): Promise<Source[]> {
  const wanted = (name: string) => !datasets || datasets.includes(name);
  const out = SERIES.filter((s) => wanted(s.name)).map(seriesSource);
  const tabular = TABULAR.filter((t) => datasets?.includes(t.name));
  if (tabular.length) {
    const csvs = await exportTabular(tabularDir);
    for (const t of tabular) {
      const csv = csvs[t.name];
      if (!csv) throw new Error(`export_datasets.py wrote no ${t.name}`);
      out.push({
        name: t.name,
        sql: tabularSql(csv),
        key: { timeColumn: 'ts' },
        spec: (overrides) => tabularSpec(t, csv, overrides),
      });
    }
  }
  return out;
}

/** Every dataset under every variant; one result each. */
export async function qualityBench(
  options: { backend?: BackendChoice; variants?: string[]; datasets?: string[] } = {},
) {
  const choice = options.backend ?? 'auto';
  const backend = await selectBackend(choice, (line) => console.error(line));
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-quality-csv-'));
  const results: QualityResult[] = [];
  try {
    for (const source of await sources(options.datasets, tmp))
      for (const variant of options.variants ?? ['default', 'global-level']) {
        if (VARIANTS[variant]?.trainer === 'python' && !benchPython()) throw new Error(NO_PYTHON);
        const result = await runOne(source, variant, choice);
        log(result);
        results.push(result);
      }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  return { backend, results };
}

/** One dataset's default, chosen by {@link chooseBench}'s rule, and every candidate's figures. */
export interface Choice {
  dataset: string;
  /** Each candidate on the rows before the holdout (split again at their own 0.8 quantile). */
  validation: QualityResult[];
  /** Each candidate on the real holdout. */
  holdout: QualityResult[];
  chosen: string;
  why: string;
}

/**
 * The default for each dataset, chosen without looking at its holdout: every candidate kind of the
 * task is trained on the rows before the holdout (the export splits those again at their own 0.8
 * quantile, so the choice sees a validation period of the train period) and the one with the best
 * gate figure among those that beat the best naive baseline there is chosen; when none does, the
 * candidate closest to it. Then every candidate is trained on the whole window and scored on the real
 * holdout, the chosen one's figure and margin being the dataset's.
 */
export async function chooseBench(
  options: { backend?: BackendChoice; datasets?: string[]; candidates?: string[] } = {},
) {
  const choice = options.backend ?? 'auto';
  const backend = await selectBackend(choice, (line) => console.error(line));
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-quality-csv-'));
  const choices: Choice[] = [];
  try {
    for (const source of await sources(options.datasets, tmp)) {
      const task = source.spec({}).task as keyof typeof CANDIDATES;
      const kinds = options.candidates ?? CANDIDATES[task];
      const holdout: QualityResult[] = [];
      for (const variant of kinds) {
        holdout.push(await runOne(source, variant, choice));
        log(holdout.at(-1)!);
      }
      const cut = holdout[0]?.holdoutFrom;
      if (!cut) throw new Error(`${source.name}: no holdout start in the manifest`);
      const validation: QualityResult[] = [];
      for (const variant of kinds) {
        validation.push(await runOne(source, variant, choice, cut));
        log(validation.at(-1)!, ` (validation, rows before ${cut})`);
      }
      // Those beating the best naive baseline by their gate figure, best first; else by the margin.
      const beating = validation.filter((r) => r.margin > 0);
      const ranked = beating.length
        ? beating.sort((a, b) => marginOf(a.metric, b.candidate, a.candidate))
        : [...validation].sort((a, b) => b.margin - a.margin);
      const top = ranked[0]!;
      choices.push({
        dataset: source.name,
        validation,
        holdout,
        chosen: top.variant,
        why:
          top.margin > 0
            ? `best validation ${top.metric} of the kinds beating the best naive baseline there (+${round(top.margin, 1)} %)`
            : `no kind beat the best naive baseline on validation; the closest (${round(top.margin, 1)} %)`,
      });
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  return { backend, choices };
}

const fig = (n: number) => String(round(n, 4));
/** A margin as printed: % of the baseline, or the difference itself where the baseline is 0. */
function shown(r: QualityResult): string {
  const reference = r.baselines[r.best] as number;
  if (reference === 0) return `${r.candidate >= 0 ? '+' : ''}${fig(r.candidate)} over 0`;
  return `${r.margin >= 0 ? '+' : ''}${round(r.margin, 1)} %`;
}

/** Each candidate's holdout figure beside the best naive baseline, and the chosen default per dataset. */
export function choiceTable(choices: Choice[]): string {
  const header = [
    'dataset',
    'kind',
    'trainer',
    'validation (margin)',
    'holdout vs best naive baseline (margin)',
    'training samples/s',
  ];
  const cells = choices.flatMap((c) =>
    c.holdout.map((h) => {
      const v = c.validation.find((r) => r.variant === h.variant);
      return [
        c.dataset,
        h.variant === c.chosen ? `**${h.variant}** (chosen)` : h.variant,
        h.trainer,
        v ? `${fig(v.candidate)} (${shown(v)})` : '-',
        `${h.metric} ${fig(h.candidate)} vs ${h.best} ${fig(h.baselines[h.best] as number)} (${shown(h)}, ${h.passed ? 'pass' : 'FAIL'})`,
        h.samplesPerSec.toLocaleString('en-US'),
      ];
    }),
  );
  const widths = header.map((h, col) => Math.max(h.length, ...cells.map((row) => row[col]!.length)));
  const line = (row: string[]) => `| ${row.map((c, col) => c.padEnd(widths[col]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** The bench table's rows: per dataset, each candidate's holdout figure beside the best naive baseline. */
export function choiceRows({ backend, choices }: { backend: string; choices: Choice[] }): BenchRow[] {
  return choices.flatMap((c) =>
    c.holdout.map((h) => ({
      bench: `quality ${c.dataset}`,
      backend: h.trainer.startsWith('tfjs') ? backend : h.trainer,
      figure: `${h.variant}${h.variant === c.chosen ? ' (chosen default)' : ''}: ${h.metric} vs best naive baseline, samples/s`,
      value: `${fig(h.candidate)} vs ${h.best} ${fig(h.baselines[h.best] as number)} (${shown(h)}, ${h.passed ? 'pass' : 'FAIL'}), ${h.samplesPerSec.toLocaleString('en-US')}/s`,
    })),
  );
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'auto' },
      variant: { type: 'string', multiple: true },
      dataset: { type: 'string', multiple: true },
      choose: { type: 'boolean', default: false },
    },
  });
  const backend = values.backend as BackendChoice;
  const datasets = values.dataset;
  const run = values.choose
    ? chooseBench({
        backend,
        ...(datasets ? { datasets } : {}),
        ...(values.variant ? { candidates: values.variant } : {}),
      }).then(({ backend: used, choices }) => {
        console.error(JSON.stringify({ backend: used, choices }));
        return `quality, default per dataset (${used}; ${machine()})\n\n${choiceTable(choices)}`;
      })
    : qualityBench({
        backend,
        ...(values.variant ? { variants: values.variant } : {}),
        ...(datasets ? { datasets } : {}),
      }).then(({ backend: used, results }) => JSON.stringify({ backend: used, results }, null, 2));
  run
    .then((out) => console.log(out))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
