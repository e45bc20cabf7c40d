import type { FastifyBaseLogger } from 'fastify';

import type { ModelRegistry } from '../storage/registry';
import type { ModelPool, ReloadOutcome } from './model-pool';
import { repeatEvery, type Repeating } from './repeat';

/** Options of {@link pollAliases}. */
export interface AliasPollOptions {
  registry: ModelRegistry;
  pool: ModelPool;
  /** `RETRAIN_ALIAS_POLL_SECONDS`, in ms. */
  everyMs: number;
  log: FastifyBaseLogger;
}

/**
 * Every `everyMs`, loads the production version of each model that this server does not serve yet
 * ({@link followAliases}): a server that missed a reload (started later, or down while a run promoted)
 * converges within one interval. Polls never overlap.
 */
export function pollAliases({ registry, pool, everyMs, log }: AliasPollOptions): Repeating {
  return repeatEvery(
    async () => {
      await followAliases(registry, pool, log);
    },
    everyMs,
    (err) => log.warn({ err }, 'alias poll failed; trying again at the next one'),
  );
}

/**
 * Reads the production alias of every model in the registry (learning models added since start-up)
 * and reloads, through the pool's hot swap, each whose alias names a version other than the one
 * served. A version that cannot be served is logged and tried again at the next poll; the version
 * served before goes on answering. Returns the reloads it made.
 */
export async function followAliases(
  registry: ModelRegistry,
  pool: ModelPool,
  log: FastifyBaseLogger,
): Promise<ReloadOutcome[]> {
  const reloaded: ReloadOutcome[] = [];
  for (const model of await registry.listModels()) {
    pool.learn(model);
    try {
      const alias = await registry.getAlias(model);
      if (!alias || pool.get(model)?.version === alias.value.version) continue;
      // No version named: the pool reads the alias again in the model's reload turn, so a reload
      // or rollback that moved it meanwhile is not undone by this poll's older read.
      const outcome = await pool.reload(model);
      if (outcome.version !== outcome.previous) {
        log.info(outcome, 'production alias moved: model reloaded');
        reloaded.push(outcome);
      }
    } catch (err) {
      log.warn({ err, model }, 'could not follow the production alias; trying again at the next poll');
    }
  }
  return reloaded;
}
