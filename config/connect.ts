import { Client, Connection } from '@temporalio/client';
import type { Config } from './config';

/** Opens a Temporal client for the command line and the inference server; `close()` ends the connection. */
export async function connectClient(config: Config): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({
    address: config.temporal.address,
    connectTimeout: '5s',
  }).catch((err: unknown) => {
    throw new Error(
      `cannot reach Temporal at ${config.temporal.address} (${err instanceof Error ? err.message : String(err)}); is the stack up? npm run stack:up`,
    );
  });
  return {
    client: new Client({ connection, namespace: config.temporal.namespace }),
    close: () => connection.close(),
  };
}
