import { deriveBalance } from './balances.core';

describe('balance rules', () => {
  const totals = { debitsPosted: 30n, creditsPosted: 100n, debitsPending: 20n, creditsPending: 5n };

  it('derives posted, pending and available in a credit-normal account', () => {
    expect(deriveBalance(totals, 'CREDIT')).toEqual({ posted: 70n, pending: -15n, available: 50n });
  });

  it('derives posted, pending and available in a debit-normal account', () => {
    expect(deriveBalance(totals, 'DEBIT')).toEqual({ posted: -70n, pending: 15n, available: -75n });
  });
});
