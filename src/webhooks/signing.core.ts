import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing, and the encryption of signing secrets at rest. Pure: no I/O, no clock (the
 * caller passes the timestamp), no randomness except in `generateSecret` and the IV of `encryptSecret`.
 *
 * Secrets are encrypted rather than hashed because HMAC signing needs the secret itself.
 */
export const SECRET_PREFIX = 'whsec_';
/** Standard Webhooks asks for 24 to 64 random bytes. */
const SECRET_BYTES = 32;

export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** The HMAC key of a secret: the base64 part after `whsec_`, decoded. */
function signingKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('a webhook secret starts with whsec_');
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

/** `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, once per secret, space-separated. */
export function signatureHeader(
  secrets: readonly string[],
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  const message = `${id}.${timestampSeconds}.${body}`;
  return secrets
    .map((secret) => `v1,${createHmac('sha256', signingKey(secret)).update(message).digest('base64')}`)
    .join(' ');
}

/** What a delivery attempt sends: the Standard Webhooks body and headers. */
export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

export interface WebhookMessage {
  /** The event id: the webhook-id of every attempt and every redelivery of this event. */
  id: string;
  type: string;
  /** When the event happened (the body's `timestamp`); the header carries the attempt's time. */
  occurredAt: Date;
  data: Record<string, unknown>;
}

export const USER_AGENT = 'RewardLedger-Webhooks/1';

export function signedRequest(message: WebhookMessage, secrets: readonly string[], now: Date): SignedRequest {
  const body = JSON.stringify({
    id: message.id,
    type: message.type,
    timestamp: message.occurredAt.toISOString(),
    data: message.data,
  });
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': message.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader(secrets, message.id, timestamp, body),
    },
  };
}

/** The AES-256 key for secrets at rest, from the configured WEBHOOK_SECRET_KEY (any length ≥ 32). */
export function deriveSecretKey(configured: string): Buffer {
  return Buffer.from(hkdfSync('sha256', configured, 'reward-ledger', 'webhook signing secrets v1', 32));
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM: IV, tag, ciphertext in one buffer (the column's layout). */
export function encryptSecret(key: Buffer, secret: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
}

/** Throws when the blob was not encrypted under this key (a changed WEBHOOK_SECRET_KEY) or was altered. */
export function decryptSecret(key: Buffer, blob: Buffer): string {
  const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, IV_BYTES));
  decipher.setAuthTag(blob.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(blob.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
}
