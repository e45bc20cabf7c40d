import { RUN_EVENT_TYPES, type RunEventType } from '../common/run-events';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { formatIssues } from '../common/format-issues';
import { QueryBooleanSchema } from '../common/query-boolean';
import { ModelNameSchema } from '../common/model-spec';
import { CPU_TASK_QUEUE } from '../common/task-queues';
import { durationMs, durationSchema } from '../common/durations';

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

/** How logs are written: one JSON object a line, or pino-pretty's human form. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Python's level names, as a seed's clients set LOG_LEVEL (`WARNING`, `CRITICAL`). */
const PYTHON_LOG_LEVELS: Record<string, LogLevel> = { warning: 'warn', critical: 'fatal' };

/** A log level in any case (`INFO`, `debug`), Python's names too. */
const LogLevelSchema = z
  .string()
  .trim()
  .toLowerCase()
  .transform((level) => PYTHON_LOG_LEVELS[level] ?? level)
  .pipe(z.enum(LOG_LEVELS));

const urlList = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.url({ protocol: /^https?$/ })));

/** The shortest API key accepted, from the environment or from a file. */
const MIN_API_KEY_LENGTH = 16;

/** A client timeout of the inference server: a duration of at most a day (Node's timers stop at 24.8 days). */
function timeoutSchema(examples: string) {
  return durationSchema('the timeout', examples).refine((text) => durationMs(text) <= 86_400_000, {
    message: 'the timeout must be at most 1d',
  });
}

const EnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  RETRAIN_STORE: z
    .string()
    .regex(/^(file|s3):\/\//, { message: 'must start with file:// or s3://' })
    .default('file://.data/store'),
  RETRAIN_BUFFER_DIR: z.string().min(1).default('.data/buffer'),
  RETRAIN_BUFFER_IN_STORE: z.enum(['true', 'false']).optional(),
  RETRAIN_PREDICTION_LOG_DIR: z.string().min(1).default('.data/predictions'),
  /** Share of /predict answers the prediction log records; 0 turns it off. */
  RETRAIN_PREDICTION_LOG_SAMPLE: z.coerce.number().min(0).max(1).default(1),
  /** Days the prediction log keeps answers, by the UTC day they were given. */
  RETRAIN_PREDICTION_LOG_RETENTION_DAYS: z.coerce.number().int().min(1).max(36500).default(30),
  /** Days of trigger evaluations kept in the store, by the UTC day of the check. */
  RETRAIN_EVALUATION_RETENTION_DAYS: z.coerce.number().int().min(1).max(36500).default(30),
  S3_ENDPOINT: z.url().optional(),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  RETRAIN_API_KEY: z
    .string()
    .min(MIN_API_KEY_LENGTH, { message: `must be at least ${MIN_API_KEY_LENGTH} characters` })
    .optional(),
  /** A file that holds the API key (a Docker or Kubernetes secret); instead of RETRAIN_API_KEY. */
  RETRAIN_API_KEY_FILE: z.string().min(1).optional(),
  RETRAIN_SERVING_URLS: urlList,
  TFJS_BACKEND: z.enum(BACKEND_CHOICES).default('auto'),
  GPU_SLOTS: z.coerce.number().int().min(1).max(64).default(1),
  /** Runs of the whole deployment that may run their stages at once (others wait, queued); unset: no cap. */
  RETRAIN_MAX_CONCURRENT_RUNS: z.coerce.number().int().min(1).max(100_000).optional(),
  RETRAIN_TASK_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,200}$/, { message: 'must be 1 to 200 of A-Z a-z 0-9 . _ -' })
    .default(CPU_TASK_QUEUE),
  /** The Temporal Worker Deployment the workers belong to; a deployment name may not contain a dot. */
  RETRAIN_DEPLOYMENT_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/, { message: 'must be 1 to 200 of A-Z a-z 0-9 _ -' })
    .default('retrain'),
  /** This build of the workers (a version of the deployment); default: package version + git commit. */
  RETRAIN_BUILD_ID: z
    .string()
    .regex(/^[A-Za-z0-9._+-]{1,200}$/, { message: 'must be 1 to 200 of A-Z a-z 0-9 . _ + -' })
    .optional(),
  /** `true`: a worker makes its build the deployment's current version once it polls. */
  RETRAIN_SET_CURRENT_VERSION: z.enum(['true', 'false']).default('false'),
  /** The prebuilt workflow bundle the cpu worker runs (`npm run build:workflows`). */
  RETRAIN_WORKFLOW_BUNDLE: z.string().min(1).optional(),
  BUFFER_RETENTION_DAYS: z.coerce.number().int().min(1).max(36500).default(60),
  SERVING_PORT: z.coerce.number().int().min(1).max(65535).default(8000),
  SERVING_HOST: z.string().min(1).default('127.0.0.1'),
  /** Where the fleet reaches this inference server; default http://SERVING_HOST:SERVING_PORT. */
  RETRAIN_SERVER_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Seconds between an inference server's announcements in the store. */
  RETRAIN_SERVER_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(3600).default(10),
  /** Seconds between an inference server's reads of the production aliases. */
  RETRAIN_ALIAS_POLL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(30),
  /** Bodies of POST /predict and the admin routes above this are answered 413. */
  SERVING_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 ** 3)
    .default(8 * 1024 * 1024),
  /** The same for POST /ingest. */
  SERVING_MAX_INGEST_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 ** 3)
    .default(16 * 1024 * 1024),
  /** The inference server's client timeouts (serving/http-timeouts.ts); headers at most the request's. */
  SERVING_HEADERS_TIMEOUT: timeoutSchema('20s, 1m').default('20s'),
  SERVING_REQUEST_TIMEOUT: timeoutSchema('5m, 300s').default('5m'),
  SERVING_CONNECTION_TIMEOUT: timeoutSchema('10m, 1h').default('10m'),
  /** `true`: /predict also appends its rows to the buffer for models whose spec does not say (`predictFeedsBuffer`). */
  RETRAIN_PREDICT_FEEDS_BUFFER: QueryBooleanSchema.default(false),
  /**
   * Seconds a server or bridge may take to stop after SIGTERM before it exits anyway (under Docker's
   * default stop grace of 10 s and the local stack's 15 s).
   */
  RETRAIN_SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(1).max(3600).default(8),
  /** Production models the inference server loads at once at start-up. */
  RETRAIN_LOAD_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  CPU_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  GPU_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9465),
  RETRAIN_DEFAULT_MODEL: ModelNameSchema.optional(),
  /** `true`: the FinCoach routes (/coaching/continuous-learning/...) answer without X-API-Key; logged as a warning. */
  RETRAIN_COACHING_ROUTES_OPEN: z.enum(['true', 'false']).default('false'),
  /** Comma list of the models the FinCoach routes' status and history list; absent: every model. */
  RETRAIN_COACHING_MODELS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((m) => m.trim())
        .filter((m) => m !== ''),
    )
    .pipe(z.array(ModelNameSchema).min(1))
    .optional(),
  RETRAIN_LOG_FORMAT: z.enum(LOG_FORMATS).optional(),
  RETRAIN_LOG_LEVEL: LogLevelSchema.optional(),
  /** The retraining worker's name for it; RETRAIN_LOG_LEVEL wins. */
  LOG_LEVEL: LogLevelSchema.optional(),
  /** Run events are POSTed here, signed with the secret (Standard Webhooks): https, or http to loopback. */
  RETRAIN_EVENTS_WEBHOOK_URL: z
    .url({ protocol: /^https?$/ })
    .refine((url) => url.startsWith('https:') || isLoopback(new URL(url).hostname), {
      error: (issue) =>
        `${shownUrl(String(issue.input))} must use https (http only to a loopback host: 127.0.0.1, localhost, [::1])`,
    })
    .optional(),
  /** A raw secret (its UTF-8 bytes are the key), or `whsec_` and the key in base64 (24 to 64 bytes). */
  RETRAIN_EVENTS_WEBHOOK_SECRET: z
    .string()
    .min(16, { message: 'must be at least 16 characters' })
    .refine((secret) => !secret.startsWith('whsec_') || isWhsecKey(secret.slice('whsec_'.length)), {
      message: 'a whsec_ secret must be whsec_ and the base64 of 24 to 64 random bytes',
    })
    .optional(),
  RETRAIN_EVENTS_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),
  /** How old an event may get while a sink still fails it; then it is dead-lettered. */
  RETRAIN_EVENTS_MAX_AGE: durationSchema('the age', '24h, 90m').default('24h'),
  /** Where the dashboard (/ui) links runs to. */
  RETRAIN_TEMPORAL_UI_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8233'),
  /** `true`: the dashboard's reads (/ui/api/...) answer without X-API-Key; logged as a warning. */
  RETRAIN_DASHBOARD_PUBLIC: QueryBooleanSchema.default(false),
  /** Where `retrain bridge redis` reads jobs (default: RETRAIN_EVENTS_REDIS_URL). */
  RETRAIN_BRIDGE_REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  /** The retraining worker's name for its Redis: the bridge's when the two above are unset. */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  RETRAIN_BRIDGE_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9466),
  /** Run events are added to Redis streams here. */
  RETRAIN_EVENTS_REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  RETRAIN_REDIS_STREAM_PREFIX: z.string().max(200).default('quantum:stream:'),
  /** Keys INCRed when a run starts and when one completes (empty: none); unset, the retraining worker's. */
  RETRAIN_REDIS_STARTED_COUNTER: z.string().max(200).optional(),
  RETRAIN_REDIS_COMPLETED_COUNTER: z.string().max(200).optional(),
  /** JSON object: event type to stream name (after the prefix), over the defaults. */
  RETRAIN_REDIS_STREAMS: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined) return {};
      try {
        return z.partialRecord(z.enum(RUN_EVENT_TYPES), z.string().min(1)).parse(JSON.parse(text));
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: `must be a JSON object of event type (${RUN_EVENT_TYPES.join(', ')}) to stream name`,
        });
        return z.NEVER;
      }
    }),
});

export interface Config {
  temporal: { address: string; namespace: string };
  store: string;
  bufferDir: string;
  /**
   * The data buffer lives in the store, shared by every host, and `bufferDir` is a cache
   * (`RETRAIN_BUFFER_IN_STORE`; by default with an s3:// store, a fleet's), else on this host's disk.
   */
  bufferInStore: boolean;
  /** Where the inference server records its answers, and the share it records (0: none). */
  predictionLog: { dir: string; sample: number; retentionDays: number };
  s3: { endpoint?: string; region: string; accessKeyId?: string; secretAccessKey?: string };
  /**
   * RETRAIN_API_KEY, or the contents of RETRAIN_API_KEY_FILE; with a file:// store only, else
   * `.data/api-key`. Undefined when none of them gives one (the admin and ingest routes are then closed).
   */
  apiKey?: string;
  servingUrls: string[];
  backend: (typeof BACKEND_CHOICES)[number];
  gpuSlots: number;
  /** `RETRAIN_MAX_CONCURRENT_RUNS`: the cpu worker's cap on the deployment's concurrent runs; absent, none. */
  maxConcurrentRuns?: number;
  /** The cpu task queue the workers poll; the gpu worker polls its `-gpu` pair. */
  taskQueue: string;
  /**
   * The Worker Deployment Version the workers poll as (`buildId` undefined: the default build id),
   * and whether they make it current once polling (the local stack and tests do; see docs/upgrades.md).
   */
  deployment: { name: string; buildId?: string; setCurrent: boolean };
  /**
   * The cpu worker's prebuilt workflow bundle; `required` when RETRAIN_WORKFLOW_BUNDLE names it,
   * else the worker bundles the sources at start when the default file is missing.
   */
  workflowBundle: { path: string; required: boolean };
  bufferRetentionDays: number;
  /** `RETRAIN_EVALUATION_RETENTION_DAYS`: trigger evaluations older than this many days are deleted. */
  evaluationRetentionDays: number;
  /**
   * Where the inference server listens, its request body limits (bytes), and whether /predict feeds
   * the buffer for models whose spec does not say.
   */
  serving: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    ingestBodyLimitBytes: number;
    predictFeedsBuffer: boolean;
    /** `RETRAIN_LOAD_CONCURRENCY`: production models loaded at once at start-up. */
    loadConcurrency: number;
    /** `SERVING_HEADERS_TIMEOUT`, `SERVING_REQUEST_TIMEOUT`, `SERVING_CONNECTION_TIMEOUT` in ms. */
    timeouts: { headersMs: number; requestMs: number; connectionMs: number };
  };
  /**
   * How the inference server takes part in the fleet (docs/fleet.md "Server discovery"): the URL it
   * announces (`RETRAIN_SERVER_URL`), its heartbeat and its alias poll, in seconds.
   */
  fleet: { serverUrl: string; heartbeatSeconds: number; aliasPollSeconds: number };
  /** `RETRAIN_SHUTDOWN_GRACE_SECONDS` in ms: how long the server and the bridges may take to stop. */
  shutdownGraceMs: number;
  /** Where the workers' Prometheus endpoints bind (`METRICS_HOST`); port 0 turns one off. */
  metricsHost: string;
  metricsPorts: { cpu: number; gpu: number };
  /**
   * `RETRAIN_LOG_FORMAT`; unset, workers and the server write JSON and the command line writes JSON
   * when stderr is not a terminal (plain lines when it is).
   */
  logFormat?: LogFormat;
  logLevel: LogLevel;
  /** The model the daemon-style admin routes mean when a request names none. */
  defaultModel?: string;
  /** `RETRAIN_COACHING_ROUTES_OPEN`: the FinCoach routes take requests without the API key (an explicit opt-in). */
  coachingRoutesOpen: boolean;
  /** `RETRAIN_COACHING_MODELS`. */
  coachingModels?: string[];
  /** The Temporal Web UI, for the dashboard's links. */
  temporalUiUrl: string;
  /** `RETRAIN_DASHBOARD_PUBLIC`: the dashboard's reads take requests without the API key (an explicit opt-in). */
  dashboardPublic: boolean;
  /** `retrain bridge redis`: its Redis (else the events'), the stream prefix, its metrics port (0: off). */
  bridge: { redisUrl?: string; streamPrefix: string; metricsPort: number };
  /**
   * Where run events go: none, one or both sinks; `maxAgeMs` (`RETRAIN_EVENTS_MAX_AGE`): how old an
   * event may get while a sink still fails it before it is dead-lettered.
   */
  events: {
    maxAgeMs: number;
    webhook?: { url: string; secret: string; timeoutMs: number };
    redis?: {
      url: string;
      prefix: string;
      streams: Partial<Record<RunEventType, string>>;
      /** Keys INCRed on a run's start and completion, where set (the sink's defaults otherwise). */
      counters?: { started?: string; completed?: string };
    };
  };
}

/** Thrown at start-up when an environment variable is malformed; the message names it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * The local stack keeps a generated admin key here when RETRAIN_API_KEY is not set; read only with a
 * file:// store, since hosts of a fleet (an s3:// store) must not each depend on a key of their own disk.
 */
export const LOCAL_API_KEY_FILE = '.data/api-key';

/** Where `npm run build:workflows` writes the workflow bundle, which the cpu worker runs when it exists. */
export const DEFAULT_WORKFLOW_BUNDLE = 'dist/workflow-bundle.js';

/** Parses the environment once; every other module receives the result. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(`Invalid environment: ${formatIssues(parsed.error)}`);
  const e = parsed.data;
  if (durationMs(e.SERVING_HEADERS_TIMEOUT) > durationMs(e.SERVING_REQUEST_TIMEOUT))
    throw new ConfigError(
      `Invalid environment: SERVING_HEADERS_TIMEOUT (${e.SERVING_HEADERS_TIMEOUT}) must not exceed SERVING_REQUEST_TIMEOUT (${e.SERVING_REQUEST_TIMEOUT})`,
    );
  return {
    temporal: { address: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE },
    store: e.RETRAIN_STORE,
    bufferDir: path.resolve(cwd, e.RETRAIN_BUFFER_DIR),
    bufferInStore: (e.RETRAIN_BUFFER_IN_STORE ?? String(e.RETRAIN_STORE.startsWith('s3://'))) === 'true',
    predictionLog: {
      dir: path.resolve(cwd, e.RETRAIN_PREDICTION_LOG_DIR),
      sample: e.RETRAIN_PREDICTION_LOG_SAMPLE,
      retentionDays: e.RETRAIN_PREDICTION_LOG_RETENTION_DAYS,
    },
    s3: {
      endpoint: e.S3_ENDPOINT,
      region: e.AWS_REGION,
      accessKeyId: e.AWS_ACCESS_KEY_ID,
      secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
    },
    apiKey: apiKeyOf(e, cwd),
    servingUrls: e.RETRAIN_SERVING_URLS,
    backend: e.TFJS_BACKEND,
    gpuSlots: e.GPU_SLOTS,
    ...(e.RETRAIN_MAX_CONCURRENT_RUNS === undefined
      ? {}
      : { maxConcurrentRuns: e.RETRAIN_MAX_CONCURRENT_RUNS }),
    taskQueue: e.RETRAIN_TASK_QUEUE,
    deployment: {
      name: e.RETRAIN_DEPLOYMENT_NAME,
      buildId: e.RETRAIN_BUILD_ID,
      setCurrent: e.RETRAIN_SET_CURRENT_VERSION === 'true',
    },
    workflowBundle: {
      path: path.resolve(cwd, e.RETRAIN_WORKFLOW_BUNDLE ?? DEFAULT_WORKFLOW_BUNDLE),
      required: e.RETRAIN_WORKFLOW_BUNDLE !== undefined,
    },
    bufferRetentionDays: e.BUFFER_RETENTION_DAYS,
    evaluationRetentionDays: e.RETRAIN_EVALUATION_RETENTION_DAYS,
    serving: {
      host: e.SERVING_HOST,
      port: e.SERVING_PORT,
      bodyLimitBytes: e.SERVING_MAX_BODY_BYTES,
      ingestBodyLimitBytes: e.SERVING_MAX_INGEST_BODY_BYTES,
      predictFeedsBuffer: e.RETRAIN_PREDICT_FEEDS_BUFFER,
      loadConcurrency: e.RETRAIN_LOAD_CONCURRENCY,
      timeouts: {
        headersMs: durationMs(e.SERVING_HEADERS_TIMEOUT),
        requestMs: durationMs(e.SERVING_REQUEST_TIMEOUT),
        connectionMs: durationMs(e.SERVING_CONNECTION_TIMEOUT),
      },
    },
    fleet: {
      serverUrl: e.RETRAIN_SERVER_URL ?? listenUrl(e.SERVING_HOST, e.SERVING_PORT),
      heartbeatSeconds: e.RETRAIN_SERVER_HEARTBEAT_SECONDS,
      aliasPollSeconds: e.RETRAIN_ALIAS_POLL_SECONDS,
    },
    shutdownGraceMs: e.RETRAIN_SHUTDOWN_GRACE_SECONDS * 1000,
    metricsHost: e.METRICS_HOST,
    metricsPorts: { cpu: e.CPU_METRICS_PORT, gpu: e.GPU_METRICS_PORT },
    logFormat: e.RETRAIN_LOG_FORMAT,
    logLevel: e.RETRAIN_LOG_LEVEL ?? e.LOG_LEVEL ?? 'info',
    defaultModel: e.RETRAIN_DEFAULT_MODEL,
    coachingRoutesOpen: e.RETRAIN_COACHING_ROUTES_OPEN === 'true',
    ...(e.RETRAIN_COACHING_MODELS ? { coachingModels: e.RETRAIN_COACHING_MODELS } : {}),
    temporalUiUrl: e.RETRAIN_TEMPORAL_UI_URL.replace(/\/$/, ''),
    dashboardPublic: e.RETRAIN_DASHBOARD_PUBLIC,
    bridge: {
      redisUrl: e.RETRAIN_BRIDGE_REDIS_URL ?? e.RETRAIN_EVENTS_REDIS_URL ?? e.REDIS_URL,
      streamPrefix: e.RETRAIN_REDIS_STREAM_PREFIX,
      metricsPort: e.RETRAIN_BRIDGE_METRICS_PORT,
    },
    events: eventSinks(e),
  };
}

/** The counter keys set (RETRAIN_REDIS_STARTED_COUNTER, RETRAIN_REDIS_COMPLETED_COUNTER), if any. */
function counters(e: z.infer<typeof EnvSchema>): { counters?: { started?: string; completed?: string } } {
  const { RETRAIN_REDIS_STARTED_COUNTER: started, RETRAIN_REDIS_COMPLETED_COUNTER: completed } = e;
  if (started === undefined && completed === undefined) return {};
  return {
    counters: {
      ...(started !== undefined ? { started } : {}),
      ...(completed !== undefined ? { completed } : {}),
    },
  };
}

/** Whether a URL's host is this machine: the one place a webhook may take plain http. */
function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/** A URL for a message: without its query (which may hold a token) or credentials. */
function shownUrl(text: string): string {
  try {
    const url = new URL(text);
    return `${url.origin}${url.pathname}`;
  } catch {
    return 'the URL';
  }
}

/** Whether `text` is base64 of 24 to 64 bytes: a Standard Webhooks key. */
function isWhsecKey(text: string): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return false;
  const bytes = Buffer.from(text, 'base64').length;
  return bytes >= 24 && bytes <= 64;
}

function eventSinks(e: z.infer<typeof EnvSchema>): Config['events'] {
  if (e.RETRAIN_EVENTS_WEBHOOK_URL && !e.RETRAIN_EVENTS_WEBHOOK_SECRET)
    throw new ConfigError(
      'Invalid environment: RETRAIN_EVENTS_WEBHOOK_SECRET is required with RETRAIN_EVENTS_WEBHOOK_URL (receivers check the signature)',
    );
  return {
    maxAgeMs: durationMs(e.RETRAIN_EVENTS_MAX_AGE),
    ...(e.RETRAIN_EVENTS_WEBHOOK_URL && e.RETRAIN_EVENTS_WEBHOOK_SECRET
      ? {
          webhook: {
            url: e.RETRAIN_EVENTS_WEBHOOK_URL,
            secret: e.RETRAIN_EVENTS_WEBHOOK_SECRET,
            timeoutMs: e.RETRAIN_EVENTS_WEBHOOK_TIMEOUT_MS,
          },
        }
      : {}),
    ...(e.RETRAIN_EVENTS_REDIS_URL
      ? {
          redis: {
            url: e.RETRAIN_EVENTS_REDIS_URL,
            prefix: e.RETRAIN_REDIS_STREAM_PREFIX,
            streams: e.RETRAIN_REDIS_STREAMS,
            ...counters(e),
          },
        }
      : {}),
  };
}

/**
 * The API key: RETRAIN_API_KEY, or RETRAIN_API_KEY_FILE's contents (trimmed), never both; else, with a
 * file:// store, the local stack's `.data/api-key`. Errors name the variable and the file, never the key.
 */
function apiKeyOf(e: z.infer<typeof EnvSchema>, cwd: string): string | undefined {
  if (e.RETRAIN_API_KEY !== undefined && e.RETRAIN_API_KEY_FILE !== undefined)
    throw new ConfigError(
      'Invalid environment: set RETRAIN_API_KEY or RETRAIN_API_KEY_FILE, not both (which key is meant?)',
    );
  if (e.RETRAIN_API_KEY_FILE !== undefined) return readApiKeyFile(path.resolve(cwd, e.RETRAIN_API_KEY_FILE));
  if (e.RETRAIN_API_KEY !== undefined) return e.RETRAIN_API_KEY;
  return e.RETRAIN_STORE.startsWith('file://')
    ? readLocalApiKey(path.resolve(cwd, LOCAL_API_KEY_FILE))
    : undefined;
}

function readApiKeyFile(file: string): string {
  let key: string;
  try {
    key = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`Invalid environment: RETRAIN_API_KEY_FILE: cannot read ${file} (${reason})`);
  }
  if (key.length < MIN_API_KEY_LENGTH)
    throw new ConfigError(
      `Invalid environment: RETRAIN_API_KEY_FILE: ${file} holds a key of ${key.length} characters; it must be at least ${MIN_API_KEY_LENGTH}`,
    );
  return key;
}

/** `http://host:port` of the inference server's listen address (an IPv6 host in brackets). */
function listenUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function readLocalApiKey(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
