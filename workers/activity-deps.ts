import type { Client } from '@temporalio/client';
import type { ActivityDeps } from '../activities';
import { epochProgressSignal } from '../common/messages';
import { DataBuffer } from '../storage/buffer';
import { openBlobStore } from '../storage/open-store';
import { ModelRegistry } from '../storage/registry';
import type { Config } from './config';

/** Builds the activities' dependencies from the parsed config and a Temporal client. */
export function buildActivityDeps(config: Config, client: Client): ActivityDeps {
  const store = openBlobStore(config.store, config.s3);
  return {
    store,
    registry: new ModelRegistry(store),
    buffer: new DataBuffer(config.bufferDir),
    backend: config.backend,
    servingUrls: config.servingUrls,
    apiKey: config.apiKey,
    reportEpoch: (workflowId, progress) =>
      client.workflow.getHandle(workflowId).signal(epochProgressSignal, progress),
  };
}
