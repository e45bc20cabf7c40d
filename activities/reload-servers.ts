import { ApplicationFailure, Context } from '@temporalio/activity';
import { ErrorType } from '../common/errors';
import type { ReloadInput, ReloadResult } from '../common/stages';
import { fleetTargets } from '../rollout/fleet';
import { describeReloads, revertProduction, rollOut } from '../rollout/rollout';
import { ServerDirectory } from '../storage/server-directory';
import type { ActivityDeps } from './deps';

/**
 * Asks every inference server of the fleet (`RETRAIN_SERVING_URLS` and the servers announced alive in
 * the store, or the run's `reloadTargets`) to load `version` and checks each reports it, retrying with
 * backoff. An announced server that cannot be reached is skipped (it follows the alias by its poll).
 * When one still refuses, the production alias goes back to the previous version, the servers are
 * reloaded to it, and the activity fails (non-retryable) with every server's outcome. A
 * `reloadTargets` url outside the fleet is refused before any request carries the API key.
 */
export function createReloadServers(deps: ActivityDeps) {
  return async function reloadServers(input: ReloadInput): Promise<ReloadResult> {
    const alive = (await new ServerDirectory(deps.store).aliveServers()).map((server) => server.url);
    const { targets, discovered, outsiders } = fleetTargets(deps.servingUrls, alive, input.targets);
    const args = {
      model: input.model,
      version: input.version,
      previous: input.previous,
      apiKey: deps.apiKey,
    };
    if (outsiders.length > 0) {
      // Production already moved at registration: back to where it was, on the fleet's own servers.
      const fleet = fleetTargets(deps.servingUrls, alive);
      const revert = await revertProduction(deps.registry, {
        ...args,
        targets: fleet.targets,
        discovered: fleet.discovered,
      });
      throw ApplicationFailure.nonRetryable(
        `reloadTargets names ${outsiders.join(', ')}: not an inference server of this fleet (neither in RETRAIN_SERVING_URLS nor announced in the store), so no request was sent to it; ${revert.note}`,
        ErrorType.InvalidInput,
        { outsiders, rollback: revert },
      );
    }
    const outcome = await rollOut(deps.registry, { ...args, targets, discovered });
    if (outcome.ok) return { servers: outcome.servers, ...skippedOf(outcome) };
    Context.current().log.warn(`reload of ${input.model} ${input.version} refused; ${outcome.revert.note}`);
    throw ApplicationFailure.nonRetryable(
      `Inference servers refused ${input.model} ${input.version}: ${describeReloads(outcome.servers)}; ${outcome.revert.note}`,
      ErrorType.ReloadFailed,
      { servers: outcome.servers, ...skippedOf(outcome), rollback: outcome.revert },
    );
  };
}

/** `skipped` when a server was, for the result and the failure's details. */
function skippedOf({ skipped }: { skipped: ReloadResult['skipped'] }): Pick<ReloadResult, 'skipped'> {
  return skipped && skipped.length > 0 ? { skipped } : {};
}
