import { ApplicationFailure, Context } from '@temporalio/activity';
import { ErrorType } from '../common/errors';
import type { ReloadInput, ReloadResult } from '../common/stages';
import { describeReloads, rollOut } from '../rollout/rollout';
import type { ActivityDeps } from './deps';

/**
 * Asks every inference server to load `version` and checks each reports it, retrying with backoff.
 * When one still refuses, the production alias goes back to the previous version, the servers are
 * reloaded to it, and the activity fails (non-retryable) with every server's outcome.
 */
export function createReloadServers(deps: ActivityDeps) {
  return async function reloadServers(input: ReloadInput): Promise<ReloadResult> {
    const outcome = await rollOut(deps.registry, {
      model: input.model,
      version: input.version,
      previous: input.previous,
      targets: input.targets ?? deps.servingUrls,
      apiKey: deps.apiKey,
    });
    if (outcome.ok) return { servers: outcome.servers };
    Context.current().log.warn(`reload of ${input.model} ${input.version} refused; ${outcome.revert.note}`);
    throw ApplicationFailure.nonRetryable(
      `Inference servers refused ${input.model} ${input.version}: ${describeReloads(outcome.servers)}; ${outcome.revert.note}`,
      ErrorType.ReloadFailed,
      { servers: outcome.servers, rollback: outcome.revert },
    );
  };
}
