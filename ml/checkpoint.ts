import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { BlobStore } from '../storage/blob-store';
// Registers the optimisers that checkpoints name, for tf.loadLayersModel to rebuild.
import './fused-optimizers';
import { storeLoadHandler, storeSaveHandler } from './store-io';
import type { TrainPosition } from './train';

/** What travels with a checkpoint's weights, in model.json's `userDefinedMetadata`. */
export const CheckpointMetaSchema = z.object({
  position: z.object({
    epoch: z.number().int().min(0),
    batch: z.number().int().min(0),
    lossSum: z.number(),
    seen: z.number().int().min(0),
  }),
  /** Which training this checkpoint belongs to; a resume with other inputs starts afresh. */
  fingerprint: z.string(),
  /** Carried over so a resumed run reports what the first attempt started from. */
  warmStart: z.union([z.object({ from: z.string() }), z.object({ skipped: z.string() })]),
  best: z.object({ epoch: z.number().int(), valLoss: z.number() }).nullable(),
  /** Stats of the last completed epoch: a resume that has nothing left to train still reports them. */
  last: z
    .object({
      epoch: z.number().int(),
      loss: z.number(),
      valLoss: z.number().nullable(),
      samplesPerSec: z.number(),
    })
    .nullable(),
  backend: z.string(),
});
export type CheckpointMeta = z.infer<typeof CheckpointMetaSchema>;

/** Store key of a checkpoint: `<prefix>/epoch-N` at an epoch boundary, `<prefix>/epoch-N-batch-B` inside epoch N. */
export function checkpointKey(prefix: string, position: TrainPosition): string {
  return position.batch === 0
    ? `${prefix}/epoch-${position.epoch}`
    : `${prefix}/epoch-${position.epoch + 1}-batch-${position.batch}`;
}

/**
 * Saves weights and optimiser state (moments and iteration counter) with `meta`, straight into the
 * store: no temporary files. The layout is tfjs's own `includeOptimizer` one (a training config and
 * an `optimizer` weight group), so `tf.loadLayersModel` restores both; it is written here because
 * tfjs's `includeOptimizer` leaks the iteration-counter tensor on every save.
 */
export async function saveCheckpoint(
  store: BlobStore,
  key: string,
  model: tf.LayersModel,
  meta: CheckpointMeta,
): Promise<void> {
  const optimizer = model.optimizer as tf.Optimizer | undefined;
  if (!optimizer) throw new Error('saveCheckpoint needs a compiled model');
  const state = await optimizer.getWeights();
  let encoded: { data: ArrayBuffer; specs: tf.io.WeightsManifestEntry[] };
  try {
    encoded = await tf.io.encodeWeights(state, 'optimizer');
  } finally {
    // `iter` is a fresh scalar; the other entries are the optimiser's live slot variables.
    tf.dispose(state.filter((w) => w.name === 'iter').map((w) => w.tensor));
  }
  const trainingConfig: tf.io.TrainingConfig = {
    loss: model.loss as string,
    optimizer_config: { class_name: optimizer.getClassName(), config: optimizer.getConfig() },
  };
  const inner = storeSaveHandler(store, key);
  await model.save({
    save: (artifacts) =>
      inner.save!({
        ...artifacts,
        trainingConfig,
        weightSpecs: [...(artifacts.weightSpecs ?? []), ...encoded.specs],
        weightData: tf.io.concatenateArrayBuffers([...[artifacts.weightData ?? []].flat(), encoded.data]),
        userDefinedMetadata: meta as unknown as tf.io.ModelArtifacts['userDefinedMetadata'],
      }),
  });
}

/**
 * Loads a checkpoint: the model comes back compiled with its saved optimiser, whose state is
 * restored, so training continues as if it had never stopped. Throws when the checkpoint is
 * missing or its metadata is not a checkpoint's.
 */
export async function loadCheckpoint(
  store: BlobStore,
  key: string,
): Promise<{ model: tf.LayersModel; meta: CheckpointMeta }> {
  const model = await tf.loadLayersModel(storeLoadHandler(store, key));
  const meta = CheckpointMetaSchema.safeParse(model.getUserDefinedMetadata());
  if (!meta.success || !model.optimizer) {
    model.dispose();
    throw new Error(`${store.uriFor(key)} is not a training checkpoint (no optimizer state or metadata)`);
  }
  return { model, meta: meta.data };
}
