import { createHmac } from 'node:crypto';

/**
 * The Standard Webhooks headers (https://www.standardwebhooks.com): the event's id (the same on every
 * retry, so receivers dedupe on it), the attempt's Unix time in seconds (receivers refuse old ones, so
 * a captured request does not verify for ever), and the signature over both and the body.
 */
export const WEBHOOK_HEADERS = {
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
} as const;

/** The prefix of a Standard Webhooks secret: `whsec_` and the key in base64. */
export const SECRET_PREFIX = 'whsec_';

/**
 * The HMAC key a secret stands for: a `whsec_<base64>` secret is its decoded bytes (as the Standard
 * Webhooks libraries read it); any other secret is its UTF-8 bytes (those libraries' `format: "raw"`).
 */
export function webhookKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX)
    ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`: what {@link WEBHOOK_HEADERS}.signature carries. */
export function webhookSignature(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}
