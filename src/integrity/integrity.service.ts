import type { Database } from '../platform/db.js';
import { IntegrityReport } from './integrity.types.js';

/** Most problems one report lists; `ok` is false whenever there is at least one. */
export const INTEGRITY_PROBLEMS_MAX = 100;

/**
 * Recomputes a root ledger from its journal and compares: every transaction balanced per asset; every
 * balance equal to the sum of its entries (posted entries; pending entries of holds still pending);
 * every lot's remaining equal to its amount less what was taken from it; open lots adding up to each
 * customer's posted balance in expiring assets; debits equal to credits per asset across the tree.
 */
export class IntegrityService {
  constructor(private readonly db: Database) {}

  async report(rootLedgerId: string): Promise<IntegrityReport> {
    const problems: string[] = [];
    const add = (lines: string[]) => problems.push(...lines.slice(0, INTEGRITY_PROBLEMS_MAX - problems.length));
    const query = async <T extends Record<string, unknown>>(sql: string): Promise<T[]> => (await this.db.pool.query<T>(sql, [rootLedgerId, INTEGRITY_PROBLEMS_MAX])).rows;

    const [{ n }] = await query<{ n: string }>('SELECT count(*)::text AS n FROM transactions WHERE root_ledger_id = $1 AND $2::int > 0');

    add((await query<{ id: string; code: string; gap: string }>(`
      SELECT e.transaction_id AS id, a.code, sum(CASE e.direction WHEN 'DEBIT' THEN e.amount ELSE -e.amount END)::text AS gap
        FROM entries e JOIN assets a ON a.root_ledger_id = e.root_ledger_id AND a.id = e.asset_id
       WHERE e.root_ledger_id = $1
       GROUP BY e.transaction_id, a.code HAVING sum(CASE e.direction WHEN 'DEBIT' THEN e.amount ELSE -e.amount END) <> 0
       LIMIT $2`)).map((row) => `transaction ${row.id}: ${row.code} debits exceed credits by ${row.gap}`));

    add((await query<{ code: string; asset: string; stored: string; journal: string; what: string }>(`
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
       LIMIT $2`)).map((row) => `account ${row.code} ${row.asset}: stored ${row.what} ${row.stored} but its entries add up to ${row.journal}`));

    add((await query<{ id: string; code: string; remaining: string; expected: string }>(`
      SELECT l.id, ac.code, l.remaining::text, (l.amount - coalesce(sum(c.amount), 0))::text AS expected
        FROM lots l
        JOIN accounts ac ON ac.root_ledger_id = l.root_ledger_id AND ac.id = l.account_id
        LEFT JOIN lot_consumptions c ON c.root_ledger_id = l.root_ledger_id AND c.lot_id = l.id
       WHERE l.root_ledger_id = $1
       GROUP BY l.id, ac.code, l.remaining, l.amount HAVING l.remaining <> l.amount - coalesce(sum(c.amount), 0)
       LIMIT $2`)).map((row) => `lot ${row.id} of ${row.code}: remaining ${row.remaining} but its amount less what was taken is ${row.expected}`));

    add((await query<{ code: string; asset: string; lots: string; posted: string }>(`
      WITH posted AS (
        SELECT b.account_id, b.asset_id,
               greatest(sum(CASE b.normal_balance WHEN 'CREDIT' THEN b.credits_posted - b.debits_posted ELSE b.debits_posted - b.credits_posted END), 0) AS posted
          FROM balances b
          JOIN accounts ac ON ac.root_ledger_id = b.root_ledger_id AND ac.id = b.account_id AND NOT ac.is_system
          JOIN assets a ON a.root_ledger_id = b.root_ledger_id AND a.id = b.asset_id AND a.expires_after_days IS NOT NULL
         WHERE b.root_ledger_id = $1 GROUP BY b.account_id, b.asset_id
      ), open AS (
        SELECT account_id, asset_id, sum(remaining) AS lots FROM lots WHERE root_ledger_id = $1 AND remaining > 0 GROUP BY account_id, asset_id
      )
      SELECT ac.code, a.code AS asset, coalesce(o.lots, 0)::text AS lots, coalesce(p.posted, 0)::text AS posted
        FROM posted p FULL JOIN open o USING (account_id, asset_id)
        JOIN accounts ac ON ac.root_ledger_id = $1 AND ac.id = coalesce(p.account_id, o.account_id)
        JOIN assets a ON a.root_ledger_id = $1 AND a.id = coalesce(p.asset_id, o.asset_id)
       WHERE coalesce(o.lots, 0) <> coalesce(p.posted, 0)
       LIMIT $2`)).map((row) => `account ${row.code} ${row.asset}: open lots hold ${row.lots} but the posted balance is ${row.posted}`));

    add((await query<{ asset: string; debits: string; credits: string; kind: string }>(`
      SELECT a.code AS asset, totals.kind, totals.debits::text, totals.credits::text FROM (
        SELECT asset_id, 'posted' AS kind, sum(debits_posted) AS debits, sum(credits_posted) AS credits FROM balances WHERE root_ledger_id = $1 GROUP BY asset_id
        UNION ALL
        SELECT asset_id, 'pending', sum(debits_pending), sum(credits_pending) FROM balances WHERE root_ledger_id = $1 GROUP BY asset_id
      ) totals JOIN assets a ON a.root_ledger_id = $1 AND a.id = totals.asset_id
       WHERE totals.debits <> totals.credits
       LIMIT $2`)).map((row) => `${row.asset}: ${row.kind} debits ${row.debits} differ from ${row.kind} credits ${row.credits} across the tree`));

    return Object.assign(new IntegrityReport(), { ok: problems.length === 0, transactionsChecked: Number(n), problems });
  }
}
