import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

/**
 * The unit tier's setup file: a unit test runs in this process only, so starting a process, listening
 * or opening a socket (Temporal, S3, Redis, HTTP) throws, naming what was tried and where such a test
 * belongs. Fastify's `inject()` needs no socket.
 */
function refuse(what: string): never {
  throw new Error(
    `${what} in a unit test: test/unit runs in-process only; move the test to test/workflows or test/e2e`,
  );
}

for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
  Object.defineProperty(childProcess, name, { value: () => refuse(`child_process.${name}()`) });
}
net.Server.prototype.listen = function listen(): never {
  return refuse('listening on a socket');
};
net.Socket.prototype.connect = function connect(): never {
  return refuse('opening a socket');
};
// `import { spawn } from 'node:child_process'` sees the refusals too.
syncBuiltinESMExports();
