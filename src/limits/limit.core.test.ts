import { remainingOf, requireLimitRule } from './limit.core';

describe('requireLimitRule', () => {
  it('accepts a per-period cap and stores its zone canonically', () => {
    expect(
      requireLimitRule({ kind: 'EARN_PER_PERIOD', amount: 500n, period: 'DAY', timeZone: 'america/new_york' }),
    ).toEqual({ kind: 'EARN_PER_PERIOD', amount: 500n, period: 'DAY', timeZone: 'America/New_York' });
  });

  it('defaults the zone to UTC and accepts a ceiling without a period', () => {
    expect(requireLimitRule({ kind: 'MAX_BALANCE', amount: 0n })).toEqual({
      kind: 'MAX_BALANCE',
      amount: 0n,
      period: null,
      timeZone: 'UTC',
    });
  });

  it('refuses a per-period cap without a period, and a ceiling with one', () => {
    expect(() => requireLimitRule({ kind: 'REDEEM_PER_PERIOD', amount: 1n })).toThrow(/needs a period/);
    expect(() => requireLimitRule({ kind: 'MAX_BALANCE', amount: 1n, period: 'DAY' })).toThrow(/no period/);
  });

  it('refuses negative amounts, unknown zones and offsets that ECMAScript and PostgreSQL read differently', () => {
    expect(() => requireLimitRule({ kind: 'MAX_BALANCE', amount: -1n })).toThrow(/zero or more/);
    for (const timeZone of ['Mars/Olympus', '', '+05:00', '-03', 'x'.repeat(65)]) {
      expect(() => requireLimitRule({ kind: 'EARN_PER_PERIOD', amount: 1n, period: 'DAY', timeZone })).toThrow(
        /IANA time zone/,
      );
    }
  });

  it('refuses a kind or period outside the enums', () => {
    expect(() => requireLimitRule({ kind: 'SPEND' as never, amount: 1n, period: 'DAY' })).toThrow(/kind/);
    expect(() => requireLimitRule({ kind: 'EARN_PER_PERIOD', amount: 1n, period: 'HOUR' as never })).toThrow(/period/);
  });
});

describe('remainingOf', () => {
  it('is the amount less what is used, and never below zero', () => {
    expect(remainingOf(100n, 30n)).toBe(70n);
    expect(remainingOf(100n, 100n)).toBe(0n);
    expect(remainingOf(100n, 250n)).toBe(0n);
  });
});
