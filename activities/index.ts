import type { ModelSpec } from '../common/model-spec';
import type { ActivityDeps } from './deps';
import { createExportDataset } from './export-dataset';
import { loadSpecOrFail } from './load-spec';
import { createRegisterModel } from './register-model';
import { createReloadServers } from './reload-servers';
import { requestCancellation } from './request-cancellation';
import { createTrainModel } from './train-model';
import { createValidateModel } from './validate-model';

export type { ActivityDeps } from './deps';

/** Every activity of the pipeline, bound to its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    loadSpec: async ({ model }: { model: string }): Promise<ModelSpec> =>
      loadSpecOrFail(deps.registry, model),
    exportDataset: createExportDataset(deps),
    trainModel: createTrainModel(deps),
    validateModel: createValidateModel(deps),
    registerModel: createRegisterModel(deps),
    reloadServers: createReloadServers(deps),
    requestCancellation,
  };
}
