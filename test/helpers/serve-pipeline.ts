import { BufferWriter } from '../../storage/buffer-writer';
import { Ingestor } from '../../storage/ingest';
import { createServer, type InferenceServer } from '../../serving/server';
import { ServerDirectory } from '../../storage/server-directory';
import type { Pipeline } from './pipeline';

/** An inference server on a test pipeline's registry, listening on a free loopback port. */
export interface ServedPipeline {
  server: InferenceServer;
  url: string;
  /** Closes the server, then the buffer writer when it ingests. */
  close(): Promise<void>;
}

/**
 * Serves the pipeline's production models behind `apiKey` (the key its reloads send too), announced
 * in the pipeline's store as a member of its fleet; with `ingest`, POST /ingest writes into the
 * pipeline's buffer.
 */
export async function servePipeline(
  pipeline: Pipeline,
  apiKey: string,
  { ingest = false }: { ingest?: boolean } = {},
): Promise<ServedPipeline> {
  pipeline.deps.apiKey = apiKey;
  const writer = ingest ? await BufferWriter.open(pipeline.deps.buffer, { retentionDays: 60 }) : undefined;
  const server = createServer({
    registry: pipeline.deps.registry,
    apiKey,
    fleet: { directory: new ServerDirectory(pipeline.deps.store), heartbeatMs: 10_000, aliasPollMs: 30_000 },
    ...(writer ? { ingestor: new Ingestor(pipeline.deps.registry, writer) } : {}),
  });
  await server.loadProductionModels();
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  await server.joinFleet(url);
  return {
    server,
    url,
    async close() {
      await server.app.close();
      await writer?.close();
    },
  };
}
