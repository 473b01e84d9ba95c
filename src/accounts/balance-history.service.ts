import type { Database } from '../platform/db.js';
import { inTransaction } from '../platform/transaction.js';
import { CHECKPOINT_SETTLE_MS } from '../balances/balances.core.js';
import {
  insertCheckpoint,
  shareLockBalance,
  sumAsOf,
  type BalanceKey,
  type PostedTotals,
} from './balance-history.repository.js';

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

export class BalanceHistoryService {
  constructor(
    private readonly db: Database,
    private readonly attemptsMax: number,
  ) {}

  async asOf(balance: BalanceKey, asOf: Date): Promise<PostedTotals> {
    // History may be slightly stale; the checkpoint below is written (and summed again) on the primary.
    const totals = await this.db.stale(({ pool }) => sumAsOf(pool, balance, asOf));
    if (totals.entriesSummed > CHECKPOINT_AFTER_ENTRIES && asOf.getTime() < Date.now() - CHECKPOINT_SETTLE_MS) {
      await this.checkpoint(balance, asOf);
    }
    return totals;
  }

  /**
   * Records the totals at `asOf`. The balance rows are share-locked first, so a posting in flight
   * finishes before the sum is taken and a backdated one that starts later sees (and deletes) this row.
   */
  private async checkpoint(balance: BalanceKey, asOf: Date): Promise<void> {
    await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      await shareLockBalance(client, balance);
      await insertCheckpoint(client, balance, asOf, await sumAsOf(client, balance, asOf));
    });
  }
}
