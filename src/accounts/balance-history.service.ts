import type { Database } from '../platform/db.js';
import { inTransaction } from '../platform/transaction.js';
import { CHECKPOINT_SETTLE_MS } from '../balances/balances.core.js';

/**
 * Point-in-time balances: the posted totals of entries effective at or before an instant.
 *
 * The sum starts from the nearest checkpoint at or before the instant (a primary-key lookup) and adds
 * the entries after it through the (account, asset, effective_at) index, read index-only; so a call
 * reads at most the entries since one checkpoint, not the account's history. A call that had to add up
 * more than CHECKPOINT_AFTER_ENTRIES entries leaves a checkpoint at its instant for the next caller.
 * Checkpoints are only taken at instants at least CHECKPOINT_SETTLE_MS old, so only a backdated posting
 * can land before one; such a posting deletes the checkpoints it invalidates (see PostingEngine).
 */
export const CHECKPOINT_AFTER_ENTRIES = 1000;

export interface PostedTotals {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
  entriesSummed: number;
}

export class BalanceHistoryService {
  constructor(
    private readonly db: Database,
    private readonly attemptsMax: number,
  ) {}

  async asOf(balance: { rootLedgerId: string; accountId: string; assetId: string }, asOf: Date): Promise<PostedTotals> {
    const totals = await this.sum(this.db.pool, balance, asOf);
    if (totals.entriesSummed > CHECKPOINT_AFTER_ENTRIES && asOf.getTime() < Date.now() - CHECKPOINT_SETTLE_MS) {
      await this.checkpoint(balance, asOf);
    }
    return totals;
  }

  private async sum(reader: { query: Database['pool']['query'] }, balance: { rootLedgerId: string; accountId: string; assetId: string }, asOf: Date): Promise<PostedTotals> {
    const { rows } = await reader.query(
      `WITH cp AS (
         SELECT as_of, debits_posted, credits_posted FROM balance_checkpoints
          WHERE root_ledger_id = $1 AND account_id = $2 AND asset_id = $3 AND as_of <= $4
          ORDER BY as_of DESC LIMIT 1
       ), recent AS (
         SELECT e.direction, e.amount, e.pending, e.transaction_id
           FROM entries e
          WHERE e.account_id = $2 AND e.asset_id = $3 AND e.effective_at <= $4
            AND e.effective_at > coalesce((SELECT as_of FROM cp), '-infinity')
       )
       SELECT coalesce((SELECT debits_posted FROM cp), 0) + coalesce(sum(amount) FILTER (WHERE direction = 'DEBIT' AND NOT pending), 0) AS dp,
              coalesce((SELECT credits_posted FROM cp), 0) + coalesce(sum(amount) FILTER (WHERE direction = 'CREDIT' AND NOT pending), 0) AS cp,
              count(*) AS n
         FROM recent`,
      [balance.rootLedgerId, balance.accountId, balance.assetId, asOf],
    );
    // What is still held at that instant: entries of holds that were effective by then and are still PENDING.
    const { rows: held } = await reader.query(
      `SELECT coalesce(sum(e.amount) FILTER (WHERE e.direction = 'DEBIT'), 0) AS dpe, coalesce(sum(e.amount) FILTER (WHERE e.direction = 'CREDIT'), 0) AS cpe
         FROM transactions t JOIN entries e ON e.root_ledger_id = t.root_ledger_id AND e.transaction_id = t.id
        WHERE t.root_ledger_id = $1 AND t.status = 'PENDING' AND e.account_id = $2 AND e.asset_id = $3 AND e.effective_at <= $4`,
      [balance.rootLedgerId, balance.accountId, balance.assetId, asOf],
    );
    return {
      debitsPosted: BigInt(rows[0].dp),
      creditsPosted: BigInt(rows[0].cp),
      debitsPending: BigInt(held[0].dpe),
      creditsPending: BigInt(held[0].cpe),
      entriesSummed: Number(rows[0].n),
    };
  }

  /**
   * Records the totals at `asOf`. The balance rows are share-locked first, so a posting in flight
   * finishes before the sum is taken and a backdated one that starts later sees (and deletes) this row.
   */
  private async checkpoint(balance: { rootLedgerId: string; accountId: string; assetId: string }, asOf: Date): Promise<void> {
    await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      await client.query('SELECT 1 FROM balances WHERE root_ledger_id = $1 AND account_id = $2 AND asset_id = $3 FOR SHARE', [balance.rootLedgerId, balance.accountId, balance.assetId]);
      const totals = await this.sum(client, balance, asOf);
      await client.query(
        `INSERT INTO balance_checkpoints (root_ledger_id, account_id, asset_id, as_of, debits_posted, credits_posted)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
        [balance.rootLedgerId, balance.accountId, balance.assetId, asOf, totals.debitsPosted.toString(), totals.creditsPosted.toString()],
      );
    });
  }
}
