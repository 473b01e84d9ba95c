import { deriveBalance, type BalanceTotals } from '../balances/balances.core.js';
import type { ShardedDelta } from './postings.core.js';

/**
 * The arithmetic of one write_postings call, done here so that the statement does none of it: the balance
 * rows the items change, each once, in the global lock order with its net change; and each item's step on
 * each row, with what the items up to it have added. The statement locks the rows, judges each floor at
 * the lowest point the items take it, and applies the net changes; these functions then give each item its
 * rows as it left them, and name the item a refusal belongs to. Pure, so the rules are tested without I/O.
 */

/** One balance row of a write: the net change of every item on it. */
export interface WriteRow extends BalanceTotals {
  /** The first change planned for the row: its account, asset, shard, ledger, normal side and floor. */
  delta: ShardedDelta;
  /** How many items change the row (its version rises by as many). */
  items: number;
  /** The lowest the items take the row's available balance, relative to its start, at an item that lowers it. */
  lowest: bigint | null;
}

/** One item's change of one row, in item order. */
export interface WriteStep {
  /** The item's index in the write, from 0. */
  item: number;
  /** The row's index in `rows`. */
  row: number;
  delta: ShardedDelta;
  /** The item's change of the row's available and posted balances, and each summed over it and the items before it. */
  available: bigint;
  availableThrough: bigint;
  posted: bigint;
  postedThrough: bigint;
}

export interface WritePlan {
  rows: WriteRow[];
  steps: WriteStep[];
}

/** A balance row as the write left it, or as one item left it. */
export interface RowTotals extends BalanceTotals {
  version: number;
}

function rowKey(delta: ShardedDelta): string {
  return `${delta.accountId}/${delta.assetId}/${delta.shard}`;
}

/** Rows sorted by (account, asset, shard), the order Postgres gives uuids, which every write locks in. */
function byLockOrder(a: WriteRow, b: WriteRow): number {
  const left = a.delta;
  const right = b.delta;
  if (left.accountId !== right.accountId) return left.accountId < right.accountId ? -1 : 1;
  if (left.assetId !== right.assetId) return left.assetId < right.assetId ? -1 : 1;
  return left.shard - right.shard;
}

export function planWrite(items: ReadonlyArray<{ deltas: readonly ShardedDelta[] }>): WritePlan {
  const rows = new Map<string, WriteRow & { availableSoFar: bigint; postedSoFar: bigint }>();
  const pending: Array<Omit<WriteStep, 'row'> & { key: string }> = [];
  items.forEach(({ deltas }, item) => {
    for (const delta of deltas) {
      const key = rowKey(delta);
      let row = rows.get(key);
      if (row === undefined) {
        row = {
          delta,
          debitsPosted: 0n,
          creditsPosted: 0n,
          debitsPending: 0n,
          creditsPending: 0n,
          items: 0,
          lowest: null,
          availableSoFar: 0n,
          postedSoFar: 0n,
        };
        rows.set(key, row);
      }
      const change = deriveBalance(delta, delta.normalBalance);
      row.debitsPosted += delta.debitsPosted;
      row.creditsPosted += delta.creditsPosted;
      row.debitsPending += delta.debitsPending;
      row.creditsPending += delta.creditsPending;
      row.items += 1;
      row.availableSoFar += change.available;
      row.postedSoFar += change.posted;
      if (change.available < 0n && (row.lowest === null || row.availableSoFar < row.lowest))
        row.lowest = row.availableSoFar;
      pending.push({
        key,
        item,
        delta,
        available: change.available,
        availableThrough: row.availableSoFar,
        posted: change.posted,
        postedThrough: row.postedSoFar,
      });
    }
  });
  const sorted = [...rows.values()].sort(byLockOrder);
  const indexOf = new Map(sorted.map((row, index) => [rowKey(row.delta), index]));
  return {
    rows: sorted.map(({ availableSoFar: _available, postedSoFar: _posted, ...row }) => row),
    steps: pending.map(({ key, ...step }) => ({ ...step, row: indexOf.get(key)! })),
  };
}

/**
 * Each item's rows as it left them: a row's final totals less the changes of the items after it, and its
 * version less their number. `final` is in the order of `plan.rows`.
 */
export function rowsAsLeftByItem(plan: WritePlan, final: readonly RowTotals[], itemCount: number): RowTotals[][] {
  const byItem: RowTotals[][] = Array.from({ length: itemCount }, () => []);
  const later = final.map(() => ({
    debitsPosted: 0n,
    creditsPosted: 0n,
    debitsPending: 0n,
    creditsPending: 0n,
    items: 0,
  }));
  for (let index = plan.steps.length - 1; index >= 0; index -= 1) {
    const step = plan.steps[index]!;
    const row = final[step.row]!;
    const after = later[step.row]!;
    byItem[step.item]!.unshift({
      debitsPosted: row.debitsPosted - after.debitsPosted,
      creditsPosted: row.creditsPosted - after.creditsPosted,
      debitsPending: row.debitsPending - after.debitsPending,
      creditsPending: row.creditsPending - after.creditsPending,
      version: row.version - after.items,
    });
    after.debitsPosted += step.delta.debitsPosted;
    after.creditsPosted += step.delta.creditsPosted;
    after.debitsPending += step.delta.debitsPending;
    after.creditsPending += step.delta.creditsPending;
    after.items += 1;
  }
  return byItem;
}

/**
 * The first item that takes a row below its floor, given the rows the statement refused with their
 * available balances as it locked them, and every row that item takes below: the same judgement as the
 * statement's, step by step, only to name the item.
 */
export function firstItemBelowFloor(
  plan: WritePlan,
  refused: ReadonlyArray<{ row: number; available: bigint }>,
): { item: number; accountIds: string[] } {
  const startOf = new Map(refused.map(({ row, available }) => [row, available]));
  const below = plan.steps.filter((step) => {
    const start = startOf.get(step.row);
    const floor = step.delta.availableFloor;
    return start !== undefined && floor !== null && step.available < 0n && start + step.availableThrough < floor;
  });
  const item = Math.min(...below.map((step) => step.item));
  if (!Number.isFinite(item)) throw new Error('write_postings refused rows that no item takes below their floor');
  return {
    item,
    accountIds: [...new Set(below.filter((step) => step.item === item).map((step) => step.delta.accountId))],
  };
}

/** The first item that changes one of the accounts the statement found not ACTIVE, and those of its accounts. */
export function firstItemTouching(
  plan: WritePlan,
  accountIds: readonly string[],
): { item: number; accountIds: string[] } {
  const inactive = new Set(accountIds);
  const touching = plan.steps.filter((step) => inactive.has(step.delta.accountId));
  const item = Math.min(...touching.map((step) => step.item));
  if (!Number.isFinite(item)) throw new Error('write_postings refused accounts that no item changes');
  return {
    item,
    accountIds: [...new Set(touching.filter((step) => step.item === item).map((step) => step.delta.accountId))].sort(),
  };
}
