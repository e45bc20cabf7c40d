import { ApplicationFailure, Context } from '@temporalio/activity';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ErrorType } from '../common/errors';
import type { Hyperparams } from '../common/model-spec';
import type { TrainInput, TrainResult } from '../common/stages';
import { selectBackend } from '../ml/backend';
import { compileModel, createModel, type ModelShape } from '../ml/model';
import { storeLoadHandler, storeSaveHandler } from '../ml/store-io';
import { DivergedError, fitModel, type EpochStats } from '../ml/train';
import { loadManifest, loadSplit } from './dataset-io';
import type { ActivityDeps } from './deps';

/** What every heartbeat carries; a retry resumes from `checkpoint`. */
export const TrainHeartbeatSchema = z.object({
  epoch: z.number().int(),
  totalEpochs: z.number().int(),
  batch: z.number().int(),
  batches: z.number().int(),
  pct: z.number(),
  loss: z.number().nullable(),
  valLoss: z.number().nullable(),
  samplesPerSec: z.number().nullable(),
  backend: z.string(),
  checkpoint: z.object({ epoch: z.number().int(), key: z.string() }).nullable(),
});
export type TrainHeartbeat = z.infer<typeof TrainHeartbeatSchema>;

const HEARTBEAT_EVERY_MS = 1000;

export function checkpointPrefix(model: string, workflowId: string): string {
  return `checkpoints/${model}/${workflowId}`;
}

/**
 * Trains a candidate on the gpu task queue: heartbeats progress, checkpoints every epoch to the
 * store, resumes from the checkpoint in the last heartbeat, and stops promptly on cancellation.
 */
export function createTrainModel(deps: ActivityDeps) {
  return async function trainModel(input: TrainInput): Promise<TrainResult> {
    const ctx = Context.current();
    const backend = await selectBackend(deps.backend, (line) => ctx.log.info(line));
    const manifest = await loadManifest(deps.store, input.datasetKey);
    const pre = manifest.preprocessing;
    const [train, holdout] = await Promise.all([
      loadSplit(deps.store, manifest, 'train'),
      loadSplit(deps.store, manifest, 'holdout'),
    ]);
    const shape: ModelShape = { task: pre.task, lookback: pre.lookback, features: pre.features.length };
    const prefix = checkpointPrefix(input.model, input.workflowId);

    const resume = parseHeartbeat(ctx.info.heartbeatDetails);
    let model: tf.LayersModel;
    let warmStart: TrainResult['warmStart'];
    if (resume?.checkpoint) {
      model = await tf.loadLayersModel(storeLoadHandler(deps.store, resume.checkpoint.key));
      compileModel(model, shape.task, input.hyperparams);
      warmStart = { skipped: `resumed from checkpoint at epoch ${resume.checkpoint.epoch}` };
      ctx.log.info(`resuming ${input.model} from epoch ${resume.checkpoint.epoch}`);
    } else {
      model = createModel(shape, input.hyperparams);
      warmStart = input.incremental
        ? await warmStartFromProduction(deps, input.model, model, input.hyperparams)
        : { skipped: 'incremental: false' };
    }

    const state: TrainHeartbeat = {
      epoch: resume?.checkpoint?.epoch ?? 0,
      totalEpochs: input.epochs,
      batch: 0,
      batches: 0,
      pct: 0,
      loss: null,
      valLoss: null,
      samplesPerSec: null,
      backend,
      checkpoint: resume?.checkpoint ?? null,
    };
    let lastBeat = 0;
    const beat = (force = false) => {
      const now = Date.now();
      if (!force && now - lastBeat < HEARTBEAT_EVERY_MS) return;
      lastBeat = now;
      ctx.heartbeat(state);
    };
    beat(true);

    let last: EpochStats | undefined;
    let stopped = false;
    try {
      ({ stopped, last } = await fitModel(model, train.data, holdout.data, {
        startEpoch: state.epoch,
        epochs: input.epochs,
        batchSize: input.hyperparams.batchSize,
        seed: input.hyperparams.seed,
        shouldStop: () => ctx.cancellationSignal.aborted,
        onBatch: ({ epoch, batch, batches, loss }) => {
          Object.assign(state, {
            batch,
            batches,
            loss,
            pct: (100 * (epoch - 1 + batch / batches)) / input.epochs,
          });
          beat();
        },
        onEpoch: async (stats) => {
          const key = `${prefix}/epoch-${stats.epoch}`;
          await model.save(storeSaveHandler(deps.store, key));
          Object.assign(state, {
            ...stats,
            pct: (100 * stats.epoch) / input.epochs,
            checkpoint: { epoch: stats.epoch, key },
          });
          beat(true);
          await deps
            .reportEpoch?.(input.workflowId, { ...stats, totalEpochs: input.epochs })
            .catch((err: unknown) => {
              ctx.log.warn(`progress signal failed: ${String(err)}`);
            });
        },
      }));
    } catch (err) {
      model.dispose();
      if (err instanceof DivergedError)
        throw ApplicationFailure.nonRetryable(
          `Training diverged: ${err.message}`,
          ErrorType.TrainingDiverged,
        );
      throw err;
    }
    if (stopped) {
      model.dispose();
      // Rejects with the cancellation, which is what Temporal expects a cancelled activity to throw.
      await ctx.cancelled;
    }
    const candidateKey = `${prefix}/final`;
    await model.save(storeSaveHandler(deps.store, candidateKey));
    model.dispose();
    return {
      candidateKey,
      backend,
      epochs: input.epochs,
      loss: last?.loss ?? state.loss ?? Number.NaN,
      valLoss: last?.valLoss ?? state.valLoss,
      samplesPerSec: last?.samplesPerSec ?? state.samplesPerSec ?? 0,
      warmStart,
    };
  };
}

function parseHeartbeat(details: unknown): TrainHeartbeat | undefined {
  const parsed = TrainHeartbeatSchema.safeParse(details);
  return parsed.success ? parsed.data : undefined;
}

async function warmStartFromProduction(
  deps: ActivityDeps,
  modelName: string,
  model: tf.LayersModel,
  hp: Hyperparams,
): Promise<TrainResult['warmStart']> {
  const alias = await deps.registry.getAlias(modelName);
  if (!alias) return { skipped: 'no production version yet' };
  const { version } = alias.value;
  const meta = await deps.registry.getMetadata(modelName, version);
  if (!meta) return { skipped: `production version ${version} has no metadata` };
  if (meta.hyperparams.architecture !== hp.architecture || meta.hyperparams.hiddenUnits !== hp.hiddenUnits) {
    return { skipped: `architecture differs from production ${version}` };
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
