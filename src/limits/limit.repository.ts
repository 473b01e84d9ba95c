import type pg from 'pg';
import type { LimitPeriod } from '../platform/calendar.types.js';
import { Limit, type LimitKind } from './limit.types.js';
import { readPerRoot } from '../platform/root-directory.js';

type Reader = pg.Pool | pg.PoolClient;

/**
 * The SQL of limits. Counting them is the posting statement's (charge_posting_limits, migration
 * 20261208010000); here are the rows themselves and the reads of their usage.
 */

interface LimitRow {
  id: string;
  root_ledger_id: string;
  ledger_id: string;
  asset_id: string;
  kind: string;
  amount: string;
  period: string | null;
  time_zone: string;
  created_at: Date;
}

const LIMIT_COLUMNS =
  'id, root_ledger_id, ledger_id, asset_id, kind, amount::text AS amount, period, time_zone, created_at';

function toLimit(row: LimitRow): Limit {
  return Object.assign(new Limit(), {
    id: row.id,
    rootLedgerId: row.root_ledger_id,
    ledgerId: row.ledger_id,
    assetId: row.asset_id,
    kind: row.kind as LimitKind,
    amount: BigInt(row.amount),
    period: row.period as LimitPeriod | null,
    timeZone: row.time_zone,
    createdAt: row.created_at,
  });
}

/** Whether PostgreSQL knows the zone: the posting functions compute periods with it. */
export async function databaseKnowsZone(reader: Reader, timeZone: string): Promise<boolean> {
  try {
    await reader.query({ name: 'limits_zone_known', text: 'SELECT now() AT TIME ZONE $1', values: [timeZone] });
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '22023') return false;
    throw error;
  }
}

/** Serializes changes to one tree's limits, so the per-tree bound holds under concurrent creation. */
export async function lockTreeLimits(client: pg.PoolClient, rootLedgerId: string): Promise<void> {
  await client.query({
    name: 'limits_lock_tree',
    text: `SELECT pg_advisory_xact_lock(hashtextextended('limits:' || $1::text, 0))`,
    values: [rootLedgerId],
  });
}

export async function countActiveLimits(reader: Reader, rootLedgerId: string): Promise<number> {
  const { rows } = await reader.query<{ count: string }>({
    name: 'limits_count_active',
    text: 'SELECT count(*)::text AS count FROM limits WHERE root_ledger_id = $1 AND deleted_at IS NULL',
    values: [rootLedgerId],
  });
  return Number(rows[0]!.count);
}

export async function insertLimit(client: pg.PoolClient, limit: Omit<Limit, 'createdAt'>): Promise<Limit> {
  const { rows } = await client.query<LimitRow>({
    name: 'limits_insert',
    text: `INSERT INTO limits (id, root_ledger_id, ledger_id, asset_id, kind, amount, period, time_zone)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING ${LIMIT_COLUMNS}`,
    values: [
      limit.id,
      limit.rootLedgerId,
      limit.ledgerId,
      limit.assetId,
      limit.kind,
      limit.amount.toString(),
      limit.period,
      limit.timeZone,
    ],
  });
  return toLimit(rows[0]!);
}

export async function selectActiveLimit(reader: Reader, rootLedgerId: string, id: string): Promise<Limit | null> {
  const { rows } = await reader.query<LimitRow>({
    name: 'limits_select_active',
    text: `SELECT ${LIMIT_COLUMNS} FROM limits WHERE root_ledger_id = $1 AND id = $2 AND deleted_at IS NULL`,
    values: [rootLedgerId, id],
  });
  return rows[0] === undefined ? null : toLimit(rows[0]);
}

/** Ends a limit; null when it was already deleted (a concurrent delete). */
export async function markLimitDeleted(client: pg.PoolClient, rootLedgerId: string, id: string): Promise<Limit | null> {
  const { rows } = await client.query<LimitRow>({
    name: 'limits_mark_deleted',
    text: `UPDATE limits SET deleted_at = now()
            WHERE root_ledger_id = $1 AND id = $2 AND deleted_at IS NULL
           RETURNING ${LIMIT_COLUMNS}`,
    values: [rootLedgerId, id],
  });
  return rows[0] === undefined ? null : toLimit(rows[0]);
}

export interface LimitUsageRow {
  limit: Limit;
  used: bigint;
  periodStart: Date | null;
  periodEnd: Date | null;
}

/**
 * The active limits over an account's ledger, each with what it has used at `at`: the counter of the period
 * containing `at` (computed by the same SQL function the posting functions count with), or for a ceiling the
 * posted balance.
 */
export async function selectUsageOfAccounts(
  reader: Reader,
  accounts: Array<{ rootLedgerId: string; accountId: string; ledgerId: string }>,
  at: Date,
): Promise<Array<LimitUsageRow & { accountId: string }>> {
  return readPerRoot(accounts, (root, keys) => selectUsageInTree(reader, root, keys, at));
}

async function selectUsageInTree(
  reader: Reader,
  rootLedgerId: string,
  accounts: Array<{ accountId: string; ledgerId: string }>,
  at: Date,
): Promise<Array<LimitUsageRow & { accountId: string }>> {
  const { rows } = await reader.query<
    LimitRow & { account_id: string; used: string; period_start: Date | null; period_end: Date | null }
  >({
    name: 'limits_usage_of_accounts',
    text: `SELECT l.id, l.root_ledger_id, l.ledger_id, l.asset_id, l.kind, l.amount::text AS amount, l.period, l.time_zone,
                  l.created_at, q.account_id, s.period_start, s.period_end,
                  (CASE WHEN l.kind = 'MAX_BALANCE'
                        THEN (SELECT coalesce(sum(posted_of(b.normal_balance, b.debits_posted, b.credits_posted)), 0)
                                FROM balances b
                               WHERE b.root_ledger_id = l.root_ledger_id AND b.account_id = q.account_id AND b.asset_id = l.asset_id)
                        ELSE coalesce((SELECT u.used FROM limit_usage u
                                        WHERE u.root_ledger_id = l.root_ledger_id AND u.limit_id = l.id
                                          AND u.account_id = q.account_id AND u.period_start = s.period_start), 0)
                   END)::text AS used
             FROM unnest($2::uuid[], $3::uuid[]) AS q(account_id, ledger_id)
             JOIN ledgers g ON g.root_ledger_id = $1 AND g.id = q.ledger_id
             JOIN limits l ON l.root_ledger_id = $1 AND l.deleted_at IS NULL AND l.ledger_id = ANY (g.path)
             CROSS JOIN LATERAL (
                  SELECT CASE WHEN l.period IS NULL THEN NULL ELSE limit_period_start(l.period, l.time_zone, $4) END AS period_start,
                         CASE WHEN l.period IS NULL THEN NULL ELSE limit_period_end(l.period, l.time_zone, $4) END AS period_end) s
            ORDER BY q.account_id, l.created_at, l.id`,
    values: [
      rootLedgerId,
      accounts.map((account) => account.accountId),
      accounts.map((account) => account.ledgerId),
      at,
    ],
  });
  return rows.map((row) => ({
    accountId: row.account_id,
    limit: toLimit(row),
    used: BigInt(row.used),
    periodStart: row.period_start,
    periodEnd: row.period_end,
  }));
}
