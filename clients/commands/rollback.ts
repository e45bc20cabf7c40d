import { z } from 'zod';

import { formatIssues } from '../../common/format-issues';
import { ModelNameSchema } from '../../common/model-spec';
import { connectClient } from '../../config/connect';
import { rollBack, ServersRefusedError } from '../../rollout/rollback';
import { describeReloads } from '../../rollout/rollout';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import { holdModel, rollbackHolder } from '../../runs';
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
 * It holds the model's lease throughout, as a run does: while a run holds it the command is refused
 * (`model busy: run <id> holds <model>`), and runs started meanwhile wait or are refused.
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
  // An unknown model is said as such, before Temporal is asked for the lease.
  await registry.loadSpec(model);
  const { client, close } = await connectClient(config);
  const report = await rollBack(registry, {
    model,
    to,
    targets: config.servingUrls,
    apiKey: config.apiKey,
    hold: (work) =>
      holdModel(
        client,
        { model, taskQueue: config.taskQueue, holder: rollbackHolder(model), action: 'rollback' },
        work,
      ),
    onMoved: (move) =>
      out.log(
        `production of ${model} moved from ${move.from} to ${move.to}; reloading ${config.servingUrls.length} server(s)`,
      ),
  }).finally(close);
  const text = `${model}: production ${report.from} -> ${report.to}\n${describeReloads(report.servers)}`;
  out.result(values.json, report, report.revert ? `${text}\n${report.revert.note}` : text);
  if (!report.ok) throw new ServersRefusedError(report);
  return 0;
}
