import * as tf from '@tensorflow/tfjs';
import type { Preprocessing } from '../common/artefacts';
import type { Gate } from '../common/model-spec';
import type { GateDecision, MetricSet, ValidateInput, ValidateResult } from '../common/stages';
import { selectBackend } from '../ml/backend';
import { classifyMetrics, forecastMetrics } from '../ml/metrics';
import { storeLoadHandler } from '../ml/store-io';
import { loadDataset, loadManifest, type LoadedSplit } from './dataset-io';
import type { ActivityDeps } from './deps';
import { loadSpecOrFail } from './load-spec';

/** The metric the gate decides on, and whether lower is better. */
export function gateMetric(task: Preprocessing['task']): { name: string; lowerIsBetter: boolean } {
  return task === 'forecast' ? { name: 'mae', lowerIsBetter: true } : { name: 'f1', lowerIsBetter: false };
}

/** Scores candidate, production and naive baselines on the same holdout and applies the gate. */
export function createValidateModel(deps: ActivityDeps) {
  return async function validateModel(input: ValidateInput): Promise<ValidateResult> {
    await selectBackend(deps.backend);
    const gate = input.gate ?? (await loadSpecOrFail(deps.registry, input.model)).gate;
    const manifest = await loadManifest(deps.store, input.datasetKey);
    const pre = manifest.preprocessing;
    const { holdout } = await loadDataset(deps.store, manifest);
    const score = (predicted: ArrayLike<number>) =>
      pre.task === 'forecast'
        ? forecastMetrics(holdout.yRaw, predicted)
        : classifyMetrics(holdout.yRaw, predicted);

    const candidate = score(await predictRaw(deps, input.candidateKey, holdout, pre, pre));
    const baselines = Object.fromEntries(
      Object.entries(naiveBaselines(holdout, pre)).map(([name, { predicted, coverage }]) => [
        name,
        { ...score(predicted), ...(coverage === undefined ? {} : { coverage }) },
      ]),
    );
    const { production, skipped } = await scoreProduction(deps, input.model, holdout, pre, score);
    return {
      ...decide(candidate, baselines, production, pre.task, gate, skipped),
      gate,
      candidate,
      baselines,
      ...(production ? { production } : {}),
    };
  };
}

/** Pure gate decision, so it can be tested on constructed figures; the reason carries the figures that decided. */
export function decide(
  candidate: MetricSet,
  baselines: Record<string, MetricSet>,
  production: ValidateResult['production'],
  task: Preprocessing['task'],
  gate: Gate,
  /** Why there is no production figure; a production model that cannot be scored is said, not hidden. */
  noProduction = 'no production model yet',
): Pick<ValidateResult, 'passed' | 'reason' | 'metric' | 'decision'> {
  const { name, lowerIsBetter } = gateMetric(task);
  const better = (a: number, b: number) => (lowerIsBetter ? a < b : a > b);
  const value = candidate[name] as number;
  const fmt = (v: number) => v.toFixed(4);
  const figures = Object.entries(baselines)
    .map(([baseline, m]) => {
      const coverage = m.coverage === undefined ? '' : ` (coverage ${(m.coverage * 100).toFixed(1)}%)`;
      return `${baseline} ${fmt(m[name] as number)}${coverage}`;
    })
    .join(', ');
  const context = `baselines ${name}: ${figures || 'none'}`;
  const result = (passed: boolean, reason: string, decision: Omit<GateDecision, 'candidate'>) => ({
    passed,
    reason: `${reason}; ${context}`,
    metric: name,
    decision: { candidate: value, ...decision },
  });
  if (!Number.isFinite(value)) return result(false, `candidate ${name} is not finite`, { by: 'notFinite' });
  let beaten: Omit<GateDecision, 'candidate'> = { by: 'noProduction' };
  if (gate.mustBeatBaseline) {
    const scored = Object.entries(baselines).filter(([, m]) => Number.isFinite(m[name]));
    const best = scored.reduce<[string, MetricSet] | undefined>(
      (top, entry) => (!top || better(entry[1][name] as number, top[1][name] as number) ? entry : top),
      undefined,
    );
    if (best && !better(value, best[1][name] as number)) {
      return result(
        false,
        `candidate ${name} ${fmt(value)} does not beat the ${best[0]} baseline (${fmt(best[1][name] as number)}), the best naive one`,
        { by: 'baseline', against: best[0], reference: best[1][name] as number },
      );
    }
    if (best) beaten = { by: 'baseline', against: best[0], reference: best[1][name] as number };
  }
  if (production) {
    const p = production.metrics[name] as number;
    const limit = lowerIsBetter ? p * (1 + gate.tolerance) : p * (1 - gate.tolerance);
    const tolerance = `${Number((gate.tolerance * 100).toFixed(2))}%`;
    if (better(limit, value)) {
      return result(
        false,
        `candidate ${name} ${fmt(value)} is worse than production ${production.version} (${fmt(p)}) beyond the ${tolerance} tolerance (limit ${fmt(limit)})`,
        { by: 'production', against: production.version, reference: p, limit },
      );
    }
    return result(
      true,
      `candidate ${name} ${fmt(value)} vs production ${production.version} ${fmt(p)}: within the ${tolerance} tolerance (limit ${fmt(limit)})`,
      { by: 'production', against: production.version, reference: p, limit },
    );
  }
  return result(true, `candidate ${name} ${fmt(value)} passes; ${noProduction}`, beaten);
}

/** Predictions in the target's own units (probabilities for classifiers), in chunks that bound memory. */
async function predictRaw(
  deps: ActivityDeps,
  prefix: string,
  holdout: LoadedSplit,
  datasetPre: Preprocessing,
  modelPre: Preprocessing,
): Promise<Float32Array> {
  const model = await tf.loadLayersModel(storeLoadHandler(deps.store, prefix));
  try {
    const { rows, width } = holdout.data;
    const predicted = new Float32Array(rows);
    for (let from = 0; from < rows; from += PREDICT_CHUNK) {
      const size = Math.min(PREDICT_CHUNK, rows - from);
      const x = new Float32Array(size * width);
      holdout.data.gatherX(undefined, from, size, x);
      renormalise(x, width, datasetPre, modelPre);
      const out = tf.tidy(() =>
        (model.predict(tf.tensor2d(x, [size, width]), { batchSize: PREDICT_CHUNK }) as tf.Tensor).dataSync(),
      );
      for (let i = 0; i < size; i++)
        predicted[from + i] = (out[i] as number) * modelPre.targetStd + modelPre.targetMean;
    }
    return predicted;
  } finally {
    model.dispose();
  }
}

/** Samples per predict call and per batch (tfjs would otherwise cut each call into batches of 32). */
const PREDICT_CHUNK = 4096;

/** Re-expresses, in place, inputs normalised with one model's statistics in another's. */
function renormalise(x: Float32Array, width: number, from: Preprocessing, to: Preprocessing): void {
  if (from === to) return;
  const nf = from.features.length;
  for (let i = 0; i < x.length; i++) {
    const f = (i % width) % nf;
    x[i] =
      ((x[i] as number) * (from.std[f] as number) + (from.mean[f] as number) - (to.mean[f] as number)) /
      (to.std[f] as number);
  }
}

/** A naive baseline's predictions; `coverage` is the share of rows it could predict without its fallback. */
interface Baseline {
  predicted: ArrayLike<number>;
  coverage?: number;
}

/**
 * Naive predictions on the holdout, in the target's units (0/1 for classifiers: value > threshold):
 * - `lastValue`: the target's latest value (when the target is also a feature);
 * - `sameHourDayBefore`: the target 24 h before the target time, for the same entity. Where that hour
 *   is missing from the buffer it falls back to the last value (or the constant when the target is
 *   not a feature); `coverage` says on which share of rows it did not need to;
 * - `constant`: the train mean for forecasts, the majority (negative) class for classifiers.
 */
export function naiveBaselines(holdout: LoadedSplit, pre: Preprocessing): Record<string, Baseline> {
  const rows = holdout.data.rows;
  const constant = pre.task === 'forecast' ? pre.targetMean : 0;
  const asTask = (v: number) => (pre.task === 'forecast' ? v : v > (pre.threshold ?? 0) ? 1 : 0);
  const baselines: Record<string, Baseline> = {};
  const targetIndex = pre.features.indexOf(pre.target);
  const last = targetIndex >= 0 ? (holdout.lastValues[targetIndex] as Float64Array) : undefined;
  if (last) baselines.lastValue = { predicted: Float64Array.from(last, asTask) };
  const dayBefore = new Float64Array(rows);
  let covered = 0;
  for (let i = 0; i < rows; i++) {
    const v = holdout.dayBefore[i] as number;
    if (Number.isFinite(v)) {
      covered++;
      dayBefore[i] = asTask(v);
    } else dayBefore[i] = last ? asTask(last[i] as number) : constant;
  }
  baselines.sameHourDayBefore = { predicted: dayBefore, coverage: rows ? covered / rows : 0 };
  baselines.constant = { predicted: new Float64Array(rows).fill(constant) };
  return baselines;
}

async function scoreProduction(
  deps: ActivityDeps,
  model: string,
  holdout: LoadedSplit,
  pre: Preprocessing,
  score: (p: ArrayLike<number>) => MetricSet,
): Promise<{ production?: ValidateResult['production']; skipped?: string }> {
  const alias = await deps.registry.getAlias(model);
  if (!alias) return {};
  const { version } = alias.value;
  const meta = await deps.registry.getMetadata(model, version);
  if (!meta) return { skipped: `production ${version} not compared: it has no metadata` };
  const theirs = `${meta.preprocessing.features.join(',')} x ${meta.preprocessing.lookback}`;
  const ours = `${pre.features.join(',')} x ${pre.lookback}`;
  if (theirs !== ours)
    return {
      skipped: `production ${version} not compared: its inputs (${theirs}) differ from the candidate's (${ours})`,
    };
  const predictions = await predictRaw(
    deps,
    deps.registry.versionPrefix(model, version),
    holdout,
    pre,
    meta.preprocessing,
  );
  return { production: { version, metrics: score(predictions) } };
}
