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
  /** The read's snapshot: every transaction below xmin has finished; none at or above xmax had started. */
  xmin: bigint;
  xmax: bigint;
}

interface RawTailRow {
  xmin: string;
  xmax: string;
  xid: string | null;
  id: string | null;
  type: number | null;
  ledger_id: string | null;
  transaction_id: string | null;
  account_ids: string[] | null;
  ledger_ids: string[] | null;
  asset_ids: string[] | null;
}

/**
 * Transaction events of one tree after `after`, oldest first, at most `limit`, each with its entries'
 * accounts, ledgers and assets, so the caller can apply the subscription's filter and authorization as it
 * does to a live posting. Nothing in it depends on the subscriber, so subscribers of one tree standing at
 * one position share the read (tail-reads.ts). A read of 200 rows costs about 2 ms (3,000 events in the tree, analyzed); one at the head,
 * with nothing new, about 0.3 ms. Entries are joined on the row's root, which keeps the query on one
 * shard under Citus; on tables never analyzed the planner may intersect that with every entry of the tree
 * (25 ms for the same read, as the feed page's EXISTS would), which autovacuum's statistics prevent. Every scanned row is returned (not only those the filter keeps) so the caller's position
 * moves past rows that do not concern it and each read stays bounded. The snapshot bounds come back even
 * when no row does.
 */
export async function selectTail(
  reader: pg.Pool,
  rootLedgerId: string,
  after: FeedPosition,
  limit: number,
): Promise<TailRead> {
  const { rows } = await reader.query<RawTailRow>({
    name: 'subscription-feed-tail',
    text: `WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
           scanned AS MATERIALIZED (
             SELECT e.root_ledger_id, e.xid, e.id, e.type, e.ledger_id, e.transaction_id
               FROM ledger_events e, snap
              WHERE e.root_ledger_id = $1
                AND (e.xid, e.id) > ($2::int8, $3::int8)
                AND e.xid < pg_snapshot_xmin(snap.s)::text::int8
                AND e.type IN (1, 2)
              ORDER BY e.xid, e.id
              LIMIT $4)
           SELECT pg_snapshot_xmin(snap.s)::text AS xmin, pg_snapshot_xmax(snap.s)::text AS xmax,
                  sc.xid::text AS xid, sc.id::text AS id, sc.type, sc.ledger_id, sc.transaction_id,
                  t.account_ids, t.ledger_ids, t.asset_ids
             FROM snap
             LEFT JOIN (scanned sc CROSS JOIN LATERAL (
                  SELECT array_agg(en.account_id ORDER BY en.id) AS account_ids,
                         array_agg(en.ledger_id ORDER BY en.id) AS ledger_ids,
                         array_agg(en.asset_id ORDER BY en.id) AS asset_ids
                    FROM entries en
                   WHERE en.root_ledger_id = sc.root_ledger_id AND en.transaction_id = sc.transaction_id) t) ON true
            ORDER BY sc.xid, sc.id`,
    values: [rootLedgerId, after.xid.toString(), after.id.toString(), limit],
  });
  const first = rows[0]!;
  return {
    xmin: BigInt(first.xmin),
    xmax: BigInt(first.xmax),
    rows: rows
      .filter((row) => row.xid !== null)
      .map((row) => {
        const accountIds = row.account_ids ?? [];
        const entries = accountIds.map((accountId, index) => ({
          accountId,
          ledgerId: row.ledger_ids![index]!,
          assetId: row.asset_ids![index]!,
        }));
        return {
          xid: BigInt(row.xid!),
          id: BigInt(row.id!),
          type: row.type!,
          ledgerId: row.ledger_id!,
          transactionId: row.transaction_id!,
          entries,
          accountIds: [...new Set(accountIds)],
          accountLedgerIds: [...new Set(entries.map((entry) => entry.ledgerId))],
        };
      }),
  };
}

/** The current snapshot's bounds, to place `after: "now"` and to refuse cursors from the future. */
export async function selectSnapshotBounds(reader: pg.Pool): Promise<{ xmin: bigint; xmax: bigint }> {
  const { rows } = await reader.query<{ xmin: string; xmax: string }>({
    name: 'subscription-snapshot-bounds',
    text: `SELECT pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax
             FROM (SELECT pg_current_snapshot() AS s) AS snap`,
  });
  return { xmin: BigInt(rows[0]!.xmin), xmax: BigInt(rows[0]!.xmax) };
}
