import type pg from 'pg';
import type { BalanceTotals, NormalBalance } from '../balances/balances.core.js';

/** The SQL of the clock-driven jobs: what is due, and, inside an expiry's transaction, what has lapsed. */

/** Root ledgers holding open lots that lapsed at or before `now`. */
export async function rootsWithLapsedLots(reader: pg.Pool | pg.PoolClient, now: Date, limit: number): Promise<string[]> {
  const { rows } = await reader.query<{ root_ledger_id: string }>(
    'SELECT DISTINCT root_ledger_id FROM lots WHERE remaining > 0 AND expires_at <= $1 LIMIT $2',
    [now, limit],
  );
  return rows.map((row) => row.root_ledger_id);
}

/** Holds still pending past their timeout, the longest overdue first. */
export async function holdsTimedOut(reader: pg.Pool | pg.PoolClient, now: Date, limit: number): Promise<string[]> {
  const { rows } = await reader.query<{ id: string }>(
    `SELECT id FROM transactions WHERE status = 'PENDING' AND timeout_at <= $1 ORDER BY timeout_at LIMIT $2`,
    [now, limit],
  );
  return rows.map((row) => row.id);
}

export interface ExpiryCandidate {
  accountId: string;
  assetId: string;
  assetCode: string;
  ledgerId: string;
}

/** Balances of ACTIVE accounts in the ledger's subtree with lots lapsed at or before `asOf`. */
export async function expiryCandidates(reader: pg.Pool | pg.PoolClient, ledger: { id: string; rootLedgerId: string }, asOf: Date, limit: number): Promise<ExpiryCandidate[]> {
  const { rows } = await reader.query<{ account_id: string; asset_id: string; asset_code: string; ledger_id: string }>(
    `SELECT DISTINCT l.account_id, l.asset_id, s.code AS asset_code, a.ledger_id
       FROM lots l
       JOIN accounts a ON a.root_ledger_id = l.root_ledger_id AND a.id = l.account_id
       JOIN ledgers g ON g.root_ledger_id = a.root_ledger_id AND g.id = a.ledger_id
       JOIN assets s ON s.root_ledger_id = l.root_ledger_id AND s.id = l.asset_id
      WHERE l.root_ledger_id = $1 AND l.remaining > 0 AND l.expires_at <= $2 AND g.path @> ARRAY[$3::uuid]
        AND a.status = 'ACTIVE'
      LIMIT $4`,
    [ledger.rootLedgerId, asOf, ledger.id, limit],
  );
  return rows.map((row) => ({ accountId: row.account_id, assetId: row.asset_id, assetCode: row.asset_code, ledgerId: row.ledger_id }));
}

/**
 * A customer balance locked for its expiry, with what has lapsed in it: the row lock comes first, so a
 * concurrent expiry of the same balance waits and then measures what this one left. Null without a row.
 */
export async function lockBalanceWithLapsed(
  client: pg.PoolClient,
  balance: { rootLedgerId: string; accountId: string; assetId: string },
  asOf: Date,
): Promise<{ normalBalance: NormalBalance; totals: BalanceTotals; lapsed: bigint } | null> {
  const { rows } = await client.query<{ normal_balance: NormalBalance; dp: string; cp: string; dpe: string; cpe: string }>(
    `SELECT normal_balance::text AS normal_balance, debits_posted AS dp, credits_posted AS cp, debits_pending AS dpe, credits_pending AS cpe
       FROM balances WHERE root_ledger_id = $1 AND account_id = $2 AND asset_id = $3 AND shard = 0
        FOR UPDATE`,
    [balance.rootLedgerId, balance.accountId, balance.assetId],
  );
  const row = rows[0];
  if (row === undefined) return null;
  const { rows: lapsed } = await client.query<{ total: string }>(
    `SELECT coalesce(sum(remaining), 0)::text AS total FROM lots
      WHERE account_id = $2 AND asset_id = $3 AND root_ledger_id = $1 AND remaining > 0 AND expires_at <= $4`,
    [balance.rootLedgerId, balance.accountId, balance.assetId, asOf],
  );
  return {
    normalBalance: row.normal_balance,
    totals: { debitsPosted: BigInt(row.dp), creditsPosted: BigInt(row.cp), debitsPending: BigInt(row.dpe), creditsPending: BigInt(row.cpe) },
    lapsed: BigInt(lapsed[0]!.total),
  };
}
