import type { BalanceTotals, NormalBalance } from '../balances/balances.core.js';

/**
 * What the posting engine announces after a commit, never before: the transaction and every balance row
 * it changed, with the row's new totals and version. Subscriptions and cross-instance fan-out consume it.
 */
export interface ChangedBalance extends BalanceTotals {
  rootLedgerId: string;
  accountId: string;
  assetId: string;
  /** The balance-row shard that changed; hot system accounts spread over several (see balances table). */
  shard: number;
  /** True when the account's balance is spread over shards: the row alone is not the whole balance. */
  sharded: boolean;
  normalBalance: NormalBalance;
  version: number;
  updatedAt: Date;
}

export interface CommittedPosting {
  rootLedgerId: string;
  transactionId: string;
  /** The ledger the transaction was posted in. */
  ledgerId: string;
  /** Ledgers of every account the transaction touched. */
  accountLedgerIds: string[];
  accountIds: string[];
  status: 'PENDING' | 'POSTED' | 'VOIDED';
  balances: ChangedBalance[];
}

export interface LedgerEvents {
  /** Called once per committed posting, after COMMIT; must not throw into the caller. */
  committed(posting: CommittedPosting): void;
}

/** For processes in which nothing subscribes: the bench's engine probe (bench/probes/engine.ts) loads it from dist/. */
export const unobservedEvents: LedgerEvents = { committed: () => undefined };
