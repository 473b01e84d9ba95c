import type pg from 'pg';
import type { FeedPosition } from './events.core.js';
import { readPerRoot } from '../platform/root-directory.js';

/** SQL of the durable event feed (ledger_events, written by triggers) and of the journal it is read with. */
type Reader = pg.Pool | pg.PoolClient;

export interface EventRow {
  rootLedgerId: string;
  xid: bigint;
  id: bigint;
  type: number;
  ledgerId: string;
  transactionId: string | null;
  accountId: string | null;
  status: string | null;
  occurredAt: Date;
  payload: Record<string, unknown> | null;
}

/** What one feed read asks for; `ledgerId` is the top of the subtree, `wholeTree` when it is the root. */
export interface FeedQuery {
  rootLedgerId: string;
  ledgerId: string;
  wholeTree: boolean;
  after: FeedPosition;
  typeCodes: number[] | null;
  limit: number;
  /** Only events that occurred in this window (redelivery). */
  occurredFrom?: Date | null;
  occurredTo?: Date | null;
}

interface RawEventRow {
  root_ledger_id: string;
  xid: string;
  id: string;
  type: number;
  ledger_id: string;
  transaction_id: string | null;
  account_id: string | null;
  status: string | null;
  occurred_at: Date;
  payload: Record<string, unknown> | null;
}

const EVENT_COLUMNS = `e.root_ledger_id, e.xid::text AS xid, e.id::text AS id, e.type, e.ledger_id, e.transaction_id,
  e.account_id, e.status::text AS status, e.occurred_at, e.payload`;

function toEventRow(row: RawEventRow): EventRow {
  return {
    rootLedgerId: row.root_ledger_id,
    xid: BigInt(row.xid),
    id: BigInt(row.id),
    type: row.type,
    ledgerId: row.ledger_id,
    transactionId: row.transaction_id,
    accountId: row.account_id,
    status: row.status,
    occurredAt: row.occurred_at,
    payload: row.payload,
  };
}

/**
 * One page of a subtree's events after a position, oldest first, read only below the watermark: rows of
 * transactions older than the oldest one of this database still running (`ledger_events_watermark`).
 * Those transactions have all finished, so no row can appear later behind the page; a transaction event
 * belongs to a subtree when it was posted there or touches an account there, an account event when the
 * account is there. Two statements, in this order: the page's snapshot must be taken after the
 * watermark was (see the migration 20261204010000_feed_watermark), at READ COMMITTED, which is how the
 * pool's connections and the server's transactions run.
 */
export async function selectFeedPage(reader: Reader, query: FeedQuery): Promise<EventRow[]> {
  const { xmin: watermark } = await selectTreeBounds(reader, query.rootLedgerId);
  const { rows } = await reader.query<RawEventRow>({
    name: 'feed-page',
    text: `WITH scope AS (
             SELECT array_agg(l.id) AS ids FROM ledgers l WHERE l.root_ledger_id = $1 AND l.path @> ARRAY[$2::uuid])
           SELECT ${EVENT_COLUMNS}
             FROM ledger_events e, scope
            WHERE e.root_ledger_id = $1
              AND (e.xid, e.id) > ($3::int8, $4::int8)
              AND e.xid < $10::int8
              AND ($5::int2[] IS NULL OR e.type = ANY ($5::int2[]))
              AND ($8::timestamptz IS NULL OR e.occurred_at >= $8::timestamptz)
              AND ($9::timestamptz IS NULL OR e.occurred_at <= $9::timestamptz)
              AND ($6::bool OR e.ledger_id = ANY (scope.ids)
                   OR (e.transaction_id IS NOT NULL AND EXISTS (
                        SELECT 1 FROM entries en
                         WHERE en.root_ledger_id = e.root_ledger_id AND en.transaction_id = e.transaction_id
                           AND en.ledger_id = ANY (scope.ids))))
            ORDER BY e.xid, e.id
            LIMIT $7`,
    values: [
      query.rootLedgerId,
      query.ledgerId,
      query.after.xid.toString(),
      query.after.id.toString(),
      query.typeCodes,
      query.wholeTree,
      query.limit,
      query.occurredFrom ?? null,
      query.occurredTo ?? null,
      watermark.toString(),
    ],
  });
  return rows.map(toEventRow);
}

/** Events by their keys, whatever the watermark (they were read below it once already). */
export async function selectEvents(
  reader: Reader,
  keys: Array<{ rootLedgerId: string; xid: bigint; id: bigint }>,
): Promise<EventRow[]> {
  if (keys.length === 0) return [];
  return readPerRoot(keys, async (root, treeKeys) => {
    const { rows } = await reader.query<RawEventRow>(
      `SELECT ${EVENT_COLUMNS}
         FROM unnest($2::int8[], $3::int8[]) AS k(xid, id)
         JOIN ledger_events e ON e.root_ledger_id = $1 AND e.xid = k.xid AND e.id = k.id`,
      [root, treeKeys.map((key) => key.xid.toString()), treeKeys.map((key) => key.id.toString())],
    );
    return rows.map(toEventRow);
  });
}

/**
 * The oldest transaction of this database still running (or the next to start): every event of an older
 * one is final. Transactions of other databases on the same server are not counted; they write no events
 * here. Rows below it must be read by a later statement.
 */
export async function selectWatermark(reader: Reader): Promise<bigint> {
  const { rows } = await reader.query<{ watermark: string }>({
    name: 'feed-watermark',
    text: 'SELECT ledger_events_watermark()::text AS watermark',
  });
  return BigInt(rows[0]!.watermark);
}

/**
 * One tree's feed bounds: its watermark and the next transaction id, read where the tree's events are
 * written (on Citus, the worker that holds the root: transaction ids are a node's own). A bare function
 * call, so that Citus sends it to that worker.
 */
export async function selectTreeBounds(reader: Reader, rootLedgerId: string): Promise<{ xmin: bigint; xmax: bigint }> {
  const { rows } = await reader.query<{ xmin: string; xmax: string }>({
    name: 'feed-tree-bounds',
    text: 'SELECT * FROM ledger_events_bounds($1)',
    values: [rootLedgerId],
  });
  return { xmin: BigInt(rows[0]!.xmin), xmax: BigInt(rows[0]!.xmax) };
}

export interface JournalTransaction {
  id: string;
  rootLedgerId: string;
  ledgerId: string;
  kind: string;
  idempotencyKey: string;
  description: string | null;
  metadata: Record<string, unknown>;
  effectiveAt: Date;
  reversalOfId: string | null;
  entries: Array<{
    accountId: string;
    accountCode: string;
    ledgerId: string;
    asset: string;
    direction: string;
    amount: string;
  }>;
}

/** Transactions with their entries (account codes, asset codes), for event payloads: two statements. */
export async function selectJournalTransactions(
  reader: Reader,
  keys: Array<{ rootLedgerId: string; transactionId: string }>,
): Promise<Map<string, JournalTransaction>> {
  const found = new Map<string, JournalTransaction>();
  if (keys.length === 0) return found;
  // Two statements per tree among the keys (almost always one tree), each naming its root.
  await readPerRoot(keys, async (root, treeKeys) => {
    await selectJournalOfTree(
      reader,
      root,
      treeKeys.map((key) => key.transactionId),
      found,
    );
    return [];
  });
  return found;
}

async function selectJournalOfTree(
  reader: Reader,
  rootLedgerId: string,
  ids: string[],
  found: Map<string, JournalTransaction>,
): Promise<void> {
  const transactions = await reader.query<{
    id: string;
    root_ledger_id: string;
    ledger_id: string;
    kind: string;
    idempotency_key: string;
    description: string | null;
    metadata: Record<string, unknown>;
    effective_at: Date;
    reversal_of_id: string | null;
  }>(
    `SELECT t.id, t.root_ledger_id, t.ledger_id, t.kind::text AS kind, t.idempotency_key, t.description, t.metadata,
            t.effective_at, t.reversal_of_id
       FROM transactions t
      WHERE t.root_ledger_id = $1 AND t.id = ANY($2::uuid[])`,
    [rootLedgerId, ids],
  );
  for (const row of transactions.rows) {
    found.set(row.id, {
      id: row.id,
      rootLedgerId: row.root_ledger_id,
      ledgerId: row.ledger_id,
      kind: row.kind,
      idempotencyKey: row.idempotency_key,
      description: row.description,
      metadata: row.metadata,
      effectiveAt: row.effective_at,
      reversalOfId: row.reversal_of_id,
      entries: [],
    });
  }
  const entries = await reader.query<{
    transaction_id: string;
    account_id: string;
    account_code: string;
    ledger_id: string;
    asset: string;
    direction: string;
    amount: string;
  }>(
    `SELECT en.transaction_id, en.account_id, a.code AS account_code, en.ledger_id, s.code AS asset,
            en.direction::text AS direction, en.amount::text AS amount
       FROM entries en
       JOIN accounts a ON a.root_ledger_id = en.root_ledger_id AND a.id = en.account_id
       JOIN assets s ON s.root_ledger_id = en.root_ledger_id AND s.id = en.asset_id
      WHERE en.root_ledger_id = $1 AND en.transaction_id = ANY($2::uuid[])
      ORDER BY en.transaction_id, en.id`,
    [rootLedgerId, ids],
  );
  for (const row of entries.rows) {
    found.get(row.transaction_id)?.entries.push({
      accountId: row.account_id,
      accountCode: row.account_code,
      ledgerId: row.ledger_id,
      asset: row.asset,
      direction: row.direction,
      amount: row.amount,
    });
  }
}
