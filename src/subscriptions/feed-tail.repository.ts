import type pg from 'pg';
import type { FeedPosition } from '../events/events.core.js';

/** SQL of resumable subscriptions: one tree's transaction events after a position, below the watermark. */

export interface TailRow {
  xid: bigint;
  id: bigint;
  /** 1 transaction.posted, 2 transaction.voided (events.core.ts). */
  type: number;
  ledgerId: string;
  transactionId: string;
  /** The transaction's entries: account, the account's ledger and asset of each (in entry order). */
  entries: Array<{ accountId: string; ledgerId: string; assetId: string }>;
  /** Every account the transaction has an entry on, and those accounts' ledgers, without repeats. */
  accountIds: string[];
  accountLedgerIds: string[];
}

export interface TailRead {
  rows: TailRow[];
  /**
   * xmin: the watermark the rows were read below (every transaction of this database below it had
   * finished); xmax: the next transaction id when the read began (every transaction that had committed
   * by then is below it).
   */
  xmin: bigint;
  xmax: bigint;
}

interface RawTailRow {
  xid: string;
  id: string;
  type: number;
  ledger_id: string;
  transaction_id: string;
  // Null for a transaction without entries (none is written, but the query need not rely on it).
  account_ids: string[] | null;
  ledger_ids: string[] | null;
  asset_ids: string[] | null;
}

/**
 * Transaction events of one tree after `after`, oldest first, at most `limit`, each with its entries'
 * accounts, ledgers and assets, so the caller can apply the subscription's filter and authorization as it
 * does to a live posting. Every scanned row is returned (not only those a filter would keep), so the
 * caller's position moves past rows that do not concern it and each read stays bounded; nothing in it
 * depends on the subscriber, so subscribers of one tree standing at one position share it (tail-reads.ts).
 *
 * Cost, besides the watermark statement: about 2 ms for 200 rows (3,000 events in the tree, analyzed),
 * 0.3 ms at the head with nothing new. Entries are joined on the row's root, which keeps the query on one
 * shard under Citus; on tables never analyzed the planner may intersect that with every entry of the tree
 * (25 ms for the same read, as the feed page's EXISTS would), which autovacuum's statistics prevent.
 */
export async function selectTail(
  reader: pg.Pool,
  rootLedgerId: string,
  after: FeedPosition,
  limit: number,
): Promise<TailRead> {
  // Two statements, in this order, as the feed reads (migration 20261204010000_feed_watermark): the rows'
  // snapshot must be taken after the watermark was, so every writer below it is visible to the second.
  // The entries name the root as the events do ($1, not the scanned row's column): Citus then sends the
  // whole statement to the root's shard instead of refusing the lateral aggregate over a CTE.
  const bounds = await selectSnapshotBounds(reader, rootLedgerId);
  const { rows } = await reader.query<RawTailRow>({
    name: 'subscription-feed-tail',
    text: `WITH scanned AS MATERIALIZED (
             SELECT e.root_ledger_id, e.xid, e.id, e.type, e.ledger_id, e.transaction_id
               FROM ledger_events e
              WHERE e.root_ledger_id = $1
                AND (e.xid, e.id) > ($2::int8, $3::int8)
                AND e.xid < $5::int8
                AND e.type IN (1, 2)
              ORDER BY e.xid, e.id
              LIMIT $4)
           SELECT sc.xid::text AS xid, sc.id::text AS id, sc.type, sc.ledger_id, sc.transaction_id,
                  t.account_ids, t.ledger_ids, t.asset_ids
             FROM (scanned sc CROSS JOIN LATERAL (
                  SELECT array_agg(en.account_id ORDER BY en.id) AS account_ids,
                         array_agg(en.ledger_id ORDER BY en.id) AS ledger_ids,
                         array_agg(en.asset_id ORDER BY en.id) AS asset_ids
                    FROM entries en
                   WHERE en.root_ledger_id = $1 AND en.transaction_id = sc.transaction_id) t)
            ORDER BY sc.xid, sc.id`,
    values: [rootLedgerId, after.xid.toString(), after.id.toString(), limit, bounds.xmin.toString()],
  });
  return {
    xmin: bounds.xmin,
    xmax: bounds.xmax,
    rows: rows.map((row) => {
      const accountIds = row.account_ids ?? [];
      const entries = accountIds.map((accountId, index) => ({
        accountId,
        ledgerId: row.ledger_ids![index]!,
        assetId: row.asset_ids![index]!,
      }));
      return {
        xid: BigInt(row.xid),
        id: BigInt(row.id),
        type: row.type,
        ledgerId: row.ledger_id,
        transactionId: row.transaction_id,
        entries,
        accountIds: [...new Set(accountIds)],
        accountLedgerIds: [...new Set(entries.map((entry) => entry.ledgerId))],
      };
    }),
  };
}

/**
 * One tree's feed watermark (the oldest running writer, `ledger_events_watermark()`) and the next
 * transaction id: to place `after: "now"`, to refuse cursors from the future, and to bound a tail read.
 * Rows below the watermark must be read by a later statement. Read where the tree's events are written
 * (`ledger_events_bounds`: on Citus, the root's worker, whose transaction ids the events carry).
 */
export async function selectSnapshotBounds(
  reader: pg.Pool,
  rootLedgerId: string,
): Promise<{ xmin: bigint; xmax: bigint }> {
  const { rows } = await reader.query<{ xmin: string; xmax: string }>({
    name: 'subscription-snapshot-bounds',
    text: 'SELECT * FROM ledger_events_bounds($1)',
    values: [rootLedgerId],
  });
  return { xmin: BigInt(rows[0]!.xmin), xmax: BigInt(rows[0]!.xmax) };
}
