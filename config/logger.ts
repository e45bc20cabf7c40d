import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { LogFormat, LogLevel } from './config';

/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]';

/**
 * Field names whose values never reach a log, compared without case, `-` or `_`: the admin API key
 * (its header and any `apiKey` field), AWS credentials, and the activity task token (whoever holds it
 * can complete the activity).
 */
const SECRET_FIELDS = new Set(
  [
    'apiKey',
    'x-api-key',
    'authorization',
    'secretAccessKey',
    'accessKeyId',
    'sessionToken',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_ACCESS_KEY_ID',
    'AWS_SESSION_TOKEN',
    'RETRAIN_API_KEY',
    'secret',
    'RETRAIN_EVENTS_WEBHOOK_SECRET',
    'taskToken',
  ].map(normalizeField),
);

/** Nesting below this is left as it is: log fields are shallow, and a cycle must not hang a log call. */
const REDACT_DEPTH = 8;

function normalizeField(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/** `value` with every secret field, at any depth of plain objects and arrays, replaced by {@link REDACTED}. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth >= REDACT_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  // Errors, requests and buffers go to their serializers; only plain data is walked.
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    out[key] = SECRET_FIELDS.has(normalizeField(key)) ? REDACTED : redactSecrets(field, depth + 1);
  }
  return out;
}

/** Options of {@link createLogger}. */
export interface LoggerSettings {
  /** Names the process in every line (`name`), e.g. `cpu-worker`. */
  name?: string;
  /** @default 'json' */
  format?: LogFormat;
  /** @default 'info' */
  level?: LogLevel;
  /** Where lines go. @default stderr */
  destination?: { write(line: string): unknown };
}

/**
 * The pino options every retrain process uses: ISO time, the level as a word, errors serialized under
 * `err` and `error`, and secrets redacted by field name wherever they sit.
 */
export function loggerOptions(settings: Pick<LoggerSettings, 'name' | 'level'> = {}): LoggerOptions {
  return {
    ...(settings.name ? { name: settings.name } : {}),
    level: settings.level ?? 'info',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (fields) => redactSecrets(fields) as Record<string, unknown>,
    },
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    // Fastify logs requests through serializers, after the walk above: its headers by path.
    redact: {
      paths: ['req.headers["x-api-key"]', 'req.headers.authorization', 'headers["x-api-key"]'],
      censor: REDACTED,
    },
  };
}

/** The one logger factory: workers, the inference server and the command line all log through it. */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const destination = settings.destination ?? pino.destination({ dest: 2, sync: true });
  const tty = settings.destination
    ? (settings.destination as { isTTY?: boolean }).isTTY
    : process.stderr.isTTY;
  const stream: DestinationStream =
    settings.format === 'pretty'
      ? prettyStream(destination, tty === true)
      : (destination as DestinationStream);
  return pino(loggerOptions(settings), stream);
}

/** pino-pretty formatting in this process (no transport thread), loaded only when pretty is asked for. */
function prettyStream(destination: { write(line: string): unknown }, colorize: boolean): DestinationStream {
  const { prettyFactory } = require('pino-pretty') as typeof PinoPretty;
  const prettify = prettyFactory({ colorize, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' });
  return { write: (line: string) => destination.write(prettify(line)) };
}
