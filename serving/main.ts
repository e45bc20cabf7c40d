import { connectClient } from '../config/connect';
import { selectBackend } from '../ml/backend';
import { DataBuffer } from '../storage/buffer';
import { BufferWriter } from '../storage/buffer-writer';
import { Ingestor } from '../storage/ingest';
import { PredictionLog } from '../storage/prediction-log';
import { openCheckedBlobStore } from '../storage/open-store';
import { ModelRegistry } from '../storage/registry';
import { ServerDirectory } from '../storage/server-directory';
import { loadConfig } from '../config/config';
import { armShutdownDeadline } from '../config/shutdown-deadline';
import { createServer } from './server';

/** Starts the inference server: listens first (so /healthz answers), then loads production models (/readyz). */
async function main(): Promise<void> {
  const config = loadConfig();
  const registry = new ModelRegistry(await openCheckedBlobStore(config.store, config.s3));
  const buffer = DataBuffer.of(config, registry.store);
  const writer = await BufferWriter.open(buffer, {
    retentionDays: config.bufferRetentionDays,
  });
  const ingestor = new Ingestor(registry, writer);
  const predictionLog =
    config.predictionLog.sample > 0
      ? await PredictionLog.open(config.predictionLog.dir, {
          sample: config.predictionLog.sample,
          retentionDays: config.predictionLog.retentionDays,
          // Every server's answers in the shared store: live figures are the same from any host.
          store: registry.store,
        })
      : undefined;
  // Predictions do not need Temporal: without it only the training routes are unavailable (503).
  const temporal = await connectClient(config).catch((err: unknown) => err as Error);
  const { app, loadProductionModels, joinFleet } = createServer({
    registry,
    apiKey: config.apiKey,
    logger: { format: config.logFormat, level: config.logLevel },
    ingestor,
    temporal:
      temporal instanceof Error
        ? undefined
        : { client: temporal.client, taskQueue: config.taskQueue, buffer },
    defaultModel: config.defaultModel,
    coachingRoutesOpen: config.coachingRoutesOpen,
    ...(config.coachingModels ? { coachingModels: config.coachingModels } : {}),
    dashboard: {
      temporalUiUrl: config.temporalUiUrl,
      namespace: config.temporal.namespace,
      servingUrls: config.servingUrls,
      public: config.dashboardPublic,
    },
    bodyLimitBytes: config.serving.bodyLimitBytes,
    ingestBodyLimitBytes: config.serving.ingestBodyLimitBytes,
    predictFeedsBuffer: config.serving.predictFeedsBuffer,
    fleet: {
      directory: new ServerDirectory(registry.store),
      heartbeatMs: config.fleet.heartbeatSeconds * 1000,
      aliasPollMs: config.fleet.aliasPollSeconds * 1000,
    },
    loadConcurrency: config.serving.loadConcurrency,
    timeouts: config.serving.timeouts,
    ...(predictionLog ? { predictionLog, buffer } : {}),
  });
  // After in-flight requests and /predict's feed (registered later, closed first): waiting rows are written before exit.
  app.addHook('onClose', () => writer.close());
  // After in-flight requests too: the last answers are turned into Parquet before exit.
  if (predictionLog) app.addHook('onClose', () => predictionLog.close());
  if (temporal instanceof Error) app.log.warn({ reason: temporal.message }, 'training API unavailable');
  else app.addHook('onClose', () => temporal.close());
  if (!config.apiKey) app.log.warn('admin API disabled: set RETRAIN_API_KEY');
  await selectBackend(config.backend, (line) => app.log.info(line));

  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    armShutdownDeadline(config.shutdownGraceMs, (message) => app.log.warn(message));
    app.log.info({ signal }, 'closing: finishing in-flight requests');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);

  await app.listen({ host: config.serving.host, port: config.serving.port });
  const report = await loadProductionModels();
  app.log.info({ store: registry.store.uri, ...report }, 'ready');
  await joinFleet(config.fleet.serverUrl);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
