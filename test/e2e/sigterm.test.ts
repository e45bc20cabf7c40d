import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { eventually } from '../helpers/eventually';
import { createPipeline } from '../helpers/pipeline';
import { startPythonWorker } from '../helpers/python-worker';
import { startRedis } from '../helpers/redis';
import { startWorkerProcess } from '../helpers/worker-process';

const ROOT = path.resolve(__dirname, '..', '..');

/** A long-running retrain process as a child, with what it printed and how it ended. */
interface Running {
  child: ChildProcess;
  output(): string;
  ended(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

const started: Running[] = [];

function run(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, RETRAIN_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.on('exit', (code, signal) => (ended = { code, signal }));
  const running = { child, output: () => output, ended: () => ended };
  started.push(running);
  return running;
}

/**
 * Sends SIGTERM and waits for the process to end by itself. The wait is a hang detector, not a
 * timing: the process ends long before it (or never, which is the bug), and no SIGKILL follows.
 */
async function terminate(running: Running, what: string) {
  running.child.kill('SIGTERM');
  return eventually(`${what} to end after SIGTERM`, () => running.ended(), 90_000, 100);
}

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('every long-running process ends on SIGTERM, whatever its connections are doing', () => {
  let dir: string;

  afterEach(async () => {
    for (const running of started.splice(0)) if (!running.ended()) running.child.kill('SIGKILL');
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const baseEnv = async (): Promise<NodeJS.ProcessEnv> => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-sigterm-'));
    return {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      RETRAIN_STORE: `file://${path.join(dir, 'store')}`,
      RETRAIN_BUFFER_DIR: path.join(dir, 'buffer'),
    };
  };

  it('the Redis bridge, its Redis gone while it blocks on a read, stops cleanly (exit 0, "bridge stopped")', async () => {
    const env = await baseEnv();
    const redis = await startRedis();
    const bridge = run(
      [
        'bin/retrain.js',
        'bridge',
        'redis',
        '--redis',
        redis.url,
        '--metrics-port',
        '0',
        '--claim-idle',
        '100',
      ],
      env,
    );
    await eventually('the bridge to poll', () => bridge.output().includes('bridge polling'), 60_000);
    await redis.stop();
    await eventually('the bridge to see Redis gone', () =>
      bridge.output().includes('redis connection error'),
    );
    const ended = await terminate(bridge, 'the Redis bridge');
    expect(ended).toEqual({ code: 0, signal: null });
    expect(bridge.output()).toContain('bridge stopped');
  });

  it('the inference server, a client stalled mid-body, exits after its grace period and says why', async () => {
    const env = await baseEnv();
    const port = await freePort();
    const server = run(['--import', 'tsx', path.join('serving', 'main.ts')], {
      ...env,
      SERVING_HOST: '127.0.0.1',
      SERVING_PORT: String(port),
      TFJS_BACKEND: 'cpu',
      RETRAIN_SHUTDOWN_GRACE_SECONDS: '2',
    });
    await eventually(
      'the server to answer /healthz',
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
      90_000,
      200,
    );
    // A request whose body never finishes: app.close() waits for it.
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.on('error', () => {});
    socket.write(
      'POST /ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"model":',
    );
    // SIGTERM only once the server has the request (it logs each one as it comes in): a connection it
    // has not read from yet would be closed as idle, and the stop would not wait.
    await eventually('the server to log the stalled request', () =>
      server.output().includes('"msg":"incoming request"'),
    );
    const ended = await terminate(server, 'the inference server');
    socket.destroy();
    expect(ended).toEqual({ code: 1, signal: null });
    expect(server.output()).toContain('still stopping 2 s after the signal');
  });

  it('the SQLite job bridge, idle, stops cleanly (exit 0)', async () => {
    const env = await baseEnv();
    const bridge = run(
      [
        'bin/retrain.js',
        'bridge',
        'sqlite',
        '--db',
        path.join(dir, 'jobs.db'),
        '--timeframe',
        '15m=m-long:m-short',
        '--metrics-port',
        '0',
      ],
      env,
    );
    await eventually(
      'the SQLite bridge to poll',
      () => bridge.output().includes('bridge polling training_jobs'),
      60_000,
    );
    const ended = await terminate(bridge, 'the SQLite bridge');
    expect(ended).toEqual({ code: 0, signal: null });
    expect(bridge.output()).toContain('bridge stopped');
  });

  it('the cpu worker, polling, stops cleanly (exit 0, "stopped")', async () => {
    const pipeline = await createPipeline();
    try {
      const worker = await startWorkerProcess(pipeline, 'cpu');
      worker.child.kill('SIGTERM');
      const ended = await eventually('the cpu worker to end after SIGTERM', () => worker.exited, 90_000);
      expect(ended).toEqual({ code: 0, signal: null });
      expect(worker.output()).toContain('"msg":"stopped"');
    } finally {
      await pipeline.cleanup();
    }
  });

  it('the Python trainer worker, polling, stops cleanly (exit 0)', async () => {
    const env = await baseEnv();
    const worker = await startPythonWorker({
      storeUri: env.RETRAIN_STORE as string,
      taskQueue: `sigterm-py-${path.basename(dir)}`,
      temporalAddress: inject('temporalAddress'),
    });
    worker.child.kill('SIGTERM');
    const ended = await eventually(
      'the Python worker to end after SIGTERM',
      () => (worker.child.exitCode === null && worker.child.signalCode === null ? undefined : worker.child),
      90_000,
    );
    expect({ code: ended.exitCode, signal: ended.signalCode }).toEqual({ code: 0, signal: null });
  });
});
