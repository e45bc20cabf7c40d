import crypto from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorType } from '../../common/errors';
import type { RunEvent } from '../../common/run-events';
import { webhookSink } from '../../events/webhook-sink';
import { seedBlock } from '../helpers/seed-blocks';
import { TOLERANCE_S, WebhookReceiver } from '../helpers/webhook-receiver';

const SECRET = 'webhook-sink-test-secret-0123';

const event = (n: number): RunEvent => ({
  specversion: '1.0',
  id: `retrain-m-20261208T000000Z/run-1/${n}`,
  type: 'retrain.run.started',
  time: new Date().toISOString(),
  model: 'm',
  workflowId: 'retrain-m-20261208T000000Z',
  runId: 'run-1',
  data: { n },
});

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function receiver(secret = SECRET): Promise<WebhookReceiver> {
  const r = await new WebhookReceiver(secret).start();
  closers.push(() => r.close());
  return r;
}

/** A server on 127.0.0.1 answering every request with `status` and `headers`; counts what it got. */
async function answering(status: number, headers: Record<string, string> = {}) {
  const got: string[] = [];
  const server = http.createServer((req, res) => {
    got.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.writeHead(status, headers).end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    server.closeAllConnections();
    server.close();
  });
  return { got, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=t0ps3cret` };
}

/** What `deliver` threw (it must throw). */
async function thrown(deliver: Promise<void>): Promise<Error> {
  const err = await deliver.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!err) throw new Error('the delivery did not throw');
  return err;
}

describe('webhook signatures (Standard Webhooks) at a real receiver', () => {
  it('a receiver verifies id, timestamp and signature, handles each id once and rejects a late replay', async () => {
    const r = await receiver();
    const sink = webhookSink({ url: r.url, secret: SECRET, timeoutMs: 2000 });
    const first = event(1);
    await sink.deliver(first);
    expect(r.requests).toEqual([expect.objectContaining({ id: first.id, verdict: 'accepted', status: 204 })]);
    const captured = r.requests[0]!;
    const replay = () =>
      fetch(r.url, {
        method: 'POST',
        headers: Object.fromEntries(
          ['content-type', 'webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [
            h,
            String(captured.headers[h]),
          ]),
        ),
        body: captured.body,
      });
    // The captured request sent again at once: verified, but its id was handled: not handled twice.
    expect((await replay()).status).toBe(200);
    expect(r.requests[1]).toMatchObject({ id: first.id, verdict: 'duplicate' });
    // The same request past the timestamp window: refused, however valid its signature.
    r.now = () => Number(captured.headers['webhook-timestamp']) + TOLERANCE_S + 1;
    expect((await replay()).status).toBe(400);
    expect(r.requests[2]).toMatchObject({
      verdict: 'rejected',
      problem: expect.stringMatching(/outside the 300 s window/),
    });
    // A fresh timestamp on the captured signature does not verify: the timestamp is signed.
    r.now = () => Math.floor(Date.now() / 1000);
    const forged = await fetch(r.url, {
      method: 'POST',
      headers: {
        'webhook-id': first.id,
        'webhook-timestamp': String(Math.floor(Date.now() / 1000) + 1),
        'webhook-signature': String(captured.headers['webhook-signature']),
      },
      body: captured.body,
    });
    expect(forged.status).toBe(400);
    expect(r.handledIds).toEqual([first.id]);
  });

  it('a retried event carries the same webhook-id, so the receiver handles it once', async () => {
    const r = await receiver();
    const sink = webhookSink({ url: r.url, secret: SECRET, timeoutMs: 2000 });
    const e = event(2);
    r.answer = () => 503;
    await expect(sink.deliver(e)).rejects.toThrow(/answered 503/);
    r.answer = () => undefined;
    await sink.deliver(e);
    await sink.deliver(e);
    expect(r.requests.map((q) => [q.id, q.verdict, q.status])).toEqual([
      [e.id, 'accepted', 503],
      [e.id, 'accepted', 204],
      [e.id, 'duplicate', 200],
    ]);
    expect(r.handledIds).toEqual([e.id]);
  });
});

describe("docs/events.md's receiver example", () => {
  type Check = (rawBody: string, headers: http.IncomingHttpHeaders, secret: string, nowS?: number) => string;
  /** The example as a reader copies it, with a fresh set of handled ids. */
  const documentedCheck = (): Check => {
    const code = seedBlock(path.join(__dirname, '..', '..', 'docs', 'events.md'), 'Signature check', 'js');
    return new Function('require', `${code}\nreturn check;`)(() => crypto) as Check;
  };

  it('accepts a delivery once, calls it again a duplicate, and rejects it late or with a forged timestamp', async () => {
    const r = await receiver();
    await webhookSink({ url: r.url, secret: SECRET, timeoutMs: 2000 }).deliver(event(7));
    const { body, headers } = r.requests[0]!;
    const check = documentedCheck();
    expect(check(body, headers, SECRET)).toBe('accept');
    expect(check(body, headers, SECRET)).toBe('duplicate');
    const sentAt = Number(headers['webhook-timestamp']);
    expect(documentedCheck()(body, headers, SECRET, sentAt + TOLERANCE_S + 1)).toBe('reject');
    const forged = { ...headers, 'webhook-timestamp': String(sentAt + 1) };
    expect(documentedCheck()(body, forged, SECRET, sentAt)).toBe('reject');
    expect(documentedCheck()(body.replace('"n":7', '"n":8'), headers, SECRET)).toBe('reject');
  });

  it('verifies a delivery signed with a whsec_ secret', async () => {
    const whsec = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const r = await receiver(whsec);
    await webhookSink({ url: r.url, secret: whsec, timeoutMs: 2000 }).deliver(event(8));
    const { body, headers } = r.requests[0]!;
    expect(documentedCheck()(body, headers, whsec)).toBe('accept');
    expect(documentedCheck()(body, headers, SECRET)).toBe('reject');
  });
});

describe('webhook answers', () => {
  it.each([301, 302, 303, 307, 308])(
    'a %i redirect is not followed: the target gets nothing and the delivery is refused for good',
    async (status) => {
      const target = await receiver();
      const redirecting = await answering(status, { location: target.url });
      const sink = webhookSink({ url: redirecting.url, secret: SECRET, timeoutMs: 2000 });
      const err = await thrown(sink.deliver(event(4)));
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({ nonRetryable: true, type: ErrorType.EventRefused });
      expect(err.message).toMatch(
        new RegExp(
          `^webhook http://127\\.0\\.0\\.1:\\d+/hook answered ${status} \\(a redirect, which is not followed`,
        ),
      );
      expect(redirecting.got).toEqual(['POST /hook?token=t0ps3cret']);
      expect(target.requests).toEqual([]);
    },
  );

  it.each([400, 401, 403, 404, 410, 422])(
    'a %i is refused for good, naming status and URL but neither the query nor the secret',
    async (status) => {
      const sink = webhookSink({ url: (await answering(status)).url, secret: SECRET, timeoutMs: 2000 });
      const err = await thrown(sink.deliver(event(5)));
      expect(err).toMatchObject({ nonRetryable: true, type: ErrorType.EventRefused });
      expect(err.message).toMatch(
        new RegExp(`^webhook http://127\\.0\\.0\\.1:\\d+/hook answered ${status} \\(`),
      );
      expect(err.message).not.toMatch(/t0ps3cret|webhook-sink-test-secret/);
    },
  );

  it.each([408, 429, 500, 502, 503])(
    'a %i is thrown as a plain error, so the relay retries it',
    async (status) => {
      const sink = webhookSink({ url: (await answering(status)).url, secret: SECRET, timeoutMs: 2000 });
      const err = await thrown(sink.deliver(event(6)));
      expect(err).not.toBeInstanceOf(ApplicationFailure);
      expect(err.message).toMatch(new RegExp(`answered ${status}$`));
    },
  );
});
