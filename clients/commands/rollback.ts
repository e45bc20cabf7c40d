import { z } from 'zod';

import { formatIssues } from '../../common/format-issues';
import { ModelNameSchema } from '../../common/model-spec';
import { describeReloads, rollOut } from '../../rollout/rollout';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import type { Config } from '../../config/config';
import { UsageError, type CommandOutput } from '../output';

/** The options of `retrain rollback`, as commander parses them. */
export interface RollbackOptions {
  model: string;
  to?: string;
  json?: boolean;
}

const RollbackArgsSchema = z.object({
  model: ModelNameSchema,
  to: z
    .string()
    .regex(/^v\d+$/, { message: 'a version looks like v3' })
    .optional(),
});

/**
 * `retrain rollback`: moves `production` back (to its previous version, or `--to`) by compare-and-swap,
 * then reloads every RETRAIN_SERVING_URLS server with the same code as the reloadServers activity. When a
 * server refuses, the alias goes back where it was and the command exits 1 with each server's outcome.
 */
export async function rollbackCommand(
  values: RollbackOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const parsed = RollbackArgsSchema.safeParse({ model: values.model, to: values.to });
  if (!parsed.success) throw new UsageError(`invalid rollback options: ${formatIssues(parsed.error)}`);
  const { model, to } = parsed.data;
  const registry = new ModelRegistry(openBlobStore(config.store, config.s3));
  const move = await registry.rollback(model, to);
  out.log(
    `production of ${model} moved from ${move.from} to ${move.to}; reloading ${config.servingUrls.length} server(s)`,
  );
  const outcome = await rollOut(registry, {
    model,
    version: move.to,
    previous: move.from,
    targets: config.servingUrls,
    apiKey: config.apiKey,
  });
  const report = {
    model,
    from: move.from,
    to: move.to,
    ok: outcome.ok,
    production: outcome.ok ? move.to : (outcome.revert.to ?? move.to),
    servers: outcome.servers,
    ...(outcome.ok ? {} : { revert: outcome.revert }),
  };
  const text = `${model}: production ${move.from} -> ${move.to}\n${describeReloads(outcome.servers)}`;
  if (outcome.ok) {
    out.result(values.json, report, text);
    return 0;
  }
  out.result(values.json, report, `${text}\n${outcome.revert.note}`);
  throw new Error(
    `inference servers refused ${model} ${move.to}: ${describeReloads(outcome.servers)}; ${outcome.revert.note}`,
  );
}
