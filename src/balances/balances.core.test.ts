import { balanceDebt, deriveBalance } from './balances.core';

describe('balance rules', () => {
  const totals = { debitsPosted: 30n, creditsPosted: 100n, debitsPending: 20n, creditsPending: 5n };

  it('derives posted, pending and available in a credit-normal account', () => {
    expect(deriveBalance(totals, 'CREDIT')).toEqual({ posted: 70n, pending: -15n, available: 50n });
  });

  it('derives posted, pending and available in a debit-normal account', () => {
    expect(deriveBalance(totals, 'DEBIT')).toEqual({ posted: -70n, pending: 15n, available: -75n });
  });
});

describe('balanceDebt', () => {
  it('is what a balance lacks to reach its floor', () => {
    expect(balanceDebt(-30n, 0n)).toBe(30n);
    expect(balanceDebt(-130n, -100n)).toBe(30n);
  });

  it('is zero at or above the floor, and for an unbounded balance', () => {
    expect(balanceDebt(0n, 0n)).toBe(0n);
    expect(balanceDebt(5n, 0n)).toBe(0n);
    expect(balanceDebt(-1_000n, null)).toBe(0n);
  });
});
