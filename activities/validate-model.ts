import type { EntityFigures, Preprocessing } from '../common/artefacts';
import { lowerIsBetter, resolveGateMetric, type Gate } from '../common/model-spec';
import type { GateDecision, MetricSet, ValidateInput, ValidateResult } from '../common/stages';
import { selectBackend } from '../ml/backend';
import { forecastMetrics, perSeries } from '../ml/metrics';
import { tabularBaselines, tabularMetrics, type SplitPredictions } from '../ml/tabular';
import { loadStoredModel, predictSplitWith, type ModelFormat } from '../ml/loaded-model';
import { candidatePreprocessing, saveEntityFigures } from '../datasets/candidate-files';
import { loadManifest, openDataset, type LoadedSplit, type OpenDataset } from '../datasets/dataset-io';
import type { ActivityDeps } from './deps';
import { loadSpecOrFail } from './load-spec';

/**
 * Scores candidate, production and naive baselines on the same holdout and applies the gate. Each
 * model reads the holdout under its own preprocessing; per-entity figures go beside the candidate
 * (for its metadata), not into the workflow history.
 */
export function createValidateModel(deps: ActivityDeps) {
  return async function validateModel(input: ValidateInput): Promise<ValidateResult> {
    await selectBackend(deps.backend);
    const gate = input.gate ?? (await loadSpecOrFail(deps.registry, input.model)).gate;
    const manifest = await loadManifest(deps.store, input.datasetKey);
    const dataset = await openDataset(deps.store, manifest);
    const candidatePre = await candidatePreprocessing(deps.store, input.candidateKey, manifest);
    const { train, holdout } = dataset.splits(candidatePre);
    const scorer = holdoutScorer(holdout, candidatePre.task);
    const metric = resolveGateMetric(gate.metric, candidatePre.task, scorer.entities);

    const candidatePredicted = await predictWith(deps, input.candidateKey, holdout, {
      multiClass: candidatePre.classes !== undefined,
    });
    const candidate = scorer.score(candidatePredicted.values, candidatePredicted.width);
    const naive =
      manifest.preprocessing.horizon === 0
        ? tabularNaive(train, holdout, manifest.preprocessing)
        : naiveBaselines(holdout, manifest.preprocessing);
    const baselines = Object.fromEntries(
      Object.entries(naive).map(([name, { predicted, width, coverage }]) => [
        name,
        { ...scorer.score(predicted, width), ...(coverage === undefined ? {} : { coverage }) },
      ]),
    );
    const { production, skipped } = await scoreProduction(deps, input.model, dataset, candidatePre, scorer);
    if (candidatePre.task === 'forecast') {
      const figures = scorer.perEntity(candidatePredicted.values, naive);
      await saveEntityFigures(deps.store, input.candidateKey, figures);
    }
    return {
      ...decide(candidate, baselines, production, metric, gate, skipped),
      gate,
      candidate,
      baselines,
      ...(production ? { production } : {}),
    };
  };
}

/**
 * How predictions on one holdout are scored: overall, and (forecasts) per entity. `width` is the
 * values per sample: k class probabilities of a multi-class classifier, else 1.
 */
export function holdoutScorer(holdout: LoadedSplit, task: Preprocessing['task']) {
  const present = new Set(holdout.entity);
  const series = { entity: holdout.entity, naiveScale: holdout.naiveScale };
  return {
    /** Distinct entities in the holdout. */
    entities: present.size,
    score: (predicted: ArrayLike<number>, width = 1): MetricSet =>
      task === 'forecast'
        ? forecastMetrics(holdout.yRaw, predicted, series)
        : tabularMetrics(holdout, task, { values: predicted, width }),
    perEntity: (
      candidate: ArrayLike<number>,
      naive: Record<string, Baseline>,
    ): Record<string, EntityFigures> => {
      const own = perSeries(holdout.yRaw, candidate, series);
      const theirs = Object.entries(naive).map(
        ([name, b]) => [name, perSeries(holdout.yRaw, b.predicted, series)] as const,
      );
      const figures: Record<string, EntityFigures> = {};
      for (const e of [...present].sort((a, b) => a - b)) {
        const { samples, ...candidateFigures } = own[e] as ReturnType<typeof perSeries>[number];
        figures[holdout.names[e] as string] = {
          samples,
          candidate: candidateFigures,
          baselines: Object.fromEntries(
            theirs.map(([name, m]) => {
              const { samples: _, ...rest } = m[e] as ReturnType<typeof perSeries>[number];
              return [name, rest];
            }),
          ),
        };
      }
      return figures;
    },
  };
}

/** Pure gate decision, so it can be tested on constructed figures; the reason carries the figures that decided. */
export function decide(
  candidate: MetricSet,
  baselines: Record<string, MetricSet>,
  production: ValidateResult['production'],
  name: string,
  gate: Gate,
  /** Why there is no production figure; a production model that cannot be scored is said, not hidden. */
  noProduction = 'no production model yet',
): Pick<ValidateResult, 'passed' | 'reason' | 'metric' | 'decision'> {
  const lower = lowerIsBetter(name);
  const better = (a: number, b: number) => (lower ? a < b : a > b);
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
    const limit = lower ? p * (1 + gate.tolerance) : p * (1 - gate.tolerance);
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

/**
 * A stored model's predictions for `split` (built under that model's preprocessing): one value per
 * sample (`width` 1), or k class probabilities per sample for a multi-class classifier.
 */
async function predictWith(
  deps: ActivityDeps,
  prefix: string,
  split: LoadedSplit,
  /** The model's format (absent: by the files under `prefix`) and whether it answers every class. */
  options: { format?: ModelFormat | undefined; multiClass?: boolean } = {},
): Promise<SplitPredictions> {
  const model = await loadStoredModel(deps.store, prefix, options);
  try {
    return await predictSplitWith(model, split);
  } finally {
    model.dispose();
  }
}

/**
 * A naive baseline's predictions (`width` values per sample, 1 unless class probabilities);
 * `coverage` is the share of rows it could predict without its fallback.
 */
export interface Baseline {
  predicted: ArrayLike<number>;
  width?: number;
  coverage?: number;
}

/** The baselines of a tabular model (see {@link tabularBaselines}) as the gate takes them. */
function tabularNaive(
  train: LoadedSplit,
  holdout: LoadedSplit,
  pre: Preprocessing,
): Record<string, Baseline> {
  return Object.fromEntries(
    Object.entries(tabularBaselines(train, holdout, pre)).map(([name, b]) => [
      name,
      { predicted: b.values, width: b.width },
    ]),
  );
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
  const targetIndex = pre.target === undefined ? -1 : pre.features.indexOf(pre.target);
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

/**
 * Production's figures on the same holdout, read under production's own preprocessing; skipped (and
 * said why) when its inputs are not the candidate's shape: other features, lookback, horizon or frequency.
 */
async function scoreProduction(
  deps: ActivityDeps,
  model: string,
  dataset: OpenDataset,
  pre: Preprocessing,
  scorer: ReturnType<typeof holdoutScorer>,
): Promise<{ production?: ValidateResult['production']; skipped?: string }> {
  const alias = await deps.registry.getAlias(model);
  if (!alias) return {};
  const { version } = alias.value;
  const meta = await deps.registry.getMetadata(model, version);
  if (!meta) return { skipped: `production ${version} not compared: it has no metadata` };
  const shapeOf = (p: Preprocessing) =>
    `${p.features.join(',')} x ${p.lookback}, horizon ${p.horizon}${p.frequency ? ` of ${p.frequency}` : ''}${p.classes ? `, classes ${p.classes.join('|')}` : ''}`;
  const theirs = shapeOf(meta.preprocessing);
  const ours = shapeOf(pre);
  if (theirs !== ours)
    return {
      skipped: `production ${version} not compared: its inputs (${theirs}) differ from the candidate's (${ours})`,
    };
  const { holdout } = dataset.splits(meta.preprocessing);
  const predictions = await predictWith(deps, deps.registry.versionPrefix(model, version), holdout, {
    format: meta.format ?? 'tfjs',
    multiClass: meta.preprocessing.classes !== undefined,
  });
  return { production: { version, metrics: scorer.score(predictions.values, predictions.width) } };
}
