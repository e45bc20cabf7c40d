import { ApplicationFailure } from '@temporalio/activity';
import { ErrorType } from '../common/errors';
import type { ModelSpec } from '../common/model-spec';
import { ModelNotFoundError, type ModelRegistry } from '../storage/registry';

/** Loads a spec; a missing or invalid one is a non-retryable failure that names the model. */
export async function loadSpecOrFail(registry: ModelRegistry, model: string): Promise<ModelSpec> {
  try {
    return await registry.loadSpec(model);
  } catch (err) {
    if (err instanceof ModelNotFoundError)
      throw ApplicationFailure.nonRetryable(err.message, ErrorType.ModelNotFound);
    throw err;
  }
}
