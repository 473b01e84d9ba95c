import {
  consumeFifo,
  expirableAmount,
  groupByExpiry,
  lotsForCredit,
  policyExpiry,
  type Consumption,
} from './lots.core';

const day = (n: number) => new Date(Date.UTC(2026, 0, n));

describe('consumeFifo', () => {
  const lots = [
    { id: 'soon', remaining: 30n, expiresAt: day(1) },
    { id: 'later', remaining: 50n, expiresAt: day(9) },
    { id: 'never', remaining: 100n, expiresAt: null },
  ];

  it('takes the soonest-expiring lot first and spills into the next', () => {
    expect(consumeFifo(lots, 60n)).toEqual([
      { lotId: 'soon', amount: 30n, expiresAt: day(1) },
      { lotId: 'later', amount: 30n, expiresAt: day(9) },
    ]);
  });

  it('reaches never-expiring value last and stops at what the lots hold', () => {
    expect(consumeFifo(lots, 500n).map((taken) => [taken.lotId, taken.amount])).toEqual([
      ['soon', 30n],
      ['later', 50n],
      ['never', 100n],
    ]);
    expect(consumeFifo(lots, 0n)).toEqual([]);
  });
});

describe('lotsForCredit', () => {
  it('lets transferred value keep its expiry and gives new value the fresh one', () => {
    const pool: Consumption[] = [
      { lotId: 'a', amount: 10n, expiresAt: day(1) },
      { lotId: 'b', amount: 5n, expiresAt: day(3) },
    ];
    expect(lotsForCredit(12n, pool, day(30))).toEqual([
      { amount: 10n, expiresAt: day(1) },
      { amount: 2n, expiresAt: day(3) },
    ]);
    expect(pool).toEqual([{ lotId: 'b', amount: 3n, expiresAt: day(3) }]);
    expect(lotsForCredit(5n, pool, day(30))).toEqual([
      { amount: 3n, expiresAt: day(3) },
      { amount: 2n, expiresAt: day(30) },
    ]);
  });

  it('merges slices with the same expiry into one lot', () => {
    const pool: Consumption[] = [
      { lotId: 'a', amount: 4n, expiresAt: day(2) },
      { lotId: 'b', amount: 4n, expiresAt: day(2) },
    ];
    expect(lotsForCredit(8n, pool, null)).toEqual([{ amount: 8n, expiresAt: day(2) }]);
  });
});

describe('expiry rules', () => {
  it('counts the policy from the effective instant, and never expires without one', () => {
    expect(policyExpiry(day(1), { kind: 'ROLLING', days: 10 })).toEqual(day(11));
    expect(policyExpiry(day(1), null)).toBeNull();
  });

  it('never expires more than is available, so a pending hold stays funded', () => {
    expect(expirableAmount(100n, 40n)).toBe(40n);
    expect(expirableAmount(30n, 40n)).toBe(30n);
    expect(expirableAmount(30n, -5n)).toBe(0n);
  });

  it('groups what lapses by expiry instant within the window', () => {
    const lots = [
      { id: '1', remaining: 5n, expiresAt: day(3) },
      { id: '2', remaining: 7n, expiresAt: day(3) },
      { id: '3', remaining: 1n, expiresAt: day(2) },
      { id: '4', remaining: 9n, expiresAt: day(20) },
      { id: '5', remaining: 9n, expiresAt: null },
    ];
    expect(groupByExpiry(lots, day(10))).toEqual([
      { expiresAt: day(2), amount: 1n },
      { expiresAt: day(3), amount: 12n },
    ]);
  });
});
