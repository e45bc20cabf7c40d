import path from 'node:path';
import {
  freePort,
  isAlive,
  killProcess,
  portOpen,
  spawnDaemon,
  stopProcess,
  TOOLS_BIN,
  waitFor,
} from './processes';

export const TEMPORAL_BIN = path.join(TOOLS_BIN, 'temporal');
export const SEARCH_ATTRIBUTES = ['ModelName=Keyword', 'RetrainStage=Keyword'];
/**
 * Dispatch by task priority and fairness key (common/task-priority.ts): off by default in server
 * 1.29, where tasks keep their arrival order and the keys are only recorded. One partition per task
 * queue (4 by default, each ordering only its own tasks): a single server's queues need no more, and
 * the order then holds across the whole queue.
 */
export const DYNAMIC_CONFIG = [
  'matching.enableFairness=true',
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
];

export interface TemporalServerOptions {
  port: number;
  /** The address it listens on. @default 127.0.0.1 */
  ip?: string;
  uiPort?: number;
  /** SQLite file; in memory when absent. */
  dbFile?: string;
}

/** Arguments for `temporal server start-dev` with our search attributes registered and fair dispatch on. */
export function temporalArgs({ port, ip = '127.0.0.1', uiPort, dbFile }: TemporalServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--log-level', 'warn'];
  args.push(...(uiPort ? ['--ui-port', String(uiPort)] : ['--headless']));
  if (dbFile) args.push('--db-filename', dbFile);
  for (const attribute of SEARCH_ATTRIBUTES) args.push('--search-attribute', attribute);
  for (const value of DYNAMIC_CONFIG) args.push('--dynamic-config-value', value);
  return args;
}

/** A Temporal dev server started by {@link startDevServer}. */
export interface DevServer {
  /** `127.0.0.1:<port>` for clients and workers. */
  address: string;
  port: number;
  /** The SQLite file it keeps its state in; absent when in memory. */
  dbFile?: string;
  /** The Web UI's namespace URL (`http://127.0.0.1:<ui>/namespaces/default`) when it was asked for. */
  ui?: string;
  pid: number;
  stop(): Promise<void>;
  /** SIGKILL, as a crash or an OOM kill would end it; resolves once it is gone. */
  kill(): Promise<void>;
}

/** Options of {@link startDevServer}. */
export interface StartDevServerOptions {
  /** The file its output is appended to. */
  log: string;
  /** Also serve the Web UI (on a free port). @default false */
  ui?: boolean;
  /** The gRPC port; a free one when absent. A restart passes the port the first server had. */
  port?: number;
  /** Keep the state in this SQLite file (a restart on it finds every workflow); in memory when absent. */
  dbFile?: string;
}

/** Starts a dev server (the pinned binary) with our search attributes, and waits until it answers. */
export async function startDevServer({
  ui = false,
  log,
  port,
  dbFile,
}: StartDevServerOptions): Promise<DevServer> {
  const grpcPort = port ?? (await freePort());
  const uiPort = ui ? await freePort() : undefined;
  const pid = spawnDaemon(TEMPORAL_BIN, temporalArgs({ port: grpcPort, uiPort, dbFile }), log);
  try {
    await waitFor(
      ui ? 'Temporal dev server and its Web UI' : 'Temporal dev server',
      async () =>
        isAlive(pid) && (await portOpen(grpcPort)) && (uiPort === undefined || (await portOpen(uiPort))),
    );
  } catch (err) {
    await killProcess(pid);
    throw err;
  }
  return {
    address: `127.0.0.1:${grpcPort}`,
    port: grpcPort,
    ...(dbFile === undefined ? {} : { dbFile }),
    ...(uiPort === undefined ? {} : { ui: `http://127.0.0.1:${uiPort}/namespaces/default` }),
    pid,
    stop: () => stopProcess(pid, 5000),
    kill: () => killProcess(pid),
  };
}
