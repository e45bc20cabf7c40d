import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import * as tf from '@tensorflow/tfjs';
import { ErrorType, RetryableErrorType } from '../common/errors';
import { checkpointPrefix } from '../common/artefacts';
import { WorkerMetric } from '../common/metric-names';
import { TrainHeartbeatSchema, type TrainHeartbeat } from '../common/heartbeat';
import type { Preprocessing } from '../common/artefacts';
import { stepWidth } from '../common/model-inputs';
import {
  architectureIssue,
  inputOptions,
  inputOptionsIssue,
  resolveGateMetric,
  type GateMetric,
  type Hyperparams,
  type Task,
} from '../common/model-spec';
import { describeWarmStart, type TrainInput, type TrainResult } from '../common/stages';
import { selectBackend } from '../ml/backend';
import { checkpointKey, loadCheckpoint, saveCheckpoint, type CheckpointMeta } from '../ml/checkpoint';
import { createModel, disposeModel, lossFunction, positiveWeight, type ModelShape } from '../ml/model';
import { predictSplitWith, tfjsModel } from '../ml/loaded-model';
import { storeLoadHandler, storeSaveHandler } from '../ml/store-io';
import { fitPreprocessing } from '../ml/windows';
import {
  DivergedError,
  fitModel,
  START,
  type BatchStats,
  type EpochStats,
  type TrainPosition,
} from '../ml/train';
import { saveCandidatePreprocessing } from '../datasets/candidate-files';
import { loadManifest, openDataset, type LoadedSplit } from '../datasets/dataset-io';
import { holdoutScorer } from './validate-model';
import type { ActivityDeps } from './deps';

/** How often the activity heartbeats, whatever it is doing; the SDK throttles what it sends. */
const HEARTBEAT_EVERY_MS = 1000;

/**
 * Trains a candidate on the gpu task queue: heartbeats progress every second, checkpoints weights
 * and optimiser state every epoch, resumes exactly from the checkpoint in the last heartbeat, and
 * on cancellation stops within a batch, checkpoints and rethrows (a worker shutdown becomes a
 * retryable failure so another gpu worker resumes from that checkpoint).
 */
export function createTrainModel(deps: ActivityDeps) {
  return async function trainModel(input: TrainInput): Promise<TrainResult> {
    const ctx = Context.current();
    // Until training has its own state, re-send what a retry would resume from: slow loading then
    // neither times the heartbeat out nor erases the checkpoint it names.
    let details = (): unknown => ctx.info.heartbeatDetails;
    const timer = setInterval(() => ctx.heartbeat(details()), HEARTBEAT_EVERY_MS);
    try {
      return await train(deps, ctx, input, (current) => {
        details = current;
        ctx.heartbeat(current());
      });
    } finally {
      clearInterval(timer);
    }
  };
}

/** The data, preprocessing and shape a training run works on, checked before any work is done. */
async function prepareTraining(deps: ActivityDeps, input: TrainInput) {
  const hp = input.hyperparams;
  const manifest = await loadManifest(deps.store, input.datasetKey);
  const pre = manifest.preprocessing;
  const issue = architectureIssue(pre.task, hp.architecture) ?? inputOptionsIssue(pre, hp)?.message;
  if (issue) throw ApplicationFailure.nonRetryable(`Invalid hyperparams: ${issue}`, ErrorType.InvalidInput);
  const dataset = await openDataset(deps.store, manifest);
  const modelPre = fitPreprocessing(dataset.rows, dataset.index, dataset.rule, pre, inputOptions(pre, hp));
  const { train, holdout } = dataset.splits(modelPre);
  const shape: ModelShape = { task: pre.task, lookback: pre.lookback, features: stepWidth(modelPre) };
  return { hp, pre, modelPre, train, holdout, shape };
}

/** The worker's training gauges (Prometheus through the SDK's meter). */
function trainingGauges(ctx: Context) {
  return {
    samplesPerSecond: ctx.metricMeter.createGauge(
      WorkerMetric.trainingSamplesPerSecond,
      'float',
      undefined,
      'Training throughput, samples per second.',
    ),
    epoch: ctx.metricMeter.createGauge(
      WorkerMetric.trainingEpoch,
      'int',
      undefined,
      'The last epoch training finished.',
    ),
  };
}

/** The first heartbeat of a training that starts (or resumes) at `started`. */
function initialHeartbeat(
  input: TrainInput,
  started: StartingPoint,
  batches: number,
  backend: TrainHeartbeat['backend'],
): TrainHeartbeat {
  const { position, last } = started;
  return {
    epoch: position.epoch,
    totalEpochs: input.epochs,
    batch: position.batch,
    batches,
    pct: pctOf(position.epoch, position.batch, batches, input.epochs),
    loss: last?.loss ?? null,
    valLoss: last?.valLoss ?? null,
    samplesPerSec: null,
    backend,
    ...(input.trial === undefined ? {} : { trial: input.trial }),
    checkpoint: started.checkpoint,
  };
}

/** The training itself; `heartbeat` sends a details snapshot now and makes it the 1 s timer's. */
async function train(
  deps: ActivityDeps,
  ctx: Context,
  input: TrainInput,
  heartbeat: (details: () => TrainHeartbeat) => void,
): Promise<TrainResult> {
  const backend = await selectBackend(deps.backend, (line) => ctx.log.info(line));
  const { hp, pre, modelPre, train, holdout, shape } = await prepareTraining(deps, input);
  const prefix = checkpointPrefix(input.model, input.workflowId, input.trial);
  const fingerprint = trainingFingerprint(input);
  const started = await startingPoint(deps, input, shape, modelPre, fingerprint);
  const { model, warmStart } = started;
  let { position, best, last } = started;
  const batches = Math.ceil(train.data.rows / hp.batchSize);
  const state = initialHeartbeat(input, started, batches, backend);
  // Copies: the SDK encodes details later, and `state` keeps changing.
  const beat = () => heartbeat(() => ({ ...state }));
  const tags = { model: input.model };
  const gauges = trainingGauges(ctx);
  beat();

  const checkpoint = async (at: TrainPosition): Promise<void> => {
    const key = checkpointKey(prefix, at);
    await saveCheckpoint(deps.store, key, model, {
      position: at,
      fingerprint,
      warmStart,
      best,
      last,
      backend,
    });
    state.checkpoint = { epoch: at.epoch, batch: at.batch, key };
    beat();
  };

  try {
    const fit = await fitModel(model, train.data, holdout.data, {
      epochs: input.epochs,
      batchSize: hp.batchSize,
      seed: hp.seed,
      loss: trainingLoss(shape.task, hp, train.data.y),
      start: position,
      signal: ctx.cancellationSignal,
      progressEveryMs: 100,
      onProgress: (stats) => {
        trackProgress(state, stats, input.epochs);
        if (Number.isFinite(stats.samplesPerSec)) gauges.samplesPerSecond.set(stats.samplesPerSec, tags);
      },
      onEpoch: async (stats, at) => {
        last = stats;
        if (Number.isFinite(stats.samplesPerSec)) gauges.samplesPerSecond.set(stats.samplesPerSec, tags);
        gauges.epoch.set(stats.epoch, tags);
        best = bestOf(best, stats);
        Object.assign(state, { ...stats, batch: 0, pct: pctOf(stats.epoch, 0, batches, input.epochs) });
        await checkpoint(at);
        await reportEpoch(deps, ctx, input, stats);
      },
    });
    position = fit.position;
    if (fit.stopped) {
      // A failed save must not turn a cancellation into a failure: the last epoch's checkpoint stays.
      await checkpoint(position).catch((err: unknown) =>
        ctx.log.warn(`checkpoint on cancellation failed: ${String(err)}`),
      );
      throw stopFailure(ctx, state.checkpoint?.key ?? 'none');
    }
    const candidateKey = `${prefix}/final`;
    await model.save(storeSaveHandler(deps.store, candidateKey));
    await saveCandidatePreprocessing(deps.store, candidateKey, modelPre);
    return {
      ...(await holdoutScore(model, holdout, pre.task, input.gateMetric)),
      ...trainedFigures(last, best),
      candidateKey,
      backend,
      epochs: input.epochs,
      warmStart,
      ...(started.resumedFrom ? { resumedFrom: started.resumedFrom } : {}),
    };
  } catch (err) {
    throw err instanceof DivergedError ? divergedFailure(err) : err;
  } finally {
    disposeModel(model);
  }
}

/** The training loss of `task`, with the positive class weighted for a classifier. */
function trainingLoss(task: ModelShape['task'], hp: TrainInput['hyperparams'], y: Float32Array) {
  return lossFunction(task, hp.loss, task === 'classify' ? positiveWeight(y, hp.classWeight) : 1);
}

/** Tells the run about a finished epoch (its loss curve); a lost signal costs a point, not the training. */
async function reportEpoch(
  deps: ActivityDeps,
  ctx: Context,
  input: TrainInput,
  stats: EpochStats,
): Promise<void> {
  await deps
    .reportEpoch?.(input.workflowId, {
      ...stats,
      totalEpochs: input.epochs,
      ...(input.trial === undefined ? {} : { trial: input.trial }),
    })
    .catch((err: unknown) => ctx.log.warn(`progress signal failed: ${String(err)}`));
}

/** The loss figures of a finished training. */
function trainedFigures(last: StartingPoint['last'], best: StartingPoint['best']) {
  return {
    loss: last?.loss ?? Number.NaN,
    valLoss: last?.valLoss ?? null,
    bestValLoss: best?.valLoss ?? null,
    bestEpoch: best?.epoch ?? null,
    samplesPerSec: last?.samplesPerSec ?? 0,
  };
}

/** The best epoch so far by validation loss. */
function bestOf(best: StartingPoint['best'], stats: EpochStats): StartingPoint['best'] {
  return stats.valLoss !== null && (best === null || stats.valLoss < best.valLoss)
    ? { epoch: stats.epoch, valLoss: stats.valLoss }
    : best;
}

/** Divergence is the data's or the learning rate's doing: retrying cannot help. */
function divergedFailure(err: DivergedError): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `Training diverged: ${err.message}; lower the learning rate or check the data for extreme values`,
    ErrorType.TrainingDiverged,
  );
}

interface StartingPoint {
  model: tf.LayersModel;
  position: TrainPosition;
  warmStart: TrainResult['warmStart'];
  best: CheckpointMeta['best'];
  last: CheckpointMeta['last'];
  checkpoint: TrainHeartbeat['checkpoint'];
  resumedFrom?: string;
}

/**
 * The model's figure on the holdout under the gate's metric, as validation figures it (forecasts and
 * regressions in the target's units, a classifier's probabilities at their own width): trials of
 * other normalisations or targets have validation losses on other scales, so they are ranked by it.
 */
async function holdoutScore(
  model: tf.LayersModel,
  holdout: LoadedSplit,
  task: Task,
  metric: GateMetric | undefined,
): Promise<Pick<TrainResult, 'holdoutScore'>> {
  if (holdout.data.rows === 0) return {};
  const scorer = holdoutScorer(holdout, task);
  const name = resolveGateMetric(metric, task, scorer.entities);
  // Not disposed here: the model is the caller's.
  const predicted = await predictSplitWith(tfjsModel(model), holdout);
  const value = scorer.score(predicted.values, predicted.width)[name];
  return value === undefined || !Number.isFinite(value) ? {} : { holdoutScore: { metric: name, value } };
}

/** The checkpoint named by the last heartbeat when it belongs to this training; else a new model. */
async function startingPoint(
  deps: ActivityDeps,
  input: TrainInput,
  shape: ModelShape,
  pre: Preprocessing,
  fingerprint: string,
): Promise<StartingPoint> {
  const ctx = Context.current();
  const resume = TrainHeartbeatSchema.safeParse(ctx.info.heartbeatDetails);
  const saved = resume.success ? resume.data.checkpoint : null;
  if (saved) {
    try {
      const { model, meta } = await loadCheckpoint(deps.store, saved.key);
      if (meta.fingerprint === fingerprint) {
        ctx.log.info(`resuming ${input.model} from ${saved.key}`);
        return { model, ...meta, checkpoint: saved, resumedFrom: saved.key };
      }
      disposeModel(model);
      ctx.log.warn(`checkpoint ${saved.key} belongs to other inputs; training from the start`);
    } catch (err) {
      ctx.log.warn(`cannot resume from ${saved.key}: ${String(err)}; training from the start`);
    }
  }
  const model = createModel(shape, input.hyperparams);
  const warmStart = input.incremental
    ? await warmStartFromProduction(deps, input.model, model, input.hyperparams, pre).catch(
        (err: unknown) => {
          disposeModel(model);
          throw err;
        },
      )
    : { skipped: 'incremental: false' };
  // A warm start asked for and not taken is worth a warning: the run trains from scratch.
  if ('from' in warmStart || !input.incremental) ctx.log.info(describeWarmStart(warmStart));
  else ctx.log.warn(`incremental asked, ${describeWarmStart(warmStart)}`);
  return { model, position: { ...START }, warmStart, best: null, last: null, checkpoint: null };
}

/** The error a stopped training leaves with: the cancellation itself, or a retryable one on shutdown. */
function stopFailure(ctx: Context, key: string): Error {
  const reason: unknown = ctx.cancellationSignal.reason;
  const shutdown =
    ctx.cancellationDetails?.workerShutdown === true ||
    (reason instanceof CancelledFailure && reason.message === 'WORKER_SHUTDOWN');
  if (shutdown) {
    return ApplicationFailure.retryable(
      `Training interrupted by worker shutdown; checkpoint ${key} is in the last heartbeat and a retry resumes from it`,
      RetryableErrorType.TrainingInterrupted,
    );
  }
  return reason instanceof Error ? reason : new CancelledFailure(String(reason ?? 'CANCELLED'));
}

/** The heartbeat state update after a progress report; exported for bench/train's overhead figure. */
export function trackProgress(state: TrainHeartbeat, stats: BatchStats, totalEpochs: number): void {
  state.batch = stats.batch;
  state.batches = stats.batches;
  state.loss = stats.loss;
  state.samplesPerSec = stats.samplesPerSec;
  state.pct = pctOf(stats.epoch - 1, stats.batch, stats.batches, totalEpochs);
}

function pctOf(epochsDone: number, batch: number, batches: number, totalEpochs: number): number {
  return (100 * (epochsDone + batch / Math.max(1, batches))) / Math.max(1, totalEpochs);
}

/** Identifies the inputs that decide the trained weights; a checkpoint is reused only under the same. */
function trainingFingerprint(input: TrainInput): string {
  const hp = Object.entries(input.hyperparams).sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify({
    dataset: input.datasetKey,
    epochs: input.epochs,
    hp,
    incremental: input.incremental,
  });
}

/** Copies production's weights into `model` when architecture and layer shapes match; says why not otherwise. */
async function warmStartFromProduction(
  deps: ActivityDeps,
  modelName: string,
  model: tf.LayersModel,
  hp: Hyperparams,
  pre: Preprocessing,
): Promise<TrainResult['warmStart']> {
  const alias = await deps.registry.getAlias(modelName);
  if (!alias) return { skipped: 'no production version yet' };
  const { version } = alias.value;
  const meta = await deps.registry.getMetadata(modelName, version);
  if (!meta) return { skipped: `production version ${version} has no metadata` };
  const theirs = meta.hyperparams;
  if (theirs.architecture !== hp.architecture || theirs.hiddenUnits !== hp.hiddenUnits) {
    return {
      skipped: `architecture differs from production ${version} (${theirs.architecture}/${theirs.hiddenUnits} units vs ${hp.architecture}/${hp.hiddenUnits})`,
    };
  }
  const optionsOf = (p: Preprocessing) =>
    `${p.normalisation ?? 'global'} normalisation, ${p.targetTransform ?? 'level'} target, calendar [${(p.calendar ?? []).join(', ')}]`;
  if (optionsOf(meta.preprocessing) !== optionsOf(pre)) {
    return {
      skipped: `inputs differ from production ${version} (${optionsOf(meta.preprocessing)} vs ${optionsOf(pre)})`,
    };
  }
  const production = await tf.loadLayersModel(
    storeLoadHandler(deps.store, deps.registry.versionPrefix(modelName, version)),
  );
  try {
    const weights = production.getWeights();
    const own = model.getWeights();
    const same =
      weights.length === own.length && weights.every((w, i) => w.shape.join() === own[i]?.shape.join());
    if (!same) return { skipped: `input or layer shapes differ from production ${version}` };
    model.setWeights(weights);
    return { from: version };
  } finally {
    production.dispose();
  }
}
