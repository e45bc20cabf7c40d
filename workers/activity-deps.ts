import type { Client } from '@temporalio/client';
import type { ActivityDeps } from '../activities';
import { epochProgressSignal } from '../common/messages';
import { eventSinksFor } from '../events/event-sinks';
import { DataBuffer } from '../storage/buffer';
import { predictionLogReader } from '../storage/prediction-log';
import { openCheckedBlobStore } from '../storage/open-store';
import { ModelRegistry } from '../storage/registry';
import type { Config } from '../config/config';

/** Builds the activities' dependencies from the parsed config and a Temporal client; checks an S3 store first. */
export async function buildActivityDeps(config: Config, client: Client): Promise<ActivityDeps> {
  const store = await openCheckedBlobStore(config.store, config.s3);
  return {
    store,
    registry: new ModelRegistry(store),
    buffer: DataBuffer.of(config, store),
    backend: config.backend,
    predictionLog: predictionLogReader(config.predictionLog.dir, store),
    eventSinks: eventSinksFor(config.events),
    eventsMaxAgeMs: config.events.maxAgeMs,
    servingUrls: config.servingUrls,
    ...(config.maxConcurrentRuns === undefined
      ? {}
      : { fleetCap: { maxConcurrentRuns: config.maxConcurrentRuns } }),
    apiKey: config.apiKey,
    evaluationRetentionDays: config.evaluationRetentionDays,
    bufferRetentionDays: config.bufferRetentionDays,
    reportEpoch: (workflowId, progress) =>
      client.workflow.getHandle(workflowId).signal(epochProgressSignal, progress),
  };
}
