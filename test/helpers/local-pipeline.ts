import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ActivityDeps } from '../../activities';
import { ModelSpecSchema, type ModelSpec, type ModelSpecInput } from '../../common/model-spec';
import { DataBuffer } from '../../storage/buffer';
import type { BlobStore } from '../../storage/blob-store';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';

// What the tests' pipelines are made of, without vitest: benches build the same pipeline.

/**
 * For tests about the path rather than the gate: every finite candidate passes. A 3-epoch model on
 * three weeks of 12 airports does not reliably beat "same hour one day earlier" (MAE ~15.5) or its
 * predecessor; gate.test.ts covers the gate's decisions.
 */
export const PERMISSIVE_GATE = { mustBeatBaseline: false, tolerance: 10 };

/** A small slice of the real demo data: the 12 busiest airports over the last three weeks. */
export const TEST_FLIGHTS = { topAirports: 12, fromDay: '2001-06-10' };

/** Activity deps without Temporal: a store (a file store under `dir` unless given), a buffer under `dir`, cpu. */
export function localDeps(
  dir: string,
  store: BlobStore = new FileBlobStore(path.join(dir, 'store')),
): ActivityDeps {
  return {
    store,
    registry: new ModelRegistry(store),
    buffer: new DataBuffer(path.join(dir, 'buffer')),
    backend: 'cpu',
    servingUrls: [],
  };
}

/** The test forecaster over TEST_FLIGHTS: next-hour mean delay from 4 hours of 3 metrics, small MLP. */
export function flightSpec(overrides: Partial<ModelSpecInput> = {}): ModelSpec {
  return ModelSpecSchema.parse({
    name: `flights-${randomUUID().slice(0, 8)}`,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'origin',
    features: ['flights', 'mean_delay', 'late_share'],
    target: 'mean_delay',
    lookback: 4,
    windowDays: 21,
    minRecords: 1000,
    hyperparams: { hiddenUnits: 16, batchSize: 128, seed: 3 },
    ...overrides,
  });
}
