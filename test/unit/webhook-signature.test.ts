import { describe, expect, it } from 'vitest';
import { webhookKey, webhookSignature } from '../../events/webhook-signature';

describe('webhookSignature', () => {
  it("reproduces the Standard Webhooks specification's test vector with its whsec_ secret", () => {
    const key = webhookKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    expect(webhookSignature(key, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });
  it('takes a secret without the whsec_ prefix as its UTF-8 bytes (the libraries\' format "raw")', () => {
    expect(webhookKey('a-raw-secret-of-some-length')).toEqual(Buffer.from('a-raw-secret-of-some-length'));
    expect(webhookKey('whsec_c2VjcmV0')).toEqual(Buffer.from('secret'));
  });
});
