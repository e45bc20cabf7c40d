import { ModelNameSchema } from '../common/model-spec';
/** Thrown for bad command-line usage; printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A model name from the command line, checked before it reaches the store, a query or a workflow id. */
export function parseModelName(value: string | undefined, what = '--model'): string {
  if (value === undefined) throw new UsageError(`${what} is required`);
  const parsed = ModelNameSchema.safeParse(value);
  if (!parsed.success)
    throw new UsageError(
      `invalid ${what} ${JSON.stringify(value)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    );
  return parsed.data;
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

/** Left-aligned columns two spaces apart, header first: the text form of list-like results. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
