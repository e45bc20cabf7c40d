import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run stack:down', () => {
  const pids: number[] = [];
  let dir: string | undefined;

  afterEach(async () => {
    for (const pid of pids.splice(0)) if (alive(pid)) process.kill(-pid, 'SIGKILL');
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  /** A process-group leader that runs until signalled, recorded in the stack's pid files as `name`. */
  async function part(name: string): Promise<number> {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      detached: true,
      stdio: 'ignore',
    });
    child.unref();
    const pid = child.pid as number;
    pids.push(pid);
    await fs.mkdir(path.join(dir as string, 'pids'), { recursive: true });
    await fs.writeFile(path.join(dir as string, 'pids', `${name}.pid`), String(pid));
    return pid;
  }

  it('stops every part that has a pid file, also those this environment would not start (Redis and its bridge), servers last', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-stack-'));
    const bridge = await part('bridge');
    const redis = await part('redis');
    const renamed = await part('a-part-renamed-since');
    const env: NodeJS.ProcessEnv = { ...process.env, RETRAIN_STACK_DIR: dir };
    // The stack was brought up with Redis and the bridge; it is brought down without their settings.
    for (const name of ['RETRAIN_EVENTS_REDIS_URL', 'RETRAIN_BRIDGE_REDIS_URL', 'REDIS_URL'])
      delete env[name];

    const { stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', path.join('scripts', 'stack.ts'), 'down'],
      { cwd: ROOT, env },
    );

    expect([bridge, redis, renamed].filter(alive)).toEqual([]);
    expect(await fs.readdir(path.join(dir, 'pids'))).toEqual([]);
    const order = stderr.split('\n').filter((line) => line.endsWith(' stopped'));
    expect(order).toEqual([
      '[stack] a-part-renamed-since stopped',
      '[stack] bridge stopped',
      '[stack] redis stopped',
    ]);
  });
});
