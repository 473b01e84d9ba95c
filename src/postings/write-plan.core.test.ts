import type { ShardedDelta } from './postings.core';
import { firstItemBelowFloor, firstItemTouching, planWrite, rowsAsLeftByItem } from './write-plan.core';

const A = '01000000-0000-7000-8000-00000000000a';
const B = '01000000-0000-7000-8000-00000000000b';
const ASSET = '01000000-0000-7000-8000-0000000000f1';

/** A change of a CREDIT-normal customer balance with floor 0: positive credits it, negative debits it. */
function change(accountId: string, amount: bigint, pending = 0n): ShardedDelta {
  return {
    accountId,
    assetId: ASSET,
    ledgerId: ASSET,
    normalBalance: 'CREDIT',
    availableFloor: 0n,
    shardable: false,
    shard: 0,
    debitsPosted: amount < 0n ? -amount : 0n,
    creditsPosted: amount > 0n ? amount : 0n,
    debitsPending: pending,
    creditsPending: 0n,
  };
}

describe('planWrite', () => {
  it('lists each balance row once, in lock order, with the net change and the number of items on it', () => {
    const plan = planWrite([{ deltas: [change(B, 5n), change(A, -5n)] }, { deltas: [change(B, -2n)] }]);
    expect(plan.rows.map((row) => row.delta.accountId)).toEqual([A, B]);
    expect(plan.rows.map((row) => [row.creditsPosted, row.debitsPosted, row.items])).toEqual([
      [0n, 5n, 1],
      [5n, 2n, 2],
    ]);
    expect(plan.steps.map((step) => [step.item, step.row, step.available, step.availableThrough])).toEqual([
      [0, 1, 5n, 5n],
      [0, 0, -5n, -5n],
      [1, 1, -2n, 3n],
    ]);
  });

  it('keeps the lowest point an item that lowers a row takes it to, and none for a row only raised', () => {
    const plan = planWrite([
      { deltas: [change(A, -4n)] },
      { deltas: [change(A, 10n)] },
      { deltas: [change(A, -9n), change(B, 3n)] },
    ]);
    expect(plan.rows.map((row) => row.lowest)).toEqual([-4n, null]);
    // A hold lowers available without touching posted.
    expect(planWrite([{ deltas: [change(A, 0n, 7n)] }]).rows[0]!.lowest).toBe(-7n);
  });
});

describe('rowsAsLeftByItem', () => {
  it('gives each item its rows less the changes of the items after it', () => {
    const plan = planWrite([{ deltas: [change(A, 10n)] }, { deltas: [change(A, -3n)] }, { deltas: [change(B, 1n)] }]);
    const final = [
      { debitsPosted: 3n, creditsPosted: 110n, debitsPending: 0n, creditsPending: 0n, version: 9 },
      { debitsPosted: 0n, creditsPosted: 1n, debitsPending: 0n, creditsPending: 0n, version: 1 },
    ];
    const byItem = rowsAsLeftByItem(plan, final, 3);
    expect(byItem[0]).toEqual([
      { debitsPosted: 0n, creditsPosted: 110n, debitsPending: 0n, creditsPending: 0n, version: 8 },
    ]);
    expect(byItem[1]).toEqual([final[0]]);
    expect(byItem[2]).toEqual([final[1]]);
  });
});

describe('naming the refused item', () => {
  it('names the first item that takes a refused row below its floor, and every account it takes there', () => {
    const plan = planWrite([
      { deltas: [change(A, -5n), change(B, 5n)] },
      { deltas: [change(A, -5n), change(B, -20n)] },
    ]);
    // A starts at 8 (fine after item 0, 3 - 5 < 0 after item 1); B starts at 10 (15 - 20 < 0 after item 1).
    expect(
      firstItemBelowFloor(plan, [
        { row: 0, available: 8n },
        { row: 1, available: 10n },
      ]),
    ).toEqual({ item: 1, accountIds: [A, B] });
    expect(firstItemBelowFloor(plan, [{ row: 0, available: 2n }])).toEqual({ item: 0, accountIds: [A] });
  });

  it('refuses to name an item when none takes the rows below their floor', () => {
    const plan = planWrite([{ deltas: [change(A, -5n)] }]);
    expect(() => firstItemBelowFloor(plan, [{ row: 0, available: 50n }])).toThrow(/no item/);
  });

  it('names the first item that changes an account not active', () => {
    const plan = planWrite([{ deltas: [change(A, 1n)] }, { deltas: [change(B, 1n), change(A, 1n)] }]);
    expect(firstItemTouching(plan, [B])).toEqual({ item: 1, accountIds: [B] });
    expect(firstItemTouching(plan, [B, A])).toEqual({ item: 0, accountIds: [A] });
  });
});
