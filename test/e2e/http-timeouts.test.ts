import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../../config/config';
import { createServer, type InferenceServer } from '../../serving/server';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';

/** What a raw TCP client got before the server closed the connection (or `GUARD_MS` passed). */
interface RawOutcome {
  closedByServer: boolean;
  received: string;
}

/** How long a raw client waits for the server to act; well above the limits under test. */
const GUARD_MS = 15_000;

/** Opens a raw connection, sends `chunks` (each after its delay), then waits for the server to close it. */
async function rawClient(port: number, chunks: { afterMs: number; text: string }[]): Promise<RawOutcome> {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (data) => (received += data.toString()));
  const closed = new Promise<boolean>((resolve) => socket.on('close', () => resolve(true)));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.on('connect', resolve));
  for (const chunk of chunks) {
    await sleep(chunk.afterMs);
    if (socket.destroyed) break;
    socket.write(chunk.text);
  }
  let guard: NodeJS.Timeout | undefined;
  const closedByServer = await Promise.race([
    closed,
    new Promise<boolean>((resolve) => (guard = setTimeout(() => resolve(false), GUARD_MS))),
  ]);
  clearTimeout(guard);
  socket.destroy();
  return { closedByServer, received };
}

describe("the inference server's client timeouts, over real HTTP on loopback", () => {
  let dir: string;
  let server: InferenceServer;
  let port: number;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-http-timeouts-'));
    server = createServer({
      registry: new ModelRegistry(new FileBlobStore(dir)),
      timeouts: { headersMs: 500, requestMs: 1000, connectionMs: 60_000 },
    });
    // An answer that takes longer than the request limit once the request has arrived.
    server.app.get('/slow-answer', async () => {
      await sleep(1500);
      return { answered: true };
    });
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    port = (server.app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await server?.app.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('cuts off a client that never finishes its headers, answering 408', async () => {
    const outcome = await rawClient(port, [
      { afterMs: 0, text: 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n' },
    ]);
    expect(outcome.closedByServer, 'the server closed the slow-headers connection').toBe(true);
    expect(outcome.received).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
  });

  it('cuts off a client that trickles its headers a byte at a time, each byte inside the limit', async () => {
    const line =
      'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n';
    const outcome = await rawClient(
      port,
      [...line].map((text) => ({ afterMs: 100, text })),
    );
    expect(outcome.closedByServer).toBe(true);
    expect(outcome.received).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
  });

  it('answers a client that sends its request in time, and an answer longer than the request limit', async () => {
    const healthz = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(healthz.status).toBe(200);
    const slow = await fetch(`http://127.0.0.1:${port}/slow-answer`);
    expect(slow.status).toBe(200);
    expect(await slow.json()).toEqual({ answered: true });
  });
});

describe('SERVING_*_TIMEOUT', () => {
  it('default to 20 s for headers, 5 min for the request and 10 min idle', () => {
    expect(loadConfig({}).serving.timeouts).toEqual({
      headersMs: 20_000,
      requestMs: 300_000,
      connectionMs: 600_000,
    });
  });

  it('are durations of at most a day, the headers at most the request, each refusal naming the variable', () => {
    expect(
      loadConfig({
        SERVING_HEADERS_TIMEOUT: '5s',
        SERVING_REQUEST_TIMEOUT: '2m',
        SERVING_CONNECTION_TIMEOUT: '1h',
      }).serving.timeouts,
    ).toEqual({ headersMs: 5000, requestMs: 120_000, connectionMs: 3_600_000 });
    expect(() => loadConfig({ SERVING_HEADERS_TIMEOUT: '0s' })).toThrow(
      /SERVING_HEADERS_TIMEOUT: the timeout must be a count and a unit/,
    );
    expect(() => loadConfig({ SERVING_CONNECTION_TIMEOUT: '30d' })).toThrow(
      /SERVING_CONNECTION_TIMEOUT: the timeout must be at most 1d/,
    );
    expect(() => loadConfig({ SERVING_HEADERS_TIMEOUT: '10m' })).toThrow(
      new ConfigError(
        'Invalid environment: SERVING_HEADERS_TIMEOUT (10m) must not exceed SERVING_REQUEST_TIMEOUT (5m)',
      ),
    );
  });
});
