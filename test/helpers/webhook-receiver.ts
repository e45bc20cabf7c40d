import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far a delivery's webhook-timestamp may be from the receiver's clock, as README's receiver allows. */
export const TOLERANCE_S = 5 * 60;

/**
 * Why a Standard Webhooks delivery does not verify (`undefined`: it does), written as README's receiver
 * example checks it, from the spec rather than from retrain's signer: the timestamp within
 * {@link TOLERANCE_S} of `nowSeconds`, then a `v1,` signature over `id.timestamp.body` under the key
 * (`whsec_` secrets base64-decoded, others as UTF-8).
 */
export function webhookProblem(
  secret: string,
  headers: http.IncomingHttpHeaders,
  body: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): string | undefined {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string')
    return 'missing webhook-id, webhook-timestamp or webhook-signature';
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > TOLERANCE_S)
    return `timestamp ${timestamp} outside the ${TOLERANCE_S} s window`;
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  const matches = signatures.split(' ').some((entry) => {
    const [version, b64] = entry.split(',');
    const given = Buffer.from(b64 ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches ? undefined : 'no signature matches';
}

/** One request a {@link WebhookReceiver} got, and what it made of it. */
export interface WebhookRequest {
  id: string;
  body: string;
  headers: http.IncomingHttpHeaders;
  /** `accepted`: verified and new; `duplicate`: verified, its id already handled; `rejected`: did not verify. */
  verdict: 'accepted' | 'duplicate' | 'rejected';
  problem?: string;
  status: number;
}

/**
 * A webhook receiver on 127.0.0.1 that does what README's example does: verify the signature and the
 * timestamp window, then handle each id once (a duplicate is answered 200 and not handled again).
 * `answer` overrides the status for a verified new delivery (a 410, a 503), which is then not handled.
 */
export class WebhookReceiver {
  readonly requests: WebhookRequest[] = [];
  private readonly handled = new Set<string>();
  /** The receiver's clock, in Unix seconds. */
  now = () => Math.floor(Date.now() / 1000);
  answer: (id: string) => number | undefined = () => undefined;
  private readonly server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const id = String(req.headers['webhook-id'] ?? '');
      const problem = webhookProblem(this.secret, req.headers, body, this.now());
      const seen = this.handled.has(id);
      const override = problem || seen ? undefined : this.answer(id);
      const status = problem ? 400 : seen ? 200 : (override ?? 204);
      const verdict = problem ? 'rejected' : seen ? 'duplicate' : 'accepted';
      if (verdict === 'accepted' && override === undefined) this.handled.add(id);
      this.requests.push({
        id,
        body,
        headers: req.headers,
        verdict,
        status,
        ...(problem ? { problem } : {}),
      });
      res.writeHead(status).end();
    });
  });
  url = '';

  constructor(private readonly secret: string) {}

  /** Listens on an ephemeral loopback port; `url` is then set (`path` appended). */
  async start(path = '/hooks/retrain'): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
    return this;
  }

  /** The ids handled, in order. */
  get handledIds(): string[] {
    return this.requests.filter((r) => r.verdict === 'accepted' && r.status < 300).map((r) => r.id);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
  }
}
