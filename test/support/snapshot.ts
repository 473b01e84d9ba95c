import type { Database } from '../../src/platform/db';

/**
 * Everything a posting could change, read straight from Postgres: a failed mutation must leave this
 * byte-identical.
 */
export async function snapshotLedger(db: Database): Promise<unknown> {
  const { rows } = await db.pool.query(`
    SELECT (SELECT count(*) FROM transactions) AS transactions,
           (SELECT count(*) FROM entries) AS entries,
           (SELECT count(*) FROM audit_events) AS audit_events,
           (SELECT count(*) FROM accounts) AS accounts,
           (SELECT coalesce(json_agg(b ORDER BY b.account_id, b.asset_id, b.shard), '[]') FROM balances b) AS balances,
           (SELECT coalesce(json_agg(a.status ORDER BY a.id), '[]') FROM accounts a) AS statuses,
           (SELECT count(*) FROM limits) AS limits,
           (SELECT coalesce(json_agg(u ORDER BY u.limit_id, u.account_id, u.period_start), '[]') FROM limit_usage u) AS limit_usage`);
  return rows[0];
}

/** Conservation: for every root ledger and asset, all debits equal all credits, posted and pending. */
export async function unbalancedAssets(db: Database): Promise<unknown[]> {
  const { rows } = await db.pool.query(`
    SELECT root_ledger_id, asset_id, sum(debits_posted) - sum(credits_posted) AS posted_gap, sum(debits_pending) - sum(credits_pending) AS pending_gap
      FROM balances GROUP BY root_ledger_id, asset_id
    HAVING sum(debits_posted) <> sum(credits_posted) OR sum(debits_pending) <> sum(credits_pending)`);
  return rows;
}

/**
 * Every balance equals the sum of its account's entries: posted totals the posted entries, pending totals
 * the entries of holds still PENDING (a settled hold's entries stay in the journal, flagged pending).
 */
export async function balancesDisagreeingWithEntries(db: Database): Promise<unknown[]> {
  const { rows } = await db.pool.query(`
    WITH b AS (SELECT account_id, asset_id, sum(debits_posted) AS d, sum(credits_posted) AS c, sum(debits_pending) AS dp, sum(credits_pending) AS cp
                 FROM balances GROUP BY 1, 2),
         e AS (SELECT e.account_id, e.asset_id,
                      sum(e.amount) FILTER (WHERE e.direction = 'DEBIT' AND NOT e.pending) AS d,
                      sum(e.amount) FILTER (WHERE e.direction = 'CREDIT' AND NOT e.pending) AS c,
                      sum(e.amount) FILTER (WHERE e.direction = 'DEBIT' AND e.pending AND t.status = 'PENDING') AS dp,
                      sum(e.amount) FILTER (WHERE e.direction = 'CREDIT' AND e.pending AND t.status = 'PENDING') AS cp
                 FROM entries e JOIN transactions t ON t.root_ledger_id = e.root_ledger_id AND t.id = e.transaction_id
                GROUP BY 1, 2)
    SELECT * FROM b FULL JOIN e USING (account_id, asset_id)
     WHERE coalesce(b.d, 0) <> coalesce(e.d, 0) OR coalesce(b.c, 0) <> coalesce(e.c, 0)
        OR coalesce(b.dp, 0) <> coalesce(e.dp, 0) OR coalesce(b.cp, 0) <> coalesce(e.cp, 0)`);
  return rows;
}
