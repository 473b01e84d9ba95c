/**
 * Expiring value, tracked as lots inside double-entry bookkeeping: pure rules, no I/O.
 *
 * For every customer account and expiring asset, the open lots' remaining amounts add up to the posted
 * balance (or to zero while an overdraft keeps the balance negative). Debits take from the lot that
 * expires soonest (never-expiring lots last); credits open lots; a credit funded by value debited in
 * the same transaction (a transfer) inherits that value's expiry instead of starting a fresh one.
 */

import type { ExpiryPolicy } from '../assets/expiry-policy.core.js';
import { periodBoundary } from '../platform/calendar.core.js';

export interface OpenLot {
  id: string;
  remaining: bigint;
  expiresAt: Date | null;
}

export interface Consumption {
  lotId: string;
  amount: bigint;
  expiresAt: Date | null;
}

/** FIFO by expiry: the lots must arrive sorted soonest-expiring first, never-expiring last. */
export function consumeFifo(lots: readonly OpenLot[], wanted: bigint): Consumption[] {
  const taken: Consumption[] = [];
  let left = wanted;
  for (const lot of lots) {
    if (left <= 0n) break;
    const amount = lot.remaining < left ? lot.remaining : left;
    if (amount > 0n) taken.push({ lotId: lot.id, amount, expiresAt: lot.expiresAt });
    left -= amount;
  }
  return taken;
}

export function compareExpiry(a: Date | null, b: Date | null): number {
  if (a === null) return b === null ? 0 : 1;
  if (b === null) return -1;
  return a.getTime() - b.getTime();
}

export interface LotToOpen {
  amount: bigint;
  expiresAt: Date | null;
}

/**
 * Splits a credit into lots. Value consumed from other customers in the same transaction (the `pool`,
 * consumed in place) keeps its expiry; the rest is new value and expires at `freshExpiresAt`.
 */
export function lotsForCredit(amount: bigint, pool: Consumption[], freshExpiresAt: Date | null): LotToOpen[] {
  const lots: LotToOpen[] = [];
  let left = amount;
  while (left > 0n && pool.length > 0) {
    const slice = pool[0]!;
    const take = slice.amount < left ? slice.amount : left;
    lots.push({ amount: take, expiresAt: slice.expiresAt });
    slice.amount -= take;
    left -= take;
    if (slice.amount === 0n) pool.shift();
  }
  if (left > 0n) lots.push({ amount: left, expiresAt: freshExpiresAt });
  return mergeByExpiry(lots);
}

function mergeByExpiry(lots: LotToOpen[]): LotToOpen[] {
  const merged = new Map<number | null, LotToOpen>();
  for (const lot of lots) {
    const key = lot.expiresAt?.getTime() ?? null;
    const existing = merged.get(key);
    if (existing) existing.amount += lot.amount;
    else merged.set(key, { ...lot });
  }
  return [...merged.values()].sort((a, b) => compareExpiry(a.expiresAt, b.expiresAt));
}

/**
 * When new value lapses under its asset's policy, counted from when the credit takes effect: ROLLING and
 * INACTIVITY days are whole 24-hour days; END_OF_PERIOD is a calendar boundary in the policy's zone.
 */
export function policyExpiry(effectiveAt: Date, policy: ExpiryPolicy | null): Date | null {
  if (policy === null) return null;
  if (policy.kind === 'END_OF_PERIOD')
    return periodBoundary(effectiveAt, policy.period, policy.timeZone, policy.periods + 1);
  return new Date(effectiveAt.getTime() + policy.days * DAY_MS);
}

/**
 * Under INACTIVITY, activity on a balance at `at` carries every open lot of it to this instant (never
 * earlier than it already was); other policies fix a lot's expiry when it opens. Null: nothing moves.
 */
export function activityExpiry(at: Date, policy: ExpiryPolicy | null): Date | null {
  return policy?.kind === 'INACTIVITY' ? new Date(at.getTime() + policy.days * DAY_MS) : null;
}

const DAY_MS = 86_400_000;

/** How much of the lapsed value may expire now: never more than is available, so holds stay funded. */
export function expirableAmount(lapsedRemaining: bigint, available: bigint): bigint {
  if (available <= 0n) return 0n;
  return lapsedRemaining < available ? lapsedRemaining : available;
}

/** Amounts grouped by expiry instant, soonest first: what lapses and when. */
export function groupByExpiry(lots: readonly OpenLot[], until: Date): Array<{ expiresAt: Date; amount: bigint }> {
  const groups = new Map<number, bigint>();
  for (const lot of lots) {
    if (lot.expiresAt === null || lot.expiresAt > until || lot.remaining <= 0n) continue;
    groups.set(lot.expiresAt.getTime(), (groups.get(lot.expiresAt.getTime()) ?? 0n) + lot.remaining);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([time, amount]) => ({ expiresAt: new Date(time), amount }));
}
