import path from 'node:path';
import { TOOLS_BIN } from './processes';

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
