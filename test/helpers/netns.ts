import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A process started on a {@link NetHost}. */
export interface HostProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (SIGSTOP freezes it, SIGCONT thaws it, SIGKILL ends it as a crash would). */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL unless it has ended; resolves once it has. */
  stop(): Promise<void>;
}

/** A host: its own network namespace with one address on the test's bridge, and a data directory of its own. */
export interface NetHost {
  name: string;
  ip: string;
  /** The host's private directory: the only place its processes are told to write. */
  dir: string;
  /** Starts `command args` inside the host's namespace, with exactly `env` (plus PATH and HOME). */
  start(command: string, args: string[], env: Record<string, string>): HostProcess;
  /** Runs `command args` inside the namespace to its end; its stdout, or throws with its stderr. */
  run(command: string, args: string[], env: Record<string, string>): string;
}

/** Hosts on one bridge: each a network namespace; the test process reaches them at `gateway`'s side. */
export interface Network {
  hosts: Record<string, NetHost>;
  /** The test process's own address on the bridge. */
  gateway: string;
  /** Ends every process started on the hosts, then removes the namespaces and the bridge. */
  cleanup(): Promise<void>;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/**
 * Builds one network namespace per name, each with a veth pair into a bridge in the test's own
 * namespace, on a random 10.x.y.0/24 (names and addresses unique per call, so parallel runs do not
 * meet), and a private directory under the OS temp dir. Needs root and iproute2.
 */
export function createNetwork(names: readonly string[]): Network {
  const id = randomBytes(3).toString('hex');
  const [b, c] = [...randomBytes(2)].map((x) => 1 + (x % 250));
  const subnet = `10.${b}.${c}`;
  const bridge = `rtb${id}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'retrain-fleet-'));
  const processes: HostProcess[] = [];
  const namespaces: string[] = [];
  const cleanup = async () => {
    await Promise.all(processes.map((p) => p.stop()));
    for (const ns of namespaces) execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    try {
      ip('link', 'del', bridge);
    } catch {
      // Never created.
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    const hosts: Record<string, NetHost> = {};
    names.forEach((name, i) => {
      const ns = `rt${id}-${name}`;
      const [outside, inside] = [`rt${id}o${i}`, `rt${id}i${i}`];
      ip('netns', 'add', ns);
      namespaces.push(ns);
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
      ip('link', 'set', inside, 'netns', ns);
      ip('link', 'set', outside, 'master', bridge);
      ip('link', 'set', outside, 'up');
      const address = `${subnet}.${i + 2}`;
      ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${address}/24`, 'dev', inside);
      ip('netns', 'exec', ns, 'ip', 'link', 'set', inside, 'up');
      ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
      const dir = path.join(root, name);
      fs.mkdirSync(dir);
      const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
      hosts[name] = {
        name,
        ip: address,
        dir,
        start(command, args, env) {
          const proc = startIn(ns, command, args, { ...baseEnv, ...env });
          processes.push(proc);
          return proc;
        },
        run(command, args, env) {
          return execFileSync('ip', ['netns', 'exec', ns, command, ...args], {
            env: { ...baseEnv, ...env },
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
            maxBuffer: 64 * 1024 * 1024,
          });
        },
      };
    });
    return { hosts, gateway: `${subnet}.1`, cleanup };
  } catch (err) {
    void cleanup();
    throw err;
  }
}

/** `ip netns exec` replaces itself with the command, so the child's pid is the command's. */
function startIn(ns: string, command: string, args: string[], env: Record<string, string>): HostProcess {
  const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
    cwd: process.cwd(),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  for (const stream of [child.stdout, child.stderr])
    stream?.on('data', (d: Buffer) => (text += d.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    output: () => text,
    exited,
    signal: (signal) => {
      if (running()) child.kill(signal);
    },
    async stop() {
      if (!running()) return;
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    },
  };
}
