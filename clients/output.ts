import type { Logger } from 'pino';
import { ModelNameSchema } from '../common/model-spec';
import type { LogFormat } from '../config/config';
import { createLogger } from '../config/logger';

/** Thrown for bad command-line usage; printed as one line with the command's usage, exit code 2. */
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
 * (logs, live progress, errors) on stderr.
 */
export interface CommandOutput {
  /** A log line; `fields` (ids, counts) travel as JSON fields when logs are JSON. */
  log(line: string, fields?: Record<string, unknown>): void;
  progress(line: string): void;
  endProgress(): void;
  result(json: boolean | undefined, value: unknown, text: string): void;
  /** Text as it is on stdout: help and version. */
  writeOut(text: string): void;
  /** Text as it is on stderr: the one-line reason of a failure, usage after a usage error. */
  writeErr(text: string): void;
  /** `--log-format` (or RETRAIN_LOG_FORMAT), once the command line is parsed; unset keeps the default. */
  useLogFormat?(format: LogFormat | undefined): void;
}

/** The part of a stream the output needs; process.stdout and process.stderr are ones. */
export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Output to a terminal or a pipe. Live progress redraws one line in place on a TTY, cut to its width
 * so it never wraps; piped, it prints a line only when it changed, so logs do not fill with repeats.
 * Log lines are JSON (the shared pino logger) when stderr is not a TTY or `json` is asked for,
 * pino-pretty's form when `pretty` is, and plain lines on a terminal otherwise.
 */
export function terminalOutput(
  stdout: OutputStream = process.stdout,
  stderr: OutputStream = process.stderr,
  logFormat?: LogFormat,
): CommandOutput {
  let live = false;
  let last: string | undefined;
  let format = logFormat;
  let logger: Logger | undefined;
  const structured = () => format !== undefined || !stderr.isTTY;
  return {
    log: (line, fields) => {
      if (!structured()) {
        stderr.write(`${line}\n`);
        return;
      }
      logger ??= createLogger({ name: 'retrain', format: format ?? 'json', destination: stderr });
      logger.info(fields ?? {}, line);
    },
    useLogFormat: (next) => {
      if (next === format) return;
      format = next;
      logger = undefined;
    },
    progress: (line) => {
      if (stderr.isTTY) {
        stderr.write(`\r\x1b[2K${fitWidth(line, stderr.columns)}`);
        live = true;
      } else if (line !== last) {
        stderr.write(`${line}\n`);
        last = line;
      }
    },
    endProgress: () => {
      if (live) stderr.write('\n');
      live = false;
      last = undefined;
    },
    result: (json, value, text) => stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`),
    writeOut: (text) => stdout.write(text),
    writeErr: (text) => stderr.write(text),
  };
}

/** The line cut to one column less than the terminal: writing into the last column makes some terminals wrap. */
function fitWidth(line: string, columns: number | undefined): string {
  if (!columns || columns < 2) return line;
  const chars = [...line];
  return chars.length < columns ? line : chars.slice(0, columns - 1).join('');
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
