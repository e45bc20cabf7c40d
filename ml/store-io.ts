import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { CorruptArtefactError } from '../common/errors';
import { formatIssues } from '../common/format-issues';
import type { BlobStore } from '../storage/blob-store';

const MODEL_FILE = 'model.json';
const WEIGHTS_FILE = 'weights.bin';

const ModelJsonSchema = z.object({
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z
    .array(
      z.object({
        weights: z.array(
          z.looseObject({
            name: z.string(),
            shape: z.array(z.number().int().nonnegative()),
            dtype: z.enum(['float32', 'int32']),
          }),
        ),
      }),
    )
    .min(1),
  trainingConfig: z.record(z.string(), z.unknown()).optional(),
  userDefinedMetadata: z.record(z.string(), z.unknown()).optional(),
});

/** tfjs save handler writing `<prefix>/model.json` and `<prefix>/weights.bin` to a blob store. */
export function storeSaveHandler(store: BlobStore, prefix: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weightData = artifacts.weightData ? concatWeights(artifacts.weightData) : new ArrayBuffer(0);
      // Weights first: model.json is the marker that the pair is complete.
      await store.put(`${prefix}/${WEIGHTS_FILE}`, new Uint8Array(weightData), {
        contentType: 'application/octet-stream',
      });
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
        // Present only for checkpoints saved with `includeOptimizer` / user metadata (ml/checkpoint.ts).
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      await store.put(`${prefix}/${MODEL_FILE}`, JSON.stringify(modelJson), {
        contentType: 'application/json',
      });
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

/** tfjs load handler reading what {@link storeSaveHandler} wrote. */
export function storeLoadHandler(store: BlobStore, prefix: string): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const modelBlob = await store.get(`${prefix}/${MODEL_FILE}`);
      if (!modelBlob) throw new Error(`No model at ${store.uriFor(prefix)}: ${MODEL_FILE} is missing`);
      const weightsBlob = await store.get(`${prefix}/${WEIGHTS_FILE}`);
      if (!weightsBlob) throw new Error(`No weights at ${store.uriFor(prefix)}: ${WEIGHTS_FILE} is missing`);
      const modelUri = store.uriFor(`${prefix}/${MODEL_FILE}`);
      let raw: unknown;
      try {
        raw = JSON.parse(Buffer.from(modelBlob.body).toString('utf8'));
      } catch {
        throw new CorruptArtefactError(`Corrupt model at ${modelUri}: not valid JSON`);
      }
      const parsed = ModelJsonSchema.safeParse(raw);
      if (!parsed.success) {
        throw new CorruptArtefactError(`Corrupt model at ${modelUri}: ${formatIssues(parsed.error)}`);
      }
      const json = parsed.data as unknown as {
        modelTopology: tf.io.ModelArtifacts['modelTopology'];
        weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[];
        trainingConfig?: tf.io.TrainingConfig;
        userDefinedMetadata?: tf.io.ModelArtifacts['userDefinedMetadata'];
      };
      const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
      const expected = weightSpecs.reduce((sum, spec) => sum + 4 * spec.shape.reduce((a, b) => a * b, 1), 0);
      if (weightsBlob.body.byteLength !== expected) {
        throw new CorruptArtefactError(
          `Corrupt weights at ${store.uriFor(`${prefix}/${WEIGHTS_FILE}`)}: ${weightsBlob.body.byteLength} bytes, expected ${expected}`,
        );
      }
      const body = weightsBlob.body;
      return {
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData: body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
        ...(json.trainingConfig ? { trainingConfig: json.trainingConfig } : {}),
        ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
      };
    },
  };
}

function concatWeights(data: tf.io.WeightData): ArrayBuffer {
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : (data as ArrayBuffer);
}
