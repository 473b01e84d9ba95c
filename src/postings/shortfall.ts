import type pg from 'pg';
import { selectBalances } from '../accounts/account.repository.js';
import { deriveBalance } from '../balances/balances.core.js';
import { InsufficientFundsError } from '../platform/errors.js';
import type { BalanceDelta } from './postings.core.js';

/**
 * Completes an INSUFFICIENT_FUNDS refusal with what a UI shows ("you have 500, this needs 600"):
 * write_postings names only the accounts that would fall below their floor, so their balances are read
 * again after the refusal, with the posting's transaction already over. That read costs one query on the
 * refusal path only; a concurrent posting may have moved the balance since, so it is a hint, not a promise.
 */
export async function explainShortfall(
  reader: pg.Pool,
  rootLedgerId: string,
  deltas: readonly BalanceDelta[],
  assetCodes: ReadonlyMap<string, string>,
  refusal: InsufficientFundsError,
  /** In an atomic batch, the changes of the items before the refused one: `available` is as they left it. */
  earlier: readonly BalanceDelta[] = [],
): Promise<InsufficientFundsError> {
  // What the posting would take from each floored (account, asset) the database named.
  const takes = deltas
    .filter((delta) => delta.availableFloor !== null && refusal.refusedAccountIds.includes(delta.accountId))
    .map((delta) => ({ delta, change: deriveBalance(delta, delta.normalBalance).available }))
    .filter((take) => take.change < 0n);
  if (takes.length === 0) return refusal;
  const balances = await selectBalances(
    reader,
    [...new Set(takes.map((take) => take.delta.accountId))].map((accountId) => ({ rootLedgerId, accountId })),
  );
  const availableOf = ({ delta }: (typeof takes)[number]) => {
    const row = balances.find((balance) => balance.accountId === delta.accountId && balance.assetId === delta.assetId);
    const before = earlier
      .filter((change) => change.accountId === delta.accountId && change.assetId === delta.assetId)
      .reduce((sum, change) => sum + deriveBalance(change, change.normalBalance).available, 0n);
    return (row === undefined ? 0n : deriveBalance(row, row.normalBalance).available) + before;
  };
  // The first that falls short as read now; when a concurrent change cured them all, the first named.
  const short = takes.find((take) => availableOf(take) + take.change < take.delta.availableFloor!) ?? takes[0]!;
  return new InsufficientFundsError(
    refusal.message,
    {
      accountId: short.delta.accountId,
      asset: assetCodes.get(short.delta.assetId) ?? short.delta.assetId,
      available: availableOf(short).toString(),
      requested: (-short.change).toString(),
    },
    refusal.refusedAccountIds,
  );
}
