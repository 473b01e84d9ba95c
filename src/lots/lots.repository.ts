import type pg from 'pg';
import { newId } from '../platform/ids.js';
import type { Consumption, OpenLot } from './lots.core.js';

/**
 * The SQL of lots. The write half runs on the posting's transaction client, after its balance rows are
 * locked; the reads take the pool or any client.
 */

export interface LotRow {
  id: string;
  root_ledger_id: string;
  asset_id: string;
  source_transaction_id: string;
  amount: string;
  remaining: string;
  expires_at: Date | null;
  created_at: Date;
}

/** An account's lots (open ones, or all with includeClosed), soonest expiry first and never-expiring last. */
export async function listLots(
  reader: pg.Pool | pg.PoolClient,
  account: { rootLedgerId: string; id: string },
  assetId: string | null,
  includeClosed: boolean,
  limit: number,
): Promise<LotRow[]> {
  const { rows } = await reader.query<LotRow>(
    `SELECT id, root_ledger_id, asset_id, source_transaction_id, amount, remaining, expires_at, created_at
       FROM lots
      WHERE account_id = $2 AND root_ledger_id = $1 AND ($3::uuid IS NULL OR asset_id = $3) AND ($4 OR remaining > 0)
      ORDER BY expires_at ASC NULLS LAST, id
      LIMIT $5`,
    [account.rootLedgerId, account.id, assetId, includeClosed, limit],
  );
  return rows;
}

/** Open lots of one balance that lapse at or before `until`, soonest first. */
export async function lotsLapsingBy(
  reader: pg.Pool | pg.PoolClient,
  account: { rootLedgerId: string; id: string },
  assetId: string,
  until: Date,
): Promise<OpenLot[]> {
  const { rows } = await reader.query<{ id: string; remaining: string; expires_at: Date }>(
    `SELECT id, remaining, expires_at FROM lots
      WHERE account_id = $2 AND asset_id = $3 AND root_ledger_id = $1 AND remaining > 0 AND expires_at <= $4
      ORDER BY expires_at`,
    [account.rootLedgerId, account.id, assetId, until],
  );
  return rows.map((row) => ({ id: row.id, remaining: BigInt(row.remaining), expiresAt: row.expires_at }));
}

/** Open lots of one balance in FIFO order, locked: callers hold that balance row's lock already. */
export async function lockOpenLots(
  client: pg.PoolClient,
  rootLedgerId: string,
  accountId: string,
  assetId: string,
): Promise<OpenLot[]> {
  const { rows } = await client.query<{ id: string; remaining: string; expires_at: Date | null }>({
    name: 'lots_lock_open',
    text: `SELECT id, remaining, expires_at FROM lots
            WHERE account_id = $2 AND asset_id = $3 AND root_ledger_id = $1 AND remaining > 0
            ORDER BY expires_at ASC NULLS LAST, id
              FOR UPDATE`,
    values: [rootLedgerId, accountId, assetId],
  });
  return rows.map((row) => ({ id: row.id, remaining: BigInt(row.remaining), expiresAt: row.expires_at }));
}

/** Takes from (positive) or gives back to (negative) lots, recording each movement against the transaction. */
export async function recordConsumptions(
  client: pg.PoolClient,
  rootLedgerId: string,
  transactionId: string,
  consumptions: Array<{ lotId: string; amount: bigint }>,
): Promise<void> {
  if (consumptions.length === 0) return;
  await client.query({
    name: 'lots_record_consumptions',
    text: `WITH c AS (
             SELECT * FROM unnest($3::uuid[], $4::uuid[], $5::int8[]) AS c(id, lot_id, amount)
           ), moved AS (
             UPDATE lots l SET remaining = l.remaining - c.amount FROM c WHERE l.root_ledger_id = $1 AND l.id = c.lot_id
           )
           INSERT INTO lot_consumptions (id, root_ledger_id, lot_id, transaction_id, amount)
           SELECT c.id, $1, c.lot_id, $2, c.amount FROM c`,
    values: [
      rootLedgerId,
      transactionId,
      consumptions.map(() => newId()),
      consumptions.map((c) => c.lotId),
      consumptions.map((c) => c.amount.toString()),
    ],
  });
}

export interface NewLot {
  accountId: string;
  assetId: string;
  amount: bigint;
  expiresAt: Date | null;
}

export async function openLots(
  client: pg.PoolClient,
  rootLedgerId: string,
  transactionId: string,
  lots: NewLot[],
): Promise<void> {
  if (lots.length === 0) return;
  await client.query({
    name: 'lots_open',
    text: `INSERT INTO lots (id, root_ledger_id, account_id, asset_id, source_transaction_id, amount, remaining, expires_at)
           SELECT l.id, $1, l.account_id, l.asset_id, $2, l.amount, l.amount, l.expires_at
             FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::int8[], $7::timestamptz[]) AS l(id, account_id, asset_id, amount, expires_at)`,
    values: [
      rootLedgerId,
      transactionId,
      lots.map(() => newId()),
      lots.map((l) => l.accountId),
      lots.map((l) => l.assetId),
      lots.map((l) => l.amount.toString()),
      lots.map((l) => l.expiresAt),
    ],
  });
}

/**
 * INACTIVITY: activity at `at` carries every lot of a balance still live then (open, lapsing after `at`)
 * to one lapse instant, the later of `until` and the latest such lot's; lots that had already lapsed at
 * `at` stay lapsed for the expiry run. So a backdated posting never pulls an expiry back.
 */
export async function extendOpenLots(
  client: pg.PoolClient,
  rootLedgerId: string,
  at: Date,
  balances: Array<{ accountId: string; assetId: string; until: Date }>,
): Promise<void> {
  if (balances.length === 0) return;
  await client.query({
    name: 'lots_extend_open',
    text: `WITH b AS (
             SELECT * FROM unnest($3::uuid[], $4::uuid[], $5::timestamptz[]) AS b(account_id, asset_id, until)
           ), target AS (
             SELECT b.account_id, b.asset_id, greatest(b.until, max(l.expires_at)) AS until
               FROM b JOIN lots l ON l.root_ledger_id = $1 AND l.account_id = b.account_id AND l.asset_id = b.asset_id
              WHERE l.remaining > 0 AND l.expires_at > $2
              GROUP BY b.account_id, b.asset_id, b.until
           )
           UPDATE lots l SET expires_at = target.until
             FROM target
            WHERE l.root_ledger_id = $1 AND l.account_id = target.account_id AND l.asset_id = target.asset_id
              AND l.remaining > 0 AND l.expires_at > $2 AND l.expires_at < target.until`,
    values: [
      rootLedgerId,
      at,
      balances.map((b) => b.accountId),
      balances.map((b) => b.assetId),
      balances.map((b) => b.until),
    ],
  });
}

/** Net amounts a transaction took from each lot of one balance (for a reversal to give back). */
export async function consumptionsBy(
  client: pg.PoolClient,
  rootLedgerId: string,
  transactionId: string,
  accountId: string,
  assetId: string,
): Promise<Consumption[]> {
  const { rows } = await client.query<{ lot_id: string; amount: string; expires_at: Date | null }>({
    name: 'lots_consumptions_by',
    text: `SELECT c.lot_id, sum(c.amount)::text AS amount, l.expires_at
             FROM lot_consumptions c JOIN lots l ON l.root_ledger_id = c.root_ledger_id AND l.id = c.lot_id
            WHERE c.transaction_id = $2 AND c.root_ledger_id = $1 AND l.account_id = $3 AND l.asset_id = $4
            GROUP BY c.lot_id, l.expires_at
           HAVING sum(c.amount) > 0
            ORDER BY l.expires_at ASC NULLS LAST, c.lot_id`,
    values: [rootLedgerId, transactionId, accountId, assetId],
  });
  return rows.map((row) => ({ lotId: row.lot_id, amount: BigInt(row.amount), expiresAt: row.expires_at }));
}

/** Lots a transaction opened in one balance, locked (for a reversal to close them). */
export async function lockLotsOpenedBy(
  client: pg.PoolClient,
  rootLedgerId: string,
  transactionId: string,
  accountId: string,
  assetId: string,
): Promise<OpenLot[]> {
  const { rows } = await client.query<{ id: string; remaining: string; expires_at: Date | null }>({
    name: 'lots_lock_opened_by',
    text: `SELECT id, remaining, expires_at FROM lots
            WHERE source_transaction_id = $2 AND root_ledger_id = $1 AND account_id = $3 AND asset_id = $4
            ORDER BY expires_at ASC NULLS LAST, id
              FOR UPDATE`,
    values: [rootLedgerId, transactionId, accountId, assetId],
  });
  return rows.map((row) => ({ id: row.id, remaining: BigInt(row.remaining), expiresAt: row.expires_at }));
}
