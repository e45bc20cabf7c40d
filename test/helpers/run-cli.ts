import { main } from '../../clients/cli';
import type { CommandOutput } from '../../clients/output';
import type { Config } from '../../config/config';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The `retrain` command line in-process, with `config` instead of the environment (build one with
 * `loadConfig({ ...overrides }, dir)`): `const retrain = cliWith(config); await retrain('list', '--json')`.
 * Without a config, a command that runs reads process.env as the real one does.
 */
export function cliWith(config?: Config): (...argv: string[]) => Promise<CliResult> {
  return async (...argv) => {
    let stdout = '';
    let stderr = '';
    const out: CommandOutput = {
      log: (line) => (stderr += `${line}\n`),
      progress: () => {},
      endProgress: () => {},
      result: (json, value, text) => (stdout += json ? JSON.stringify(value) : text),
      writeOut: (text) => (stdout += text),
      writeErr: (text) => (stderr += text),
    };
    return { code: await main(argv, out, config), stdout, stderr };
  };
}
