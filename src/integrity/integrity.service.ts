import type pg from 'pg';
import type { Database } from '../platform/db.js';
import {
  assetsOffBalance,
  balancesOffJournal,
  countTransactions,
  debtOffFloors,
  limitUsageOffCharges,
  lotsOffBalances,
  lotsOffConsumptions,
  unbalancedTransactions,
} from './integrity.repository.js';
import { IntegrityReport } from './integrity.types.js';

/** Most problems one report lists; `ok` is false whenever there is at least one. */
export const INTEGRITY_PROBLEMS_MAX = 100;

/**
 * Recomputes a root ledger from its journal and compares: every transaction balanced per asset; every
 * balance equal to the sum of its entries (posted entries; pending entries of holds still pending);
 * every lot's remaining equal to its amount less what was taken from it; open lots adding up to each
 * customer's posted balance in expiring assets; debits equal to credits per asset across the tree;
 * clawback debt equal to what each balance lacks to reach its floor; every limit counter equal to what
 * postings charged to it less what their reversals gave back.
 */
export class IntegrityService {
  constructor(private readonly db: Database) {}

  /** A report may be slightly stale: a replica's, once it has replayed the caller's own last write. */
  report(rootLedgerId: string): Promise<IntegrityReport> {
    return this.db.stale(({ pool }) => this.reportOn(pool, rootLedgerId));
  }

  private async reportOn(pool: pg.Pool, rootLedgerId: string): Promise<IntegrityReport> {
    const problems: string[] = [];
    const add = (lines: string[]) => problems.push(...lines.slice(0, INTEGRITY_PROBLEMS_MAX - problems.length));
    const transactionsChecked = await countTransactions(pool, rootLedgerId);
    add(
      (await unbalancedTransactions(pool, rootLedgerId, INTEGRITY_PROBLEMS_MAX)).map(
        (row) => `transaction ${row.id}: ${row.code} debits exceed credits by ${row.gap}`,
      ),
    );
    add(
      (await balancesOffJournal(pool, rootLedgerId, INTEGRITY_PROBLEMS_MAX)).map(
        (row) =>
          `account ${row.code} ${row.asset}: stored ${row.what} ${row.stored} but its entries add up to ${row.journal}`,
      ),
    );
    add(
      (await lotsOffConsumptions(pool, rootLedgerId, INTEGRITY_PROBLEMS_MAX)).map(
        (row) =>
          `lot ${row.id} of ${row.code}: remaining ${row.remaining} but its amount less what was taken is ${row.expected}`,
      ),
    );
    add(
      (await lotsOffBalances(pool, rootLedgerId, INTEGRITY_PROBLEMS_MAX)).map(
        (row) => `account ${row.code} ${row.asset}: open lots hold ${row.lots} but the posted balance is ${row.posted}`,
      ),
    );
    add(
      (await assetsOffBalance(pool, rootLedgerId, INTEGRITY_PROBLEMS_MAX)).map(
        (row) =>
          `${row.asset}: ${row.kind} debits ${row.debits} differ from ${row.kind} credits ${row.credits} across the tree`,
      ),
    );
    add(
      (await debtOffFloors(pool, rootLedgerId, INTEGRITY_PROBLEMS_MAX)).map(
        (row) => `account ${row.code} ${row.asset}: debt ${row.debt} but it lacks ${row.expected} to reach its floor`,
      ),
    );
    add(
      (await limitUsageOffCharges(pool, rootLedgerId, INTEGRITY_PROBLEMS_MAX)).map(
        (row) =>
          `limit ${row.limit_id} for ${row.code} from ${row.period_start.toISOString()}: used ${row.used} but its charges less reversals add up to ${row.expected}`,
      ),
    );

    return Object.assign(new IntegrityReport(), { ok: problems.length === 0, transactionsChecked, problems });
  }
}
