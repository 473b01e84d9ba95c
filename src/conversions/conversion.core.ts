import { AMOUNT_MAX } from '../platform/amount.js';
import { BadInputError } from '../platform/errors.js';

/**
 * Conversion arithmetic, pure. A rate is an exact fraction of whole minor units, so a conversion never
 * passes through a float: floor(amount × numerator ÷ denominator) in BigInt, where the product of two
 * 64-bit values is exact before the division.
 */
export interface RateFraction {
  numerator: bigint;
  denominator: bigint;
}

/** Refuses a rate that could not convert anything: both parts are positive 64-bit integers. */
export function requireRate(rate: RateFraction): RateFraction {
  if (rate.numerator <= 0n)
    throw new BadInputError('numerator must be a positive integer; a rate of zero converts nothing');
  if (rate.denominator <= 0n) throw new BadInputError('denominator must be a positive integer');
  return rate;
}

/**
 * What `amount` of the from-asset converts to: the floor of the exact product, so the ledger never credits
 * a fraction of a minor unit it did not receive. A result of zero or beyond the 64-bit range is refused.
 */
export function convertedAmount(amount: bigint, rate: RateFraction): bigint {
  if (amount <= 0n) throw new BadInputError('amount must be positive');
  const credited = (amount * rate.numerator) / rate.denominator;
  if (credited === 0n) {
    // The least amount that converts to one minor unit: ceil(denominator ÷ numerator).
    const least = (rate.denominator + rate.numerator - 1n) / rate.numerator;
    throw new BadInputError(
      `${amount} converts to nothing at ${rate.numerator}/${rate.denominator}; convert at least ${least}`,
    );
  }
  if (credited > AMOUNT_MAX)
    throw new BadInputError(
      `${amount} at ${rate.numerator}/${rate.denominator} converts to more than the signed 64-bit range`,
    );
  return credited;
}

/** The rate a conversion used, as pinned in its transaction's metadata (amounts as decimal strings). */
export interface PinnedConversion {
  rateId: string;
  fromAssetId: string;
  toAssetId: string;
  numerator: string;
  denominator: string;
  validFrom: string;
  debited: string;
  credited: string;
}

export function pinConversion(
  rate: RateFraction & { id: string; fromAssetId: string; toAssetId: string; validFrom: Date },
  debited: bigint,
  credited: bigint,
): PinnedConversion {
  return {
    rateId: rate.id,
    fromAssetId: rate.fromAssetId,
    toAssetId: rate.toAssetId,
    numerator: rate.numerator.toString(),
    denominator: rate.denominator.toString(),
    validFrom: rate.validFrom.toISOString(),
    debited: debited.toString(),
    credited: credited.toString(),
  };
}

/** The pinned conversion of a transaction's metadata, or null when it is not a conversion. */
export function pinnedConversionOf(metadata: Record<string, unknown>): PinnedConversion | null {
  const pinned = metadata.conversion;
  if (pinned === null || typeof pinned !== 'object') return null;
  const fields = pinned as Record<string, unknown>;
  const names = ['rateId', 'fromAssetId', 'toAssetId', 'numerator', 'denominator', 'validFrom', 'debited', 'credited'];
  return names.every((name) => typeof fields[name] === 'string') ? (pinned as PinnedConversion) : null;
}
