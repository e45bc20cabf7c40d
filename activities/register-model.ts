import { Context } from '@temporalio/activity';
import { withPredictorFields } from '../common/predictor-fields';
import type { RegisterInput, RegisterResult } from '../common/stages';
import type { ActivityDeps } from './deps';
import { candidatePreprocessing, entityFigures } from '../datasets/candidate-files';
import { loadManifest } from '../datasets/dataset-io';

/** Creates the immutable version and moves `production` to it; safe to retry at any point. */
export function createRegisterModel(deps: ActivityDeps) {
  return async function registerModel(input: RegisterInput): Promise<RegisterResult> {
    const manifest = await loadManifest(deps.store, input.datasetKey);
    const preprocessing = await candidatePreprocessing(deps.store, input.candidateKey, manifest);
    const entities = await entityFigures(deps.store, input.candidateKey);
    const warm = input.training.warmStart;
    const parentVersion = 'from' in warm ? warm.from : null;
    const version = await deps.registry.registerVersion(
      input.model,
      input.workflowId,
      input.candidateKey,
      (v) =>
        withPredictorFields({
          model: input.model,
          version: v,
          createdAt: new Date().toISOString(),
          workflowId: input.workflowId,
          runId: input.runId,
          parentVersion,
          backend: input.training.backend,
          // Written for ONNX versions only: a tfjs version's metadata stays as it always was.
          ...(input.training.format === 'onnx' ? { format: 'onnx' as const } : {}),
          hyperparams: input.hyperparams,
          epochs: input.training.epochs,
          training: {
            loss: input.training.loss,
            valLoss: input.training.valLoss,
            samplesPerSec: input.training.samplesPerSec,
            warmStart: 'from' in warm ? `from ${warm.from}` : warm.skipped,
          },
          metrics: input.validation.candidate,
          baselines: input.validation.baselines,
          ...(input.validation.production ? { production: input.validation.production } : {}),
          gate: {
            passed: input.validation.passed,
            reason: input.validation.reason,
            metric: input.validation.metric,
          },
          dataset: {
            key: input.datasetKey,
            rows: manifest.rows,
            window: { from: manifest.window.from, to: manifest.window.to },
          },
          preprocessing,
          ...(entities ? { entities } : {}),
          ...(input.trials ? { trials: input.trials } : {}),
        }),
    );
    const previous = await deps.registry.setAlias(input.model, version, input.workflowId);
    Context.current().log.info(`registered ${input.model} ${version} (previous ${previous ?? 'none'})`);
    return { version, previous };
  };
}
