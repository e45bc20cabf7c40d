import * as tf from '@tensorflow/tfjs';
import type { Preprocessing } from '../common/artefacts';
import type { Gate } from '../common/model-spec';
import type { MetricSet, ValidateInput, ValidateResult } from '../common/stages';
import { selectBackend } from '../ml/backend';
import { classifyMetrics, forecastMetrics } from '../ml/metrics';
import { storeLoadHandler } from '../ml/store-io';
import { loadManifest, loadSplit, type LoadedSplit } from './dataset-io';
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
    const spec = await loadSpecOrFail(deps.registry, input.model);
    const manifest = await loadManifest(deps.store, input.datasetKey);
    const pre = manifest.preprocessing;
    const holdout = await loadSplit(deps.store, manifest, 'holdout');
    const score = (predicted: ArrayLike<number>) =>
      pre.task === 'forecast'
        ? forecastMetrics(holdout.yRaw, predicted)
        : classifyMetrics(holdout.yRaw, predicted);

    const candidate = score(await predictRaw(deps, input.candidateKey, holdout, pre, pre));
    const baselines = Object.fromEntries(
      Object.entries(naiveBaselines(holdout, pre)).map(([name, p]) => [name, score(p)]),
    );
    const production = await scoreProduction(deps, input.model, holdout, pre, score);
    return {
      ...decide(candidate, baselines, production, pre.task, spec.gate),
      candidate,
      baselines,
      ...(production ? { production } : {}),
    };
  };
}

/** Pure gate decision, so it can be tested on constructed figures. */
export function decide(
  candidate: MetricSet,
  baselines: Record<string, MetricSet>,
  production: ValidateResult['production'],
  task: Preprocessing['task'],
  gate: Gate,
): { passed: boolean; reason: string; metric: string } {
  const { name, lowerIsBetter } = gateMetric(task);
  const better = (a: number, b: number) => (lowerIsBetter ? a < b : a > b);
  const value = candidate[name] as number;
  const fmt = (v: number) => v.toFixed(4);
  if (!Number.isFinite(value))
    return { passed: false, reason: `candidate ${name} is not finite`, metric: name };
  if (gate.mustBeatBaseline) {
    for (const [baseline, metrics] of Object.entries(baselines)) {
      const b = metrics[name] as number;
      if (!better(value, b)) {
        return {
          passed: false,
          reason: `candidate ${name} ${fmt(value)} does not beat the ${baseline} baseline (${fmt(b)})`,
          metric: name,
        };
      }
    }
  }
  if (production) {
    const p = production.metrics[name] as number;
    const limit = lowerIsBetter ? p * (1 + gate.tolerance) : p * (1 - gate.tolerance);
    if (better(limit, value)) {
      return {
        passed: false,
        reason: `candidate ${name} ${fmt(value)} is worse than production ${production.version} (${fmt(p)}) beyond the ${gate.tolerance * 100}% tolerance`,
        metric: name,
      };
    }
    return {
      passed: true,
      reason: `candidate ${name} ${fmt(value)} vs production ${production.version} ${fmt(p)} and naive baselines`,
      metric: name,
    };
  }
  return {
    passed: true,
    reason: `candidate ${name} ${fmt(value)} beats the naive baselines; no production model yet`,
    metric: name,
  };
}

/** Predictions in the target's own units (probabilities for classifiers). */
async function predictRaw(
  deps: ActivityDeps,
  prefix: string,
  holdout: LoadedSplit,
  datasetPre: Preprocessing,
  modelPre: Preprocessing,
): Promise<Float32Array> {
  const model = await tf.loadLayersModel(storeLoadHandler(deps.store, prefix));
  try {
    const x = renormalise(holdout, datasetPre, modelPre);
    const out = tf.tidy(() =>
      (
        model.predict(tf.tensor2d(x, [holdout.data.rows, holdout.data.width]), {
          batchSize: 4096,
        }) as tf.Tensor
      ).dataSync(),
    );
    return Float32Array.from(out, (v) => v * modelPre.targetStd + modelPre.targetMean);
  } finally {
    model.dispose();
  }
}

/** Re-expresses inputs normalised with one model's statistics in another's. */
function renormalise(split: LoadedSplit, from: Preprocessing, to: Preprocessing): Float32Array {
  if (from === to) return split.data.x;
  const { x, width } = split.data;
  const out = new Float32Array(x.length);
  const nf = from.features.length;
  for (let i = 0; i < x.length; i++) {
    const f = (i % width) % nf;
    out[i] =
      ((x[i] as number) * (from.std[f] as number) + (from.mean[f] as number) - (to.mean[f] as number)) /
      (to.std[f] as number);
  }
  return out;
}

function naiveBaselines(holdout: LoadedSplit, pre: Preprocessing): Record<string, ArrayLike<number>> {
  const rows = holdout.data.rows;
  const baselines: Record<string, ArrayLike<number>> = {};
  const targetIndex = pre.features.indexOf(pre.target);
  if (targetIndex >= 0) {
    const last = holdout.lastValues[targetIndex] as Float64Array;
    baselines.lastValue =
      pre.task === 'forecast' ? last : Float64Array.from(last, (v) => (v > (pre.threshold ?? 0) ? 1 : 0));
  }
  // Train mean for forecasts, the majority class for classifiers.
  baselines.constant = new Float64Array(rows).fill(pre.task === 'forecast' ? pre.targetMean : 0);
  return baselines;
}

async function scoreProduction(
  deps: ActivityDeps,
  model: string,
  holdout: LoadedSplit,
  pre: Preprocessing,
  score: (p: ArrayLike<number>) => MetricSet,
): Promise<ValidateResult['production']> {
  const alias = await deps.registry.getAlias(model);
  if (!alias) return undefined;
  const meta = await deps.registry.getMetadata(model, alias.value.version);
  const same =
    meta &&
    meta.preprocessing.lookback === pre.lookback &&
    meta.preprocessing.features.join() === pre.features.join();
  if (!meta || !same) return undefined;
  const predictions = await predictRaw(
    deps,
    deps.registry.versionPrefix(model, alias.value.version),
    holdout,
    pre,
    meta.preprocessing,
  );
  return { version: alias.value.version, metrics: score(predictions) };
}
