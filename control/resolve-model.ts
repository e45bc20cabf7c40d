import { ModelNameSchema, type ModelSpec } from '../common/model-spec';
import { ModelNotFoundError, type ModelRegistry } from '../storage/registry';

/** Thrown when a request names no model and there is no one obvious model; `status` is the HTTP answer. */
export class ModelChoiceError extends Error {
  override readonly name = 'ModelChoiceError';
  constructor(
    message: string,
    readonly status: 400 | 404,
  ) {
    super(message);
  }
}

/**
 * The spec of the model a daemon-style admin request is about. The daemon those routes come from served one
 * model; this server serves many: `?model=` when given, else `RETRAIN_DEFAULT_MODEL`, else the only
 * model with a spec, else a 400 naming the models to choose from. A named model must have a spec (404).
 */
export async function resolveModel(
  registry: ModelRegistry,
  named: unknown,
  defaultModel: string | undefined,
): Promise<ModelSpec> {
  const wanted = named ?? defaultModel;
  if (wanted !== undefined) {
    const parsed = ModelNameSchema.safeParse(wanted);
    if (!parsed.success)
      throw new ModelChoiceError(
        `invalid model ${JSON.stringify(wanted)}: ${parsed.error.issues[0]?.message}`,
        400,
      );
    return registry.loadSpec(parsed.data).catch((err: unknown) => {
      if (err instanceof ModelNotFoundError) throw new ModelChoiceError(`unknown model ${parsed.data}`, 404);
      throw err;
    });
  }
  const models = await registry.listModels();
  if (models.length === 1 && models[0] !== undefined) return registry.loadSpec(models[0]);
  if (models.length === 0)
    throw new ModelChoiceError('no models yet: create one with retrain models create <spec.json>', 404);
  throw new ModelChoiceError(
    `several models: name one with ?model= (${models.join(', ')}) or set RETRAIN_DEFAULT_MODEL`,
    400,
  );
}
