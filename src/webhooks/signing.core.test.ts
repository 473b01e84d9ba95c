import { Webhook } from 'standardwebhooks';
import {
  decryptSecret,
  deriveSecretKey,
  encryptSecret,
  generateSecret,
  signatureHeader,
  signedRequest,
} from './signing.core';

const message = {
  id: 'evt_42',
  type: 'transaction.posted',
  occurredAt: new Date('2026-12-04T10:00:00.000Z'),
  data: { transaction: { id: 't1', entries: [{ amount: '5' }] } },
};

it('makes whsec_ secrets of 32 random bytes', () => {
  const secret = generateSecret();
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
  expect(generateSecret()).not.toBe(secret);
});

it('signs what standardwebhooks verifies, with each secret of a rotation', () => {
  const [current, previous] = [generateSecret(), generateSecret()];
  const request = signedRequest(message, [current, previous], new Date());
  expect(JSON.parse(request.body)).toEqual({
    id: 'evt_42',
    type: 'transaction.posted',
    timestamp: '2026-12-04T10:00:00.000Z',
    data: message.data,
  });
  expect(request.headers['webhook-id']).toBe('evt_42');
  expect(request.headers['webhook-signature']!.split(' ')).toHaveLength(2);
  for (const secret of [current, previous]) {
    expect(new Webhook(secret).verify(request.body, request.headers)).toEqual(JSON.parse(request.body));
  }
  expect(() => new Webhook(generateSecret()).verify(request.body, request.headers)).toThrow();
});

it('agrees with the reference signer byte for byte', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const at = new Date(1_674_087_231_000);
  const body = '{"test": 2432232314}';
  expect(signatureHeader([secret], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1_674_087_231, body)).toBe(
    new Webhook(secret).sign('msg_p5jXN8AQM9LWM0D4loKWxJek', at, body),
  );
});

it('encrypts secrets so that only the same key reads them, and refuses a tampered blob', () => {
  const key = deriveSecretKey('k'.repeat(40));
  const secret = generateSecret();
  const blob = encryptSecret(key, secret);
  expect(blob.toString('utf8')).not.toContain(secret.slice(6));
  expect(decryptSecret(key, blob)).toBe(secret);
  expect(encryptSecret(key, secret).equals(blob)).toBe(false);
  expect(() => decryptSecret(deriveSecretKey('j'.repeat(40)), blob)).toThrow();
  const tampered = Buffer.from(blob);
  tampered[tampered.length - 1]! ^= 1;
  expect(() => decryptSecret(key, tampered)).toThrow();
});
