import type { ExportInput, ExportResult } from '../common/stages';
import { trainerOf } from '../common/trainer-kinds';
import { loadManifest } from '../datasets/dataset-io';
import { readFrameInfo, writeFeatureFrame } from '../datasets/feature-frame';
import type { ActivityDeps } from './deps';
import { loadSpecOrFail } from './load-spec';

/**
 * The export stage with the feature frame (docs/trainers.md): for a spec whose trainer is not
 * TypeScript, once the dataset is ready its frame is written beside it, under the spec's input
 * options. Idempotent like the export: a retry finds the frame and writes nothing.
 */
export function withFeatureFrame(
  deps: ActivityDeps,
  exportRows: (input: ExportInput) => Promise<ExportResult>,
) {
  return async function exportDataset(input: ExportInput): Promise<ExportResult> {
    const result = await exportRows(input);
    if (result.status !== 'ready') return result;
    const spec = await loadSpecOrFail(deps.registry, input.model);
    if (trainerOf(spec) === 'tfjs') return result;
    if (await readFrameInfo(deps.store, result.datasetKey)) return result;
    const manifest = await loadManifest(deps.store, result.datasetKey);
    await writeFeatureFrame(deps.store, result.datasetKey, manifest, spec.hyperparams);
    return result;
  };
}
