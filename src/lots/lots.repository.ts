import type pg from 'pg';
import { newId } from '../platform/ids.js';
import type { Consumption, OpenLot } from './lots.core.js';

/** SQL for lots, run on the posting's transaction client. */

/** Open lots of one balance in FIFO order, locked: callers hold that balance row's lock already. */
export async function lockOpenLots(client: pg.PoolClient, rootLedgerId: string, accountId: string, assetId: string): Promise<OpenLot[]> {
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
export async function recordConsumptions(client: pg.PoolClient, rootLedgerId: string, transactionId: string, consumptions: Array<{ lotId: string; amount: bigint }>): Promise<void> {
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
    values: [rootLedgerId, transactionId, consumptions.map(() => newId()), consumptions.map((c) => c.lotId), consumptions.map((c) => c.amount.toString())],
  });
}

export interface NewLot {
  accountId: string;
  assetId: string;
  amount: bigint;
  expiresAt: Date | null;
}

export async function openLots(client: pg.PoolClient, rootLedgerId: string, transactionId: string, lots: NewLot[]): Promise<void> {
  if (lots.length === 0) return;
  await client.query({
    name: 'lots_open',
    text: `INSERT INTO lots (id, root_ledger_id, account_id, asset_id, source_transaction_id, amount, remaining, expires_at)
           SELECT l.id, $1, l.account_id, l.asset_id, $2, l.amount, l.amount, l.expires_at
             FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::int8[], $7::timestamptz[]) AS l(id, account_id, asset_id, amount, expires_at)`,
    values: [rootLedgerId, transactionId, lots.map(() => newId()), lots.map((l) => l.accountId), lots.map((l) => l.assetId), lots.map((l) => l.amount.toString()), lots.map((l) => l.expiresAt)],
  });
}

/** Net amounts a transaction took from each lot of one balance (for a reversal to give back). */
export async function consumptionsBy(client: pg.PoolClient, rootLedgerId: string, transactionId: string, accountId: string, assetId: string): Promise<Consumption[]> {
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
export async function lockLotsOpenedBy(client: pg.PoolClient, rootLedgerId: string, transactionId: string, accountId: string, assetId: string): Promise<OpenLot[]> {
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
