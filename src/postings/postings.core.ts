/**
 * The posting rules, in one place and free of I/O. Every write to the journal is planned here first;
 * the database then applies the plan atomically and checks the balance constraint a second time.
 */
import { createHash } from 'node:crypto';
import { AMOUNT_MAX } from '../platform/amount.js';
import {
  AssetNotFoundError,
  BadInputError,
  InsufficientFundsError,
  LimitExceededError,
  NotFoundError,
  UnbalancedTransactionError,
} from '../platform/errors.js';
import type { NormalBalance } from '../balances/balances.core.js';

export type Direction = 'DEBIT' | 'CREDIT';

export const ENTRIES_PER_TRANSACTION_MAX = 100;
export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;
export const DESCRIPTION_LENGTH_MAX = 1000;
/**
 * Unconstrained system accounts spread their writes over this many balance rows (the balances table allows
 * up to 64). 32 keeps S2's 32 clients issuing from one account mostly on distinct rows.
 */
export const HOT_ACCOUNT_SHARDS = 32;
/** A posting may be effective up to this far in the future, to absorb clock skew between systems. */
export const EFFECTIVE_AT_FUTURE_SKEW_MS = 5 * 60 * 1000;

export interface EntryRequest {
  accountId: string;
  assetCode: string;
  direction: Direction;
  amount: bigint;
}

/**
 * What planning needs to know of an account: all fixed when the account is created. Its status can change,
 * so the database checks it, under a lock, when it applies the plan (write_postings).
 */
export interface PostingAccount {
  id: string;
  rootLedgerId: string;
  ledgerId: string;
  code: string;
  normalBalance: NormalBalance;
  allowOverdraft: boolean;
  overdraftLimit: bigint | null;
  isSystem: boolean;
}

/** An account as a posting plans with it: facts fixed at its creation, and where it sits in its tree. */
export interface AccountFacts extends PostingAccount {
  ledgerPath: string[];
}

export interface PostingAsset {
  id: string;
  code: string;
}

export interface PlannedEntry {
  accountId: string;
  ledgerId: string;
  assetId: string;
  direction: Direction;
  amount: bigint;
}

/** The change one posting makes to one (account, asset) balance. */
export interface BalanceDelta {
  accountId: string;
  assetId: string;
  ledgerId: string;
  normalBalance: NormalBalance;
  availableFloor: bigint | null;
  /** Hot unconstrained accounts may write any shard; constrained ones always shard 0. */
  shardable: boolean;
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}

/** A balance change bound to the balance row (shard) it will be written to. */
export interface ShardedDelta extends BalanceDelta {
  shard: number;
}

/**
 * Hot unconstrained accounts write a random shard, so concurrent postings rarely meet on one row.
 * Pending amounts always live on shard 0, so settling a hold releases exactly the row it reserved on.
 */
export function assignShards(deltas: BalanceDelta[], random: () => number = Math.random): ShardedDelta[] {
  return deltas.map((delta) => {
    const touchesPending = delta.debitsPending !== 0n || delta.creditsPending !== 0n;
    return { ...delta, shard: delta.shardable && !touchesPending ? Math.floor(random() * HOT_ACCOUNT_SHARDS) : 0 };
  });
}

export interface PostingPlan {
  entries: PlannedEntry[];
  /** Sorted by (accountId, assetId): the order in which balance rows are locked, to prevent deadlocks. */
  deltas: BalanceDelta[];
}

/** Rules that need nothing but the request: entry count, positive amounts, debits = credits per asset. */
export function checkEntryShape(entries: readonly EntryRequest[]): void {
  if (entries.length < 2) {
    throw new UnbalancedTransactionError(`a transaction needs at least two entries; got ${entries.length}`);
  }
  if (entries.length > ENTRIES_PER_TRANSACTION_MAX) {
    throw new BadInputError(`a transaction has at most ${ENTRIES_PER_TRANSACTION_MAX} entries; got ${entries.length}`);
  }
  const sums = new Map<string, { debits: bigint; credits: bigint }>();
  for (const [index, entry] of entries.entries()) {
    if (entry.amount <= 0n) {
      throw new BadInputError(`entry ${index}: amount must be a positive integer of minor units; got ${entry.amount}`);
    }
    const sum = sums.get(entry.assetCode) ?? { debits: 0n, credits: 0n };
    if (entry.direction === 'DEBIT') sum.debits += entry.amount;
    else sum.credits += entry.amount;
    if (sum.debits > AMOUNT_MAX || sum.credits > AMOUNT_MAX) {
      throw new BadInputError(`the ${entry.assetCode} entries add up beyond the signed 64-bit range`);
    }
    sums.set(entry.assetCode, sum);
  }
  for (const [assetCode, { debits, credits }] of sums) {
    if (debits !== credits) {
      throw new UnbalancedTransactionError(`${assetCode} debits (${debits}) do not equal credits (${credits})`);
    }
  }
}

/** Rules that need the accounts and assets: existence, one root ledger; then the balance changes, sorted. */
export function planPosting(input: {
  rootLedgerId: string;
  entries: readonly EntryRequest[];
  accounts: ReadonlyMap<string, PostingAccount>;
  assets: ReadonlyMap<string, PostingAsset>;
  /** A hold: the entries reserve value in the pending columns instead of moving posted value. */
  pending?: boolean;
}): PostingPlan {
  checkEntryShape(input.entries);
  const planned: PlannedEntry[] = [];
  const deltas = new Map<string, BalanceDelta>();

  for (const entry of input.entries) {
    const account = input.accounts.get(entry.accountId);
    if (account === undefined) throw new NotFoundError(`account ${entry.accountId} does not exist`);
    if (account.rootLedgerId !== input.rootLedgerId) {
      throw new BadInputError(
        `account ${account.code} belongs to another root ledger; a transaction stays within one root ledger`,
      );
    }
    const asset = input.assets.get(entry.assetCode);
    if (asset === undefined)
      throw new AssetNotFoundError(`asset ${entry.assetCode} is not defined in this ledger tree`);

    planned.push({
      accountId: account.id,
      ledgerId: account.ledgerId,
      assetId: asset.id,
      direction: entry.direction,
      amount: entry.amount,
    });

    const key = `${account.id}/${asset.id}`;
    const floor = availableFloor(account);
    const delta = deltas.get(key) ?? {
      accountId: account.id,
      assetId: asset.id,
      ledgerId: account.ledgerId,
      normalBalance: account.normalBalance,
      availableFloor: floor,
      shardable: account.isSystem && floor === null,
      debitsPosted: 0n,
      creditsPosted: 0n,
      debitsPending: 0n,
      creditsPending: 0n,
    };
    if (input.pending) {
      if (entry.direction === 'DEBIT') delta.debitsPending += entry.amount;
      else delta.creditsPending += entry.amount;
    } else if (entry.direction === 'DEBIT') delta.debitsPosted += entry.amount;
    else delta.creditsPosted += entry.amount;
    deltas.set(key, delta);
  }

  const sorted = [...deltas.values()].sort(
    (a, b) => compare(a.accountId, b.accountId) || compare(a.assetId, b.assetId),
  );
  return { entries: planned, deltas: sorted };
}

/** The lowest `available` an account may reach: 0 without overdraft, −limit with one, unbounded (null) without a limit. */
export function availableFloor(account: Pick<PostingAccount, 'allowOverdraft' | 'overdraftLimit'>): bigint | null {
  if (!account.allowOverdraft) return 0n;
  return account.overdraftLimit === null ? null : -account.overdraftLimit;
}

/** The entries that undo `entries`: same accounts, assets and amounts, opposite directions. */
export function reversingEntries<T extends { direction: Direction }>(entries: readonly T[]): T[] {
  return entries.map((entry) => ({ ...entry, direction: entry.direction === 'DEBIT' ? 'CREDIT' : 'DEBIT' }));
}

/**
 * The balance changes that settle a hold: its pending amounts are released, and a capture's posted
 * entries (possibly smaller, for a partial capture) are applied in the same step.
 */
export function settlementDeltas(held: readonly BalanceDelta[], captured: readonly BalanceDelta[]): BalanceDelta[] {
  const merged = new Map<string, BalanceDelta>();
  for (const delta of held) {
    merged.set(`${delta.accountId}/${delta.assetId}`, {
      ...delta,
      debitsPosted: 0n,
      creditsPosted: 0n,
      debitsPending: -delta.debitsPending,
      creditsPending: -delta.creditsPending,
    });
  }
  for (const delta of captured) {
    const key = `${delta.accountId}/${delta.assetId}`;
    const existing = merged.get(key);
    if (existing)
      merged.set(key, { ...existing, debitsPosted: delta.debitsPosted, creditsPosted: delta.creditsPosted });
    else merged.set(key, delta);
  }
  return [...merged.values()].sort((a, b) => compare(a.accountId, b.accountId) || compare(a.assetId, b.assetId));
}

/** A capture of `amount` from a two-entry hold; larger than held is refused, equal or absent is full. */
export function captureEntries<T extends { amount: bigint }>(held: readonly T[], amount: bigint | null): T[] {
  if (amount === null) return held.map((entry) => ({ ...entry }));
  if (amount <= 0n) throw new BadInputError('a capture amount must be positive; void the hold to release it all');
  const total = held[0]?.amount ?? 0n;
  if (held.length !== 2 && held.some((entry) => entry.amount !== amount)) {
    throw new BadInputError('a partial capture needs a two-entry hold; capture this hold in full');
  }
  if (amount > total) throw new BadInputError(`cannot capture ${amount}: the hold is for ${total}`);
  return held.map((entry) => ({ ...entry, amount }));
}

export function checkIdempotencyKey(key: string): void {
  if (key.length < 1 || key.length > IDEMPOTENCY_KEY_LENGTH_MAX) {
    throw new BadInputError(`idempotencyKey must be 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} characters`);
  }
}

export function checkDescription(description: string | null | undefined, field = 'description'): void {
  if (description != null && description.length > DESCRIPTION_LENGTH_MAX) {
    throw new BadInputError(`${field} must be at most ${DESCRIPTION_LENGTH_MAX} characters`);
  }
}

export const HOLD_TIMEOUT_SECONDS_MAX = 30 * 86_400;

export function checkHoldShape(pending: boolean, timeoutSeconds: number | null, reversal: boolean): void {
  if (timeoutSeconds !== null) {
    if (!pending) throw new BadInputError('timeoutSeconds applies only to a pending transaction');
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > HOLD_TIMEOUT_SECONDS_MAX) {
      throw new BadInputError(`timeoutSeconds must be an integer from 1 to ${HOLD_TIMEOUT_SECONDS_MAX}`);
    }
  }
  if (pending && reversal) throw new BadInputError('a reversal cannot be pending');
}

export function checkEffectiveAt(effectiveAt: Date, now: Date): void {
  if (effectiveAt.getTime() > now.getTime() + EFFECTIVE_AT_FUTURE_SKEW_MS) {
    throw new BadInputError('effectiveAt may not be more than 5 minutes in the future');
  }
}

/**
 * A stable digest of what a request asks for, so a replay under the same idempotency key can be told
 * apart from a different request reusing the key. Object keys are sorted; bigints become strings.
 */
export function requestFingerprint(request: unknown): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => compare(a, b));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** An error of one item of a batch says which item it is. */
export function nameItem<T>(error: T, index: number): T {
  if (error instanceof Error) error.message = `transactions[${index}]: ${error.message}`;
  if (error instanceof InsufficientFundsError || error instanceof LimitExceededError) error.item = index;
  return error;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
