import type pg from 'pg';

/** SQL for point-in-time balances and their checkpoints; every function takes the pool or a transaction's client. */
type Reader = pg.Pool | pg.PoolClient;

export interface BalanceKey {
  rootLedgerId: string;
  accountId: string;
  assetId: string;
}

export interface PostedTotals {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
  entriesSummed: number;
}

/** The posted totals of entries effective at or before `asOf`, from the nearest checkpoint on. */
export async function sumAsOf(reader: Reader, balance: BalanceKey, asOf: Date): Promise<PostedTotals> {
  const { rows } = await reader.query<{ dp: string; cp: string; n: string }>(
    `WITH cp AS (
       SELECT as_of, debits_posted, credits_posted FROM balance_checkpoints
        WHERE root_ledger_id = $1 AND account_id = $2 AND asset_id = $3 AND as_of <= $4
        ORDER BY as_of DESC LIMIT 1
     ), recent AS (
       SELECT e.direction, e.amount, e.pending, e.transaction_id
         FROM entries e
        WHERE e.root_ledger_id = $1 AND e.account_id = $2 AND e.asset_id = $3 AND e.effective_at <= $4
          AND e.effective_at > coalesce((SELECT as_of FROM cp), '-infinity')
     )
     SELECT coalesce((SELECT debits_posted FROM cp), 0) + coalesce(sum(amount) FILTER (WHERE direction = 'DEBIT' AND NOT pending), 0) AS dp,
            coalesce((SELECT credits_posted FROM cp), 0) + coalesce(sum(amount) FILTER (WHERE direction = 'CREDIT' AND NOT pending), 0) AS cp,
            count(*) AS n
       FROM recent`,
    [balance.rootLedgerId, balance.accountId, balance.assetId, asOf],
  );
  // What is still held at that instant: entries of holds that were effective by then and are still PENDING.
  const { rows: held } = await reader.query<{ dpe: string; cpe: string }>(
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

/** Share-locks the balance rows, so a posting in flight finishes before a checkpoint's sum is taken. */
export async function shareLockBalance(client: pg.PoolClient, balance: BalanceKey): Promise<void> {
  await client.query(
    'SELECT 1 FROM balances WHERE root_ledger_id = $1 AND account_id = $2 AND asset_id = $3 FOR SHARE',
    [balance.rootLedgerId, balance.accountId, balance.assetId],
  );
}

export async function insertCheckpoint(
  client: pg.PoolClient,
  balance: BalanceKey,
  asOf: Date,
  totals: PostedTotals,
): Promise<void> {
  await client.query(
    `INSERT INTO balance_checkpoints (root_ledger_id, account_id, asset_id, as_of, debits_posted, credits_posted)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
    [
      balance.rootLedgerId,
      balance.accountId,
      balance.assetId,
      asOf,
      totals.debitsPosted.toString(),
      totals.creditsPosted.toString(),
    ],
  );
}
