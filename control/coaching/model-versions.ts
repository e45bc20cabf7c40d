import type { ModelMetadata } from '../../common/artefacts';
import { resolveModelName } from '../../storage/model-aliases';
import type { ModelRegistry } from '../../storage/registry';

/** Store key of a version, FinCoach's `model_path`. */
export const modelPath = (model: string, version: string) => `models/${model}/versions/${version}`;

/** What a version's `metadata` shows: how it was trained and validated (not its per-entity figures). */
export function versionMetadata(meta: ModelMetadata) {
  return {
    metric: meta.gate.metric,
    metrics: meta.metrics,
    baselines: meta.baselines,
    production: meta.production ?? null,
    gate: meta.gate,
    dataset: meta.dataset,
    backend: meta.backend,
    format: meta.format ?? 'tfjs',
    epochs: meta.epochs,
    hyperparams: meta.hyperparams,
    parent_version: meta.parentVersion,
    workflow_id: meta.workflowId,
  };
}

/**
 * `GET /model-versions[?model_type=]`: every registered version (of the model `model_type` names),
 * grouped by model, newest first. `performance_baseline` and `performance_current` are both the
 * holdout score of the gate metric, as FinCoach set both at creation; `is_active` and
 * `deployment_date` come from the `production` alias; retrain keeps no rollback count (`null`).
 */
export async function modelVersions(registry: ModelRegistry, modelType: string | undefined) {
  const models = modelType
    ? [(await resolveModelName(registry, modelType)).name]
    : (await registry.listModels()).sort();
  const versions = [];
  for (const model of models) {
    const [names, production] = await Promise.all([registry.listVersions(model), registry.getAlias(model)]);
    const metas = await Promise.all(names.map((v) => registry.getMetadata(model, v)));
    const rows = metas.flatMap((meta) => (meta ? [versionRow(meta, production?.value)] : []));
    versions.push(...rows.sort((a, b) => b.created_at.localeCompare(a.created_at)));
  }
  return {
    model_versions: versions,
    total_versions: versions.length,
    filter_applied: modelType ? { model_type: modelType } : null,
  };
}

function versionRow(meta: ModelMetadata, production: { version: string; updatedAt: string } | undefined) {
  const active = production?.version === meta.version;
  const score = meta.metrics[meta.gate.metric] ?? null;
  return {
    id: `${meta.model}/${meta.version}`,
    model_type: meta.model,
    version: meta.version,
    is_active: active,
    performance_baseline: score,
    performance_current: score,
    deployment_date: active ? (production?.updatedAt ?? null) : null,
    rollback_count: null,
    model_path: modelPath(meta.model, meta.version),
    created_at: meta.createdAt,
    metadata: versionMetadata(meta),
  };
}
