/**
 * The balance vocabulary every module shares: how a balance row's four totals read in its account's
 * normal direction. Pure, and below every domain module, so accounts, lots, postings and events can all
 * import it without importing each other.
 */

/**
 * The side on which an account's balance grows. One definition for the whole code base: a plain object,
 * so the pure rules compare it with string literals, and the GraphQL enum of the same name registers it.
 */
export const NormalBalance = { CREDIT: 'CREDIT', DEBIT: 'DEBIT' } as const;
export type NormalBalance = (typeof NormalBalance)[keyof typeof NormalBalance];

/** A balance row's totals, in minor units, debits and credits kept apart. */
export interface BalanceTotals {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}

export interface DerivedBalance {
  posted: bigint;
  pending: bigint;
  available: bigint;
}

/** Balances read in the account's normal direction; `available` is posted minus pending outflows. */
export function deriveBalance(totals: BalanceTotals, normal: NormalBalance): DerivedBalance {
  if (normal === 'CREDIT') {
    const posted = totals.creditsPosted - totals.debitsPosted;
    return { posted, pending: totals.creditsPending - totals.debitsPending, available: posted - totals.debitsPending };
  }
  const posted = totals.debitsPosted - totals.creditsPosted;
  return { posted, pending: totals.debitsPending - totals.creditsPending, available: posted - totals.creditsPending };
}

/**
 * Point-in-time checkpoints are only taken at instants at least this old, so only a posting backdated
 * further than this can land before one, and such a posting drops the checkpoints it invalidates.
 */
export const CHECKPOINT_SETTLE_MS = 60 * 60 * 1000;

/**
 * Clawback debt: how far a balance sits below its floor (0 without overdraft, −limit with one; null is
 * unbounded and never in debt). Only a reversal with allowDebt puts a balance there, and nothing can take
 * it lower, so this is what the balance still owes; the balances row keeps the same figure as `debt`.
 */
export function balanceDebt(available: bigint, floor: bigint | null): bigint {
  if (floor === null || available >= floor) return 0n;
  return floor - available;
}
