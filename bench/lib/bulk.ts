import { withClient } from './db.js';

/**
 * Grows a seeded ledger to millions of journal entries in SQL, for S8. The rows are the ones the posting
 * engine would have written (balanced two-entry transactions, balances equal to their entries), dated in
 * the past so that newer postings sort after them. Foreign-key and journal triggers are switched off
 * for the load session only (session_replication_role = replica): the rows are correct by construction,
 * and the invariants check at the end of the run proves it.
 */
export interface BulkOptions {
  rootLedgerId: string;
  assetId: string;
  issuanceAccountId: string;
  customerIds: string[];
  /** Journal entries to add (two per transaction). */
  entries: number;
  /** The first customer gets this many ISSUE transactions: a long history to page through. */
  deepAccountTransactions: number;
  /** The bulk history spans [from, to). */
  from: Date;
  to: Date;
  log(message: string): void;
}

const TRANSACTIONS_PER_STATEMENT = 250_000;

export async function bulkLoadHistory(
  url: string,
  options: BulkOptions,
): Promise<{ transactions: number; entries: number; deepAccountId: string }> {
  const transactions = Math.floor(options.entries / 2);
  const customers = options.customerIds.length;
  const baseMs = options.from.getTime();
  const spanMs = options.to.getTime() - baseMs;
  await withClient(url, async (client) => {
    await client.query(
      "SET session_replication_role = replica; SET synchronous_commit = off; SET maintenance_work_mem = '256MB'; SET work_mem = '64MB'",
    );
    await client.query(
      `CREATE FUNCTION pg_temp.bulk_uuid(ms bigint, seq bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS
       $$ SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(seq % 4096), 3, '0') || '8' || lpad(to_hex(seq / 4096), 15, '0'))::uuid $$`,
    );
    await client.query('CREATE TEMP TABLE bulk_customers (n int PRIMARY KEY, id uuid NOT NULL)');
    await client.query(
      'INSERT INTO bulk_customers SELECT c.n - 1, c.id FROM unnest($1::uuid[]) WITH ORDINALITY AS c(id, n)',
      [options.customerIds],
    );
    for (let low = 0; low < transactions; low += TRANSACTIONS_PER_STATEMENT) {
      const high = Math.min(transactions, low + TRANSACTIONS_PER_STATEMENT);
      const started = Date.now();
      await client.query('BEGIN');
      // Transaction i: ISSUE to the deep account for the first deepAccountTransactions, then transfers
      // between customers picked by two co-prime strides (from != to).
      const plan = `SELECT i, ms, to_timestamp(ms / 1000.0) AS at,
                           CASE WHEN i < $4 THEN $3::uuid ELSE f.id END AS debit_id,
                           CASE WHEN i < $4 THEN (SELECT id FROM bulk_customers WHERE n = 0) ELSE t.id END AS credit_id
                      FROM (SELECT i, $5::bigint + (i * $6::bigint / $7::bigint) AS ms,
                                   (i * 7919) % $8 AS from_n,
                                   CASE WHEN (i * 104729 + 1) % $8 = (i * 7919) % $8 THEN ((i * 104729 + 1) % $8 + 1) % $8 ELSE (i * 104729 + 1) % $8 END AS to_n
                              FROM generate_series($1::bigint, $2::bigint - 1) AS i) g
                      JOIN bulk_customers f ON f.n = g.from_n
                      JOIN bulk_customers t ON t.n = g.to_n`;
      const planValues = [
        low,
        high,
        options.issuanceAccountId,
        options.deepAccountTransactions,
        baseMs,
        spanMs,
        transactions,
        customers,
      ];
      await client.query(
        `INSERT INTO transactions (id, root_ledger_id, ledger_id, kind, status, idempotency_key, request_hash, description, metadata, effective_at, posted_at, created_at)
         SELECT pg_temp.bulk_uuid(p.ms, p.i), $9, $9, (CASE WHEN p.i < $4 THEN 'ISSUE' ELSE 'TRANSFER' END)::"TransactionKind", 'POSTED',
                'bulk-' || p.i, 'bench-bulk', NULL, '{}', p.at, p.at, p.at
           FROM (${plan}) p`,
        [...planValues, options.rootLedgerId],
      );
      await client.query(
        `INSERT INTO entries (id, root_ledger_id, transaction_id, account_id, ledger_id, asset_id, direction, amount, effective_at)
         SELECT pg_temp.bulk_uuid(p.ms, p.i * 2 + k.k), $9, pg_temp.bulk_uuid(p.ms, p.i),
                CASE k.k WHEN 0 THEN p.debit_id ELSE p.credit_id END, $9, $10,
                (CASE k.k WHEN 0 THEN 'DEBIT' ELSE 'CREDIT' END)::"Direction", 1, p.at
           FROM (${plan}) p CROSS JOIN (VALUES (0), (1)) AS k(k)`,
        [...planValues, options.rootLedgerId, options.assetId],
      );
      await client.query('COMMIT');
      options.log(
        `bulk: ${high.toLocaleString('en-US')} of ${transactions.toLocaleString('en-US')} transactions (${((Date.now() - started) / 1000).toFixed(1)} s for this batch)`,
      );
    }
    // Fold the bulk history into the balances it moved (shard 0 of each account, which the seed created).
    const started = Date.now();
    await client.query(
      `WITH moved AS (
         SELECT account_id, asset_id, sum(amount) FILTER (WHERE direction = 'DEBIT') AS debits,
                sum(amount) FILTER (WHERE direction = 'CREDIT') AS credits, count(*) AS changes
           FROM entries WHERE root_ledger_id = $1 AND effective_at >= $2 AND effective_at < $3
          GROUP BY account_id, asset_id
       )
       UPDATE balances b SET debits_posted = b.debits_posted + coalesce(moved.debits, 0),
                             credits_posted = b.credits_posted + coalesce(moved.credits, 0),
                             version = b.version + moved.changes
         FROM moved
        WHERE b.root_ledger_id = $1 AND b.account_id = moved.account_id AND b.asset_id = moved.asset_id AND b.shard = 0`,
      [options.rootLedgerId, options.from, options.to],
    );
    await client.query('RESET session_replication_role');
    options.log(`bulk: balances updated (${((Date.now() - started) / 1000).toFixed(1)} s); vacuuming`);
    await client.query('VACUUM (ANALYZE) transactions, entries, balances');
  });
  return { transactions, entries: transactions * 2, deepAccountId: options.customerIds[0]! };
}

/** The id of the entry `depth` rows into an account's history, newest first: the cursor of a deep page. */
export async function entryAtDepth(url: string, accountId: string, depth: number): Promise<string> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ id: string }>(
      'SELECT id FROM entries WHERE account_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1',
      [accountId, depth - 1],
    );
    if (!rows[0]) throw new Error(`account ${accountId} has fewer than ${depth} entries`);
    return rows[0].id;
  });
}
