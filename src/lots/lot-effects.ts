import type pg from 'pg';
import { InsufficientFundsError } from '../platform/errors.js';
import { deriveBalance, type BalanceTotals, type NormalBalance } from '../balances/balances.core.js';
import type { ExpiryPolicy } from '../assets/expiry-policy.core.js';
import { activityExpiry, consumeFifo, lotsForCredit, policyExpiry, type Consumption } from './lots.core.js';
import {
  consumptionsBy,
  extendOpenLots,
  lockLotsOpenedBy,
  lockOpenLots,
  openLots,
  recordConsumptions,
  type NewLot,
} from './lots.repository.js';

export interface LotPosting {
  rootLedgerId: string;
  transactionId: string;
  effectiveAt: Date;
  /** An explicit expiry for new value (issue's expiresAt); otherwise each asset's policy. */
  lotExpiresAt: Date | null;
  reversalOfId: string | null;
  /** Whether the posting is activity of its customers (INACTIVITY policies): not an expiry or a reversal. */
  isActivity: boolean;
  /**
   * A reversal allowed to leave clawback debt: where the value its original credited was already spent, it
   * takes the rest from the balance's other open lots (first-expiring first) instead of refusing.
   */
  allowDebt?: boolean;
  /** Posted changes per customer balance of an expiring asset, with the balance after the posting. */
  changes: LotBalanceChange[];
}

/** One balance's change in a posting (`delta`) and its totals after it (`after`). */
export interface LotBalanceChange {
  accountId: string;
  assetId: string;
  normalBalance: NormalBalance;
  delta: BalanceTotals;
  after: BalanceTotals;
  expiryPolicy: ExpiryPolicy | null;
  accountCode: string;
}

/**
 * Keeps lots in step with a posting, inside its database transaction and after its balance rows are
 * locked: the open lots of a balance always add up to max(posted, 0). A fall takes from lots first-
 * expiring-first; a rise opens lots, inheriting the expiry of value taken from other customers in the
 * same transaction. A reversal gives back exactly the lots its original took, and closes the lots its
 * original opened (refusing when that value was already spent).
 */
export async function applyLotEffects(client: pg.PoolClient, posting: LotPosting): Promise<void> {
  const { rootLedgerId, transactionId } = posting;
  const falls = [];
  const rises = [];
  for (const change of posting.changes) {
    const postedAfter = deriveBalance(change.after, change.normalBalance).posted;
    const postedBefore = postedAfter - deriveBalance(change.delta, change.normalBalance).posted;
    const lotChange = max0(postedAfter) - max0(postedBefore);
    if (lotChange < 0n) falls.push({ change, amount: -lotChange });
    else if (lotChange > 0n) rises.push({ change, amount: lotChange });
  }

  const taken: Array<{ lotId: string; amount: bigint }> = [];
  const pools = new Map<string, Consumption[]>();
  for (const { change, amount } of falls) {
    const { accountId, assetId } = change;
    if (posting.reversalOfId !== null) {
      const opened = await lockLotsOpenedBy(client, rootLedgerId, posting.reversalOfId, accountId, assetId);
      const closing = consumeFifo(opened, amount);
      if (sum(closing) < amount && posting.allowDebt === true) {
        const closed = new Set(closing.map((slice) => slice.lotId));
        const others = (await lockOpenLots(client, rootLedgerId, accountId, assetId)).map((lot) =>
          closed.has(lot.id)
            ? { ...lot, remaining: lot.remaining - closing.find((slice) => slice.lotId === lot.id)!.amount }
            : lot,
        );
        taken.push(...closing, ...consumeFifo(others, amount - sum(closing)));
        continue;
      }
      if (sum(closing) < amount) {
        throw new InsufficientFundsError(
          `cannot reverse: ${amount - sum(closing)} of the value it credited to ${change.accountCode} has already been spent or expired`,
        );
      }
      taken.push(...closing);
      continue;
    }
    const consumed = consumeFifo(await lockOpenLots(client, rootLedgerId, accountId, assetId), amount);
    taken.push(...consumed);
    pools.set(assetId, [...(pools.get(assetId) ?? []), ...consumed.map((slice) => ({ ...slice }))]);
  }

  const opened: NewLot[] = [];
  for (const { change, amount } of rises) {
    const { accountId, assetId } = change;
    const fresh = posting.lotExpiresAt ?? policyExpiry(posting.effectiveAt, change.expiryPolicy);
    let left = amount;
    if (posting.reversalOfId !== null) {
      for (const given of await consumptionsBy(client, rootLedgerId, posting.reversalOfId, accountId, assetId)) {
        const back = given.amount < left ? given.amount : left;
        if (back <= 0n) break;
        taken.push({ lotId: given.lotId, amount: -back });
        left -= back;
      }
    }
    if (left > 0n) {
      const pool = pools.get(assetId) ?? [];
      for (const lot of lotsForCredit(left, pool, fresh)) opened.push({ accountId, assetId, ...lot });
    }
  }

  await recordConsumptions(client, rootLedgerId, transactionId, taken);
  await openLots(client, rootLedgerId, transactionId, opened);
  if (posting.isActivity) await extendOnActivity(client, posting);
}

/** INACTIVITY: every balance the posting moved carries its live lots to one later lapse instant. */
async function extendOnActivity(client: pg.PoolClient, posting: LotPosting): Promise<void> {
  const extended = posting.changes.flatMap((change) => {
    const until = activityExpiry(posting.effectiveAt, change.expiryPolicy);
    return until === null ? [] : [{ accountId: change.accountId, assetId: change.assetId, until }];
  });
  await extendOpenLots(client, posting.rootLedgerId, posting.effectiveAt, extended);
}

function max0(value: bigint): bigint {
  return value > 0n ? value : 0n;
}

function sum(consumptions: Array<{ amount: bigint }>): bigint {
  return consumptions.reduce((total, consumption) => total + consumption.amount, 0n);
}
