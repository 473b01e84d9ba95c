import { BadInputError } from './errors.js';

/** Amounts are signed 64-bit integers of an asset's minor unit; never a float. */
export const AMOUNT_MAX = 9223372036854775807n;
export const AMOUNT_MIN = -9223372036854775808n;

// Canonical base-10 integers only: no sign on zero, no leading zeros, no spaces, no exponent.
const CANONICAL_INTEGER = /^(0|-?[1-9][0-9]{0,18})$/;

/** Parses an Amount from the wire: a canonical decimal string, or a JSON integer within ±(2^53−1). */
export function parseAmount(value: unknown): bigint {
  if (typeof value === 'string') {
    if (!CANONICAL_INTEGER.test(value)) {
      throw new BadInputError(`Amount must be a base-10 integer string such as "12500"; got ${JSON.stringify(value.slice(0, 40))}`);
    }
    const amount = BigInt(value);
    if (amount > AMOUNT_MAX || amount < AMOUNT_MIN) {
      throw new BadInputError(`Amount ${value} is outside the signed 64-bit range`);
    }
    return amount;
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new BadInputError(`Amount given as a JSON number must be an integer within ±(2^53−1); got ${value}. Send larger values as strings.`);
    }
    return BigInt(value);
  }
  throw new BadInputError('Amount must be a decimal string or a JSON integer');
}

export function formatAmount(amount: bigint): string {
  return amount.toString(10);
}
