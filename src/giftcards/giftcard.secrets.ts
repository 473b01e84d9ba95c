import { createHmac, randomBytes, randomInt, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * The two hashes of a card. The code by HMAC-SHA256 under the server's gift card key: deterministic, so a
 * card is found by its code, and useless to whoever reads the table without the key. The PIN by scrypt
 * with a salt of its own: slow on purpose, so that a copy of the table does not give PINs away cheaply.
 */
const SCRYPT = { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } satisfies ScryptOptions;
const SCRYPT_KEY_BYTES = 32;
const SALT_BYTES = 16;

function scryptAsync(secret: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, SCRYPT_KEY_BYTES, SCRYPT, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export class GiftCardSecrets {
  /** A hash no PIN matches, verified against when a code is unknown so that the answer takes as long. */
  private decoy: Promise<string> | null = null;

  constructor(private readonly key: Buffer) {}

  codeDigest(code: string): Buffer {
    return createHmac('sha256', this.key).update(`gift-card-code:${code}`).digest();
  }

  async hashPin(pin: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const hash = await scryptAsync(pin, salt);
    return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
  }

  async verifyPin(pin: string, stored: string): Promise<boolean> {
    const [scheme, , , , salt, hash] = stored.split('$');
    if (scheme !== 'scrypt' || salt === undefined || hash === undefined) return false;
    const expected = Buffer.from(hash, 'base64');
    const actual = await scryptAsync(pin, Buffer.from(salt, 'base64'));
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  /** The same work as verifying a PIN, against a hash no PIN matches. */
  async verifyDecoy(pin: string): Promise<false> {
    this.decoy ??= this.hashPin(randomBytes(16).toString('hex'));
    await this.verifyPin(pin, await this.decoy);
    return false;
  }
}

/** A random decimal digit from the CSPRNG. */
export function randomDigit(): number {
  return randomInt(10);
}
