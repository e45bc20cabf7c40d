/** Thrown for bad command-line usage; printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Where a command writes: the result on stdout (one JSON document with --json), everything else
 * (logs, live progress) on stderr.
 */
export interface CommandOutput {
  log(line: string): void;
  progress(line: string): void;
  endProgress(): void;
  result(json: boolean | undefined, value: unknown, text: string): void;
}

export function terminalOutput(
  stdout: NodeJS.WriteStream = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
): CommandOutput {
  let live = false;
  return {
    log: (line) => stderr.write(`${line}\n`),
    progress: (line) => {
      if (stderr.isTTY) {
        stderr.write(`\r\x1b[2K${line}`);
        live = true;
      } else stderr.write(`${line}\n`);
    },
    endProgress: () => {
      if (live) stderr.write('\n');
      live = false;
    },
    result: (json, value, text) => stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`),
  };
}
