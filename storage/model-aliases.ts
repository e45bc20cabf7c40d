import type { ModelSpec } from '../common/model-spec';
import { ModelNotFoundError, type ModelRegistry } from './registry';

/**
 * The spec an old client means by `nameOrAlias` (a Redis job's `"model": "xgboost"`, FinCoach's
 * `model_type`): the model of that name, else the one model whose `aliases` list it. A name wins
 * over an alias; {@link ModelRegistry.saveSpec} refuses an alias that two specs would claim.
 * Throws {@link ModelNotFoundError} when neither exists.
 */
export async function resolveModelName(registry: ModelRegistry, nameOrAlias: string): Promise<ModelSpec> {
  const named = await registry.getSpec(nameOrAlias);
  if (named) return named.value;
  for (const model of await registry.listModels()) {
    const spec = (await registry.getSpec(model))?.value;
    if (spec?.aliases?.includes(nameOrAlias)) return spec;
  }
  throw new ModelNotFoundError(
    nameOrAlias,
    `unknown model ${nameOrAlias}: no spec at ${registry.store.uriFor(registry.specKey(nameOrAlias))} and no model lists it in its aliases`,
  );
}
