import type pg from 'pg';

/**
 * The integrity report's SQL: each check recomputes something from the journal and returns at most
 * `limit` disagreements. Read-only; every function takes the pool or a transaction's client.
 */
type Reader = pg.Pool | pg.PoolClient;

async function rows<T extends Record<string, unknown>>(
  reader: Reader,
  sql: string,
  rootLedgerId: string,
  limit: number,
): Promise<T[]> {
  return (await reader.query<T>(sql, [rootLedgerId, limit])).rows;
}

export async function countTransactions(reader: Reader, rootLedgerId: string): Promise<number> {
  const {
    rows: [{ n }],
  } = await reader.query<{ n: string }>('SELECT count(*)::text AS n FROM transactions WHERE root_ledger_id = $1', [
    rootLedgerId,
  ]);
  return Number(n);
}

/** Transactions whose debits and credits differ in an asset. */
export function unbalancedTransactions(
  reader: Reader,
  rootLedgerId: string,
  limit: number,
): Promise<Array<{ id: string; code: string; gap: string }>> {
  return rows(
    reader,
    `
    SELECT e.transaction_id AS id, a.code, sum(CASE e.direction WHEN 'DEBIT' THEN e.amount ELSE -e.amount END)::text AS gap
      FROM entries e JOIN assets a ON a.root_ledger_id = e.root_ledger_id AND a.id = e.asset_id
     WHERE e.root_ledger_id = $1
     GROUP BY e.transaction_id, a.code HAVING sum(CASE e.direction WHEN 'DEBIT' THEN e.amount ELSE -e.amount END) <> 0
     LIMIT $2`,
    rootLedgerId,
    limit,
  );
}

/** Balances (posted, or pending of holds still pending) that differ from the sum of their entries. */
export function balancesOffJournal(
  reader: Reader,
  rootLedgerId: string,
  limit: number,
): Promise<Array<{ code: string; asset: string; stored: string; journal: string; what: string }>> {
  return rows(
    reader,
    `
    WITH stored AS (
      SELECT account_id, asset_id, sum(debits_posted) AS dp, sum(credits_posted) AS cp, sum(debits_pending) AS dpe, sum(credits_pending) AS cpe
        FROM balances WHERE root_ledger_id = $1 GROUP BY account_id, asset_id
    ), journal AS (
      SELECT e.account_id, e.asset_id,
             coalesce(sum(e.amount) FILTER (WHERE e.direction = 'DEBIT' AND NOT e.pending), 0) AS dp,
             coalesce(sum(e.amount) FILTER (WHERE e.direction = 'CREDIT' AND NOT e.pending), 0) AS cp,
             coalesce(sum(e.amount) FILTER (WHERE e.direction = 'DEBIT' AND e.pending AND t.status = 'PENDING'), 0) AS dpe,
             coalesce(sum(e.amount) FILTER (WHERE e.direction = 'CREDIT' AND e.pending AND t.status = 'PENDING'), 0) AS cpe
        FROM entries e JOIN transactions t ON t.root_ledger_id = e.root_ledger_id AND t.id = e.transaction_id
       WHERE e.root_ledger_id = $1 GROUP BY e.account_id, e.asset_id
    ), compared AS (
      SELECT account_id, asset_id, s.dp AS s_dp, s.cp AS s_cp, s.dpe AS s_dpe, s.cpe AS s_cpe,
             coalesce(j.dp, 0) AS j_dp, coalesce(j.cp, 0) AS j_cp, coalesce(j.dpe, 0) AS j_dpe, coalesce(j.cpe, 0) AS j_cpe
        FROM stored s LEFT JOIN journal j USING (account_id, asset_id)
      UNION ALL
      SELECT account_id, asset_id, 0, 0, 0, 0, j.dp, j.cp, j.dpe, j.cpe
        FROM journal j WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.account_id = j.account_id AND s.asset_id = j.asset_id)
    )
    SELECT ac.code, a.code AS asset, what, stored::text, journal::text
      FROM compared c
      JOIN accounts ac ON ac.root_ledger_id = $1 AND ac.id = c.account_id
      JOIN assets a ON a.root_ledger_id = $1 AND a.id = c.asset_id
      CROSS JOIN LATERAL (VALUES ('debitsPosted', s_dp, j_dp), ('creditsPosted', s_cp, j_cp), ('debitsPending', s_dpe, j_dpe), ('creditsPending', s_cpe, j_cpe))
                 AS v(what, stored, journal)
     WHERE stored <> journal
     LIMIT $2`,
    rootLedgerId,
    limit,
  );
}

/** Lots whose remaining differs from their amount less what was taken from them. */
export function lotsOffConsumptions(
  reader: Reader,
  rootLedgerId: string,
  limit: number,
): Promise<Array<{ id: string; code: string; remaining: string; expected: string }>> {
  return rows(
    reader,
    `
    SELECT l.id, ac.code, l.remaining::text, (l.amount - coalesce(sum(c.amount), 0))::text AS expected
      FROM lots l
      JOIN accounts ac ON ac.root_ledger_id = l.root_ledger_id AND ac.id = l.account_id
      LEFT JOIN lot_consumptions c ON c.root_ledger_id = l.root_ledger_id AND c.lot_id = l.id
     WHERE l.root_ledger_id = $1
     GROUP BY l.id, ac.code, l.remaining, l.amount HAVING l.remaining <> l.amount - coalesce(sum(c.amount), 0)
     LIMIT $2`,
    rootLedgerId,
    limit,
  );
}

/** Customer balances in expiring assets whose open lots do not add up to the posted balance. */
export function lotsOffBalances(
  reader: Reader,
  rootLedgerId: string,
  limit: number,
): Promise<Array<{ code: string; asset: string; lots: string; posted: string }>> {
  return rows(
    reader,
    `
    WITH posted AS (
      SELECT b.account_id, b.asset_id,
             greatest(sum(CASE b.normal_balance WHEN 'CREDIT' THEN b.credits_posted - b.debits_posted ELSE b.debits_posted - b.credits_posted END), 0) AS posted
        FROM balances b
        JOIN accounts ac ON ac.root_ledger_id = b.root_ledger_id AND ac.id = b.account_id AND NOT ac.is_system
        JOIN assets a ON a.root_ledger_id = b.root_ledger_id AND a.id = b.asset_id AND a.expiry_kind IS NOT NULL
       WHERE b.root_ledger_id = $1 GROUP BY b.account_id, b.asset_id
    ), open AS (
      SELECT account_id, asset_id, sum(remaining) AS lots FROM lots WHERE root_ledger_id = $1 AND remaining > 0 GROUP BY account_id, asset_id
    )
    SELECT ac.code, a.code AS asset, coalesce(o.lots, 0)::text AS lots, coalesce(p.posted, 0)::text AS posted
      FROM posted p FULL JOIN open o USING (account_id, asset_id)
      JOIN accounts ac ON ac.root_ledger_id = $1 AND ac.id = coalesce(p.account_id, o.account_id)
      JOIN assets a ON a.root_ledger_id = $1 AND a.id = coalesce(p.asset_id, o.asset_id)
     WHERE coalesce(o.lots, 0) <> coalesce(p.posted, 0)
     LIMIT $2`,
    rootLedgerId,
    limit,
  );
}

/** Assets whose debits and credits differ across the tree (posted, and pending). */
export function assetsOffBalance(
  reader: Reader,
  rootLedgerId: string,
  limit: number,
): Promise<Array<{ asset: string; debits: string; credits: string; kind: string }>> {
  return rows(
    reader,
    `
    SELECT a.code AS asset, totals.kind, totals.debits::text, totals.credits::text FROM (
      SELECT asset_id, 'posted' AS kind, sum(debits_posted) AS debits, sum(credits_posted) AS credits FROM balances WHERE root_ledger_id = $1 GROUP BY asset_id
      UNION ALL
      SELECT asset_id, 'pending', sum(debits_pending), sum(credits_pending) FROM balances WHERE root_ledger_id = $1 GROUP BY asset_id
    ) totals JOIN assets a ON a.root_ledger_id = $1 AND a.id = totals.asset_id
     WHERE totals.debits <> totals.credits
     LIMIT $2`,
    rootLedgerId,
    limit,
  );
}

/**
 * Balance rows whose clawback debt is not what they lack to reach their floor (migration 20261206010000):
 * debt is always max(0, floor − available), and zero where there is no floor.
 */
export function debtOffFloors(
  reader: Reader,
  rootLedgerId: string,
  limit: number,
): Promise<Array<{ code: string; asset: string; debt: string; expected: string }>> {
  return rows(
    reader,
    `
    SELECT ac.code, a.code AS asset, b.debt::text AS debt,
           balance_debt(b.available_floor, b.debt, true,
                        available_of(b.normal_balance, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending))::text AS expected
      FROM balances b
      JOIN accounts ac ON ac.root_ledger_id = b.root_ledger_id AND ac.id = b.account_id
      JOIN assets a ON a.root_ledger_id = b.root_ledger_id AND a.id = b.asset_id
     WHERE b.root_ledger_id = $1
       AND b.debt <> balance_debt(b.available_floor, b.debt, true,
                                  available_of(b.normal_balance, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending))
     LIMIT $2`,
    rootLedgerId,
    limit,
  );
}

/** Limit counters that differ from what the postings charged to them, less what reversals gave back. */
export function limitUsageOffCharges(
  reader: Reader,
  rootLedgerId: string,
  limit: number,
): Promise<Array<{ limit_id: string; code: string; period_start: Date; used: string; expected: string }>> {
  return rows(
    reader,
    `
    WITH charged AS (
      SELECT c.limit_id, c.account_id, c.period_start,
             sum(c.amount) FILTER (WHERE NOT EXISTS (
                 SELECT 1 FROM transactions r WHERE r.root_ledger_id = c.root_ledger_id AND r.reversal_of_id = c.transaction_id)) AS expected
        FROM limit_charges c WHERE c.root_ledger_id = $1
       GROUP BY c.limit_id, c.account_id, c.period_start
    )
    SELECT coalesce(u.limit_id, ch.limit_id) AS limit_id, ac.code, coalesce(u.period_start, ch.period_start) AS period_start,
           coalesce(u.used, 0)::text AS used, coalesce(ch.expected, 0)::text AS expected
      FROM (SELECT * FROM limit_usage WHERE root_ledger_id = $1) u
      FULL JOIN charged ch USING (limit_id, account_id, period_start)
      JOIN accounts ac ON ac.root_ledger_id = $1 AND ac.id = coalesce(u.account_id, ch.account_id)
     WHERE coalesce(u.used, 0) <> coalesce(ch.expected, 0)
     LIMIT $2`,
    rootLedgerId,
    limit,
  );
}
