import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  httpOk,
  isAlive,
  portOpen,
  ROOT,
  spawnDaemon,
  stopProcess,
  TOOLS_BIN,
  waitFor,
} from './lib/processes';
import { TEMPORAL_BIN, temporalArgs } from './lib/temporal-server';
import { DefaultLogger } from '@temporalio/worker';
import { DEFAULT_WORKFLOW_BUNDLE } from '../config/config';
import { writeWorkflowBundle } from '../workers/workflow-bundle';
import { defaultBuildId } from '../workers/build-id';

/** The local stack's state: pid files, logs, data, generated secrets (RETRAIN_STACK_DIR, else .data/). */
const DATA = path.resolve(process.env.RETRAIN_STACK_DIR ?? path.join(ROOT, '.data'));
const PIDS = path.join(DATA, 'pids');
const LOGS = path.join(DATA, 'logs');

interface Part {
  name: string;
  url: string;
  ready: () => Promise<boolean>;
  command: () => [string, string[]];
  /** The scripts/setup.js part that installs its program; set up before it starts. */
  setup?: string;
  /** Work done just before it starts. */
  prepare?: () => Promise<void>;
  /** How long `down` waits after SIGTERM before SIGKILL (stopProcess's default when absent). */
  stopGraceMs?: number;
}

/** Local credentials and admin key, generated once and kept under .data/ (mode 0600). */
/** The local stack's API key (RETRAIN_API_KEY, RETRAIN_API_KEY_FILE's, or the one it generated in .data/api-key). */
export function localApiKey(): string {
  const file = process.env.RETRAIN_API_KEY_FILE;
  return file ? fs.readFileSync(file, 'utf8').trim() : (localSecrets().RETRAIN_API_KEY as string);
}

function localSecrets(): NodeJS.ProcessEnv {
  fs.mkdirSync(path.join(DATA, 'minio'), { recursive: true });
  const apiKeyFile = path.join(DATA, 'api-key');
  if (!fs.existsSync(apiKeyFile))
    fs.writeFileSync(apiKeyFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const credsFile = path.join(DATA, 'minio', 'credentials.json');
  if (!fs.existsSync(credsFile)) {
    const creds = {
      accessKeyId: `retrain${randomBytes(6).toString('hex')}`,
      secretAccessKey: randomBytes(18).toString('hex'),
    };
    fs.writeFileSync(credsFile, JSON.stringify(creds), { mode: 0o600 });
  }
  const creds = JSON.parse(fs.readFileSync(credsFile, 'utf8')) as {
    accessKeyId: string;
    secretAccessKey: string;
  };
  return {
    // A key file is passed on as it is: the parts refuse RETRAIN_API_KEY beside it.
    ...(process.env.RETRAIN_API_KEY_FILE
      ? {}
      : { RETRAIN_API_KEY: process.env.RETRAIN_API_KEY ?? fs.readFileSync(apiKeyFile, 'utf8').trim() }),
    MINIO_ROOT_USER: creds.accessKeyId,
    MINIO_ROOT_PASSWORD: creds.secretAccessKey,
  };
}

const node = (entry: string): [string, string[]] => [
  process.execPath,
  ['--require', 'tsx/cjs', path.join(ROOT, entry)],
];

/**
 * The Redis that events or the bridge are configured with (RETRAIN_EVENTS_REDIS_URL,
 * RETRAIN_BRIDGE_REDIS_URL), when it is on this machine: the stack runs it (and the bridge).
 */
function localRedisPort(): number | undefined {
  const url = process.env.RETRAIN_BRIDGE_REDIS_URL ?? process.env.RETRAIN_EVENTS_REDIS_URL;
  if (!url) return undefined;
  const { hostname, port } = new URL(url);
  return ['127.0.0.1', 'localhost'].includes(hostname) ? Number(port || 6379) : undefined;
}

const redisParts = (port: number): Part[] => [
  {
    name: 'redis',
    url: `redis://127.0.0.1:${port}`,
    ready: () => portOpen(port),
    setup: 'redis-server',
    command: () => [
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        path.join(DATA, 'redis'),
        '--appendonly',
        'yes',
      ],
    ],
  },
  {
    name: 'bridge',
    url: 'redis jobs -> runs, metrics http://127.0.0.1:9466/metrics',
    ready: () => httpOk('http://127.0.0.1:9466/metrics'),
    command: () => [process.execPath, [path.join(ROOT, 'bin', 'retrain.js'), 'bridge', 'redis']],
  },
];

/**
 * `retrain bridge sqlite` over a Streamlit frontend's job table, where RETRAIN_SQLITE_BRIDGE_DB (the
 * file) and RETRAIN_SQLITE_BRIDGE_TIMEFRAMES (`15m=long:short,1h=long:short`) name one.
 */
function sqliteBridgeParts(): Part[] {
  const db = process.env.RETRAIN_SQLITE_BRIDGE_DB;
  const timeframes = process.env.RETRAIN_SQLITE_BRIDGE_TIMEFRAMES;
  if (!db || !timeframes) return [];
  const file = path.resolve(db);
  return [
    {
      name: 'sqlite-bridge',
      url: `training_jobs in ${file} -> runs, metrics http://127.0.0.1:9468/metrics`,
      ready: () => httpOk('http://127.0.0.1:9468/metrics'),
      command: () => [
        process.execPath,
        [path.join(ROOT, 'bin', 'retrain.js'), 'bridge', 'sqlite', '--db', file, '--timeframe', timeframes],
      ],
    },
  ];
}

const PARTS: Part[] = [
  {
    name: 'temporal',
    url: 'temporal 127.0.0.1:7233, Web UI http://127.0.0.1:8233',
    ready: async () => (await portOpen(7233)) && (await httpOk('http://127.0.0.1:8233/')),
    command: () => [
      TEMPORAL_BIN,
      temporalArgs({ port: 7233, uiPort: 8233, dbFile: path.join(DATA, 'temporal.db') }),
    ],
  },
  {
    name: 'minio',
    url: 's3 http://127.0.0.1:9000',
    ready: () => httpOk('http://127.0.0.1:9000/minio/health/live'),
    setup: 'minio',
    command: () => [
      path.join(TOOLS_BIN, 'minio'),
      [
        'server',
        path.join(DATA, 'minio', 'data'),
        '--address',
        '127.0.0.1:9000',
        '--console-address',
        '127.0.0.1:9001',
        '--quiet',
      ],
    ],
  },
  {
    name: 'serving',
    url: 'inference http://127.0.0.1:8000',
    ready: () => httpOk('http://127.0.0.1:8000/healthz'),
    command: () => node('serving/main.ts'),
  },
  {
    name: 'cpu-worker',
    url: 'queue retrain, metrics http://127.0.0.1:9464/metrics',
    ready: () => httpOk('http://127.0.0.1:9464/metrics'),
    // The workflows as they are now: the worker runs this bundle, never a stale one.
    prepare: () => writeWorkflowBundle(path.join(ROOT, DEFAULT_WORKFLOW_BUNDLE), new DefaultLogger('WARN')),
    command: () => node('workers/cpu.ts'),
  },
  {
    name: 'gpu-worker',
    url: 'queue retrain-gpu, metrics http://127.0.0.1:9465/metrics',
    ready: () => httpOk('http://127.0.0.1:9465/metrics'),
    command: () => node('workers/gpu.ts'),
  },
];

/** The Python trainer's virtual environment (scripts/lib/python-env.js, `node scripts/setup.js python`). */
const PYTHON = (
  createRequire(__filename)('./lib/python-env.js') as { pythonEnvPaths(root: string): { python: string } }
).pythonEnvPaths(ROOT).python;

/**
 * The Python trainer worker (trainers/python) on `<queue>-py`: the workflows' trainModel for specs with
 * `"trainer": "python"`. Unversioned on purpose (docs/upgrades.md#the-python-trainer-worker); its
 * store, Temporal address, log level and build id come from the same environment as the other workers.
 */
const PY_WORKER: Part = {
  name: 'py-worker',
  url: 'queue retrain-py, metrics http://127.0.0.1:9467/metrics',
  ready: () => httpOk('http://127.0.0.1:9467/metrics'),
  // Its environment is set up in up(), before any part starts: a cold install takes minutes, and
  // setUp blocks, which would run out the other parts' start-up clocks.
  command: () => [PYTHON, ['-m', 'retrain_trainer']],
  // SIGTERM gives a running training 30 s to checkpoint and end as TrainingInterrupted.
  stopGraceMs: 35_000,
};

/**
 * Whether the stack runs the Python trainer: RETRAIN_PYTHON_TRAINER=true (which installs its
 * environment, minutes the first time), `false` (never), or unset: when `.tools/py` exists.
 */
function pythonTrainer(): boolean {
  const wanted = process.env.RETRAIN_PYTHON_TRAINER;
  if (wanted !== undefined && wanted !== '') {
    if (!['true', 'false'].includes(wanted))
      throw new Error(`RETRAIN_PYTHON_TRAINER: expected true or false, got ${JSON.stringify(wanted)}`);
    return wanted === 'true';
  }
  return fs.existsSync(PYTHON);
}

/** Whether S3_ENDPOINT names the stack's MinIO (port 9000 on this machine). */
function localS3(): boolean {
  if (!process.env.S3_ENDPOINT) return false;
  const { hostname, port } = new URL(process.env.S3_ENDPOINT);
  return ['127.0.0.1', 'localhost'].includes(hostname) && port === '9000';
}

/**
 * Every part of this stack: MinIO only where S3_ENDPOINT names it, Redis and the bridge only where
 * a local Redis is configured (the default file store needs neither), the Python trainer worker
 * where {@link pythonTrainer} says so, the job table's bridge where {@link sqliteBridgeParts} does.
 */
function stackParts(): Part[] {
  const redisPort = localRedisPort();
  const parts = localS3() ? PARTS : PARTS.filter((part) => part.name !== 'minio');
  return [
    ...parts,
    ...(pythonTrainer() ? [PY_WORKER] : []),
    ...(redisPort === undefined ? [] : redisParts(redisPort)),
    ...sqliteBridgeParts(),
  ];
}

/** Installs a part's program when it is missing (scripts/setup.js <part>; instant when it is there). */
function setUp(part: string): void {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'setup.js'), part], {
    stdio: ['ignore', 2, 2],
  });
}

function readPid(name: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(PIDS, `${name}.pid`), 'utf8'));
    return isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The servers: every other part connects to them, and to nothing else in the stack. */
const SERVERS = new Set(['temporal', 'minio', 'redis']);

/**
 * Starts every part that does not answer yet and waits until each answers: the servers first, then
 * the rest together (on two cores the workers' and the server's start-up overlap).
 */
export async function up(): Promise<void> {
  const env = {
    ...process.env,
    ...localSecrets(),
    RETRAIN_SERVING_URLS: process.env.RETRAIN_SERVING_URLS ?? 'http://127.0.0.1:8000',
    // The demo's forecaster: the daemon's documented clients name no model (see docs/http-api.md, training admin API).
    RETRAIN_DEFAULT_MODEL: process.env.RETRAIN_DEFAULT_MODEL ?? 'flight-delay',
    // The workers' build (the checkout's commit) becomes current, so new runs start on the code just started.
    RETRAIN_SET_CURRENT_VERSION: process.env.RETRAIN_SET_CURRENT_VERSION ?? 'true',
    // One build for every worker started now: a commit landing between two workers' starts must not
    // split them into two versions (a Pinned run needs its own version's workers on every queue).
    RETRAIN_BUILD_ID: process.env.RETRAIN_BUILD_ID ?? defaultBuildId(),
    // The Python trainer's queue follows the workers' (retrain -> retrain-py), as the workflow derives it.
    RETRAIN_PY_TASK_QUEUE:
      process.env.RETRAIN_PY_TASK_QUEUE ?? `${process.env.RETRAIN_TASK_QUEUE || 'retrain'}-py`,
  };
  fs.mkdirSync(PIDS, { recursive: true });
  fs.mkdirSync(path.join(DATA, 'redis'), { recursive: true });
  const parts = stackParts();
  if (parts.includes(PY_WORKER)) setUp('python');
  await Promise.all(parts.filter((part) => SERVERS.has(part.name)).map((part) => startPart(part, env)));
  await Promise.all(parts.filter((part) => !SERVERS.has(part.name)).map((part) => startPart(part, env)));
}

async function startPart(part: Part, env: NodeJS.ProcessEnv): Promise<void> {
  if (await part.ready()) {
    console.error(`[stack] ${part.name.padEnd(10)} already up   ${part.url}`);
    return;
  }
  const started = Date.now();
  if (part.setup) setUp(part.setup);
  await part.prepare?.();
  const [command, args] = part.command();
  const log = path.join(LOGS, `${part.name}.log`);
  const pid = spawnDaemon(command, args, log, env);
  fs.writeFileSync(path.join(PIDS, `${part.name}.pid`), String(pid));
  await waitFor(
    `${part.name} (log: ${path.relative(ROOT, log)})`,
    async () => {
      if (!isAlive(pid))
        throw new Error(`${part.name} exited during start-up; see ${path.relative(ROOT, log)}`);
      return part.ready();
    },
    120_000,
  );
  console.error(
    `[stack] ${part.name.padEnd(10)} started in ${((Date.now() - started) / 1000).toFixed(1)} s   ${part.url}`,
  );
}

/**
 * Stops every part that has a pid file, in the reverse of the start order, whatever this environment
 * would start now: a stack brought up with Redis and the bridge (RETRAIN_EVENTS_REDIS_URL) and brought
 * down without it stops them too, and so does a Python worker whose environment was removed since.
 */
export async function down(): Promise<void> {
  const known = [...stackParts(), PY_WORKER, ...redisParts(0), ...sqliteBridgeParts()];
  const withPid = fs.existsSync(PIDS)
    ? fs.readdirSync(PIDS).flatMap((file) => (file.endsWith('.pid') ? [file.slice(0, -'.pid'.length)] : []))
    : [];
  // Unknown names (a part renamed since) stop first, the servers every part talks to last.
  const rank = (name: string) => {
    const at = known.findIndex((part) => part.name === name);
    return (SERVERS.has(name) ? 0 : known.length) + (at === -1 ? known.length : at);
  };
  for (const name of withPid.sort((a, b) => rank(b) - rank(a))) {
    const pid = readPid(name);
    if (pid !== undefined) {
      await stopProcess(pid, known.find((part) => part.name === name)?.stopGraceMs);
      console.error(`[stack] ${name} stopped`);
    }
    fs.rmSync(path.join(PIDS, `${name}.pid`), { force: true });
  }
}

export async function status(): Promise<boolean> {
  let all = true;
  const parts = stackParts();
  // A Python worker still running from an earlier `up` is listed (and counted) too.
  if (!parts.includes(PY_WORKER) && readPid(PY_WORKER.name) !== undefined) parts.push(PY_WORKER);
  for (const part of parts) {
    const ok = await part.ready();
    all &&= ok;
    const pid = readPid(part.name);
    console.log(
      `${part.name.padEnd(10)} ${ok ? 'up  ' : 'down'} ${pid ? `pid ${String(pid).padEnd(7)}` : ''.padEnd(11)} ${part.url}`,
    );
  }
  return all;
}

if (require.main === module) {
  const action = process.argv[2];
  const run = action === 'up' ? up : action === 'down' ? down : action === 'status' ? status : undefined;
  if (!run) {
    console.error('usage: tsx scripts/stack.ts up|down|status');
    process.exit(2);
  }
  run().catch((err: unknown) => {
    console.error(`[stack] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
