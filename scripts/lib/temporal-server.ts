import path from 'node:path';
import { freePort, isAlive, portOpen, spawnDaemon, stopProcess, TOOLS_BIN, waitFor } from './processes';

export const TEMPORAL_BIN = path.join(TOOLS_BIN, 'temporal');
export const SEARCH_ATTRIBUTES = ['ModelName=Keyword', 'RetrainStage=Keyword'];

export interface TemporalServerOptions {
  port: number;
  uiPort?: number;
  /** SQLite file; in memory when absent. */
  dbFile?: string;
}

/** Arguments for `temporal server start-dev` with our search attributes registered. */
export function temporalArgs({ port, uiPort, dbFile }: TemporalServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  args.push(...(uiPort ? ['--ui-port', String(uiPort)] : ['--headless']));
  if (dbFile) args.push('--db-filename', dbFile);
  for (const attribute of SEARCH_ATTRIBUTES) args.push('--search-attribute', attribute);
  return args;
}

/** A Temporal dev server started by {@link startDevServer}. */
export interface DevServer {
  /** `127.0.0.1:<port>` for clients and workers. */
  address: string;
  /** The Web UI's namespace URL (`http://127.0.0.1:<ui>/namespaces/default`) when it was asked for. */
  ui?: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts an in-memory dev server (the pinned binary) on free ports, with its Web UI when `ui`, and waits until it answers. */
export async function startDevServer({ ui = false, log }: { ui?: boolean; log: string }): Promise<DevServer> {
  const port = await freePort();
  const uiPort = ui ? await freePort() : undefined;
  const pid = spawnDaemon(TEMPORAL_BIN, temporalArgs({ port, uiPort }), log);
  await waitFor(
    ui ? 'Temporal dev server and its Web UI' : 'Temporal dev server',
    async () => isAlive(pid) && (await portOpen(port)) && (uiPort === undefined || (await portOpen(uiPort))),
  );
  return {
    address: `127.0.0.1:${port}`,
    ...(uiPort === undefined ? {} : { ui: `http://127.0.0.1:${uiPort}/namespaces/default` }),
    pid,
    stop: () => stopProcess(pid, 5000),
  };
}
