import { AMOUNT_MAX } from '../platform/amount';
import { convertedAmount, pinConversion, pinnedConversionOf, requireRate } from './conversion.core';

describe('convertedAmount', () => {
  it('floors an awkward rate instead of rounding', () => {
    expect(convertedAmount(10n, { numerator: 7n, denominator: 3n })).toBe(23n);
    expect(convertedAmount(3n, { numerator: 7n, denominator: 3n })).toBe(7n);
    expect(convertedAmount(2_999_999n, { numerator: 1n, denominator: 1_000_000n })).toBe(2n);
  });

  it('refuses a result of zero and names the least amount that converts', () => {
    expect(() => convertedAmount(999_999n, { numerator: 1n, denominator: 1_000_000n })).toThrow(
      /converts to nothing.*at least 1000000/,
    );
    expect(() => convertedAmount(2n, { numerator: 2n, denominator: 5n })).toThrow(/at least 3/);
  });

  it('is exact for amounts and rates near the 64-bit bound', () => {
    expect(convertedAmount(AMOUNT_MAX, { numerator: AMOUNT_MAX, denominator: AMOUNT_MAX })).toBe(AMOUNT_MAX);
    expect(convertedAmount(AMOUNT_MAX, { numerator: 1n, denominator: 3n })).toBe(3074457345618258602n);
    expect(convertedAmount(AMOUNT_MAX - 1n, { numerator: AMOUNT_MAX - 2n, denominator: AMOUNT_MAX })).toBe(
      ((AMOUNT_MAX - 1n) * (AMOUNT_MAX - 2n)) / AMOUNT_MAX,
    );
    expect(convertedAmount(1n, { numerator: AMOUNT_MAX, denominator: 1n })).toBe(AMOUNT_MAX);
  });

  it('refuses a result beyond the 64-bit range', () => {
    expect(() => convertedAmount(2n, { numerator: AMOUNT_MAX, denominator: 1n })).toThrow(/64-bit/);
    expect(() => convertedAmount(AMOUNT_MAX, { numerator: 3n, denominator: 2n })).toThrow(/64-bit/);
  });

  it('refuses an amount that is not positive', () => {
    expect(() => convertedAmount(0n, { numerator: 1n, denominator: 1n })).toThrow(/positive/);
    expect(() => convertedAmount(-5n, { numerator: 1n, denominator: 1n })).toThrow(/positive/);
  });
});

describe('requireRate', () => {
  it('refuses a zero or negative part and accepts positive ones', () => {
    expect(() => requireRate({ numerator: 0n, denominator: 1n })).toThrow(/rate of zero/);
    expect(() => requireRate({ numerator: 1n, denominator: 0n })).toThrow(/denominator/);
    expect(() => requireRate({ numerator: -1n, denominator: 1n })).toThrow(/numerator/);
    expect(requireRate({ numerator: 7n, denominator: 3n })).toEqual({ numerator: 7n, denominator: 3n });
  });
});

describe('pinned conversions', () => {
  it('round-trips through metadata and ignores what is not a conversion', () => {
    const pinned = pinConversion(
      { id: 'r', fromAssetId: 'a', toAssetId: 'b', numerator: 7n, denominator: 3n, validFrom: new Date(0) },
      10n,
      23n,
    );
    expect(pinnedConversionOf(JSON.parse(JSON.stringify({ conversion: pinned })))).toEqual(pinned);
    expect(pinned).toMatchObject({ numerator: '7', denominator: '3', debited: '10', credited: '23' });
    expect(pinnedConversionOf({})).toBeNull();
    expect(pinnedConversionOf({ conversion: { rateId: 1 } })).toBeNull();
  });
});
