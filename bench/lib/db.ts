import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Databases the bench creates on the server behind BENCH_DATABASE_URL, and the SQL it runs itself. */

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'reward-ledger-bench' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function benchDatabaseName(purpose: string): string {
  return `rl_bench_${purpose}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

/** Created databases, dropped again by `dropAll` (also on failure and on Ctrl-C). */
export class DatabaseRegistry {
  private readonly created: string[] = [];
  constructor(readonly adminUrl: string) {}

  async create(name: string): Promise<string> {
    await withClient(this.adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
    this.created.push(name);
    return databaseUrl(this.adminUrl, name);
  }

  async drop(name: string): Promise<void> {
    await withClient(this.adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    const index = this.created.indexOf(name);
    if (index >= 0) this.created.splice(index, 1);
  }

  async dropAll(): Promise<void> {
    // BENCH_KEEP_DATABASES=1 leaves them for EXPLAIN afterwards (drop them by hand: rl_bench_*).
    if (process.env.BENCH_KEEP_DATABASES === '1') {
      process.stderr.write(`kept databases: ${this.created.join(', ')}\n`);
      return;
    }
    for (const name of [...this.created].reverse()) {
      await this.drop(name).catch((error: Error) => process.stderr.write(`could not drop ${name}: ${error.message}\n`));
    }
  }
}

/**
 * UUIDv7-shaped ids minted for bulk rows: `ms` milliseconds since the epoch, then a 74-bit sequence.
 * Ids of one call sort by (ms, sequence), as the server's own ids sort by creation time.
 */
export function uuid7(ms: number, sequence: number): string {
  const hex =
    ms.toString(16).padStart(12, '0') +
    '7' +
    (sequence % 0x1000).toString(16).padStart(3, '0') +
    '8' +
    Math.floor(sequence / 0x1000)
      .toString(16)
      .padStart(15, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export interface SeedOptions {
  rootLedgerId: string;
  assetId: string;
  issuanceAccountId: string;
  customers: number;
  /** Minor units each customer is funded with, in `fundingTransactions` equal ISSUE transactions. */
  funding: bigint;
  /** Five, so that every account has a full page of "last 5 entries" before any scenario runs. */
  fundingTransactions: number;
  /** When the seeded rows say they were created. */
  at: Date;
}

/**
 * Creates `customers` accounts `customer:<n>`, each funded by `fundingTransactions` ISSUE transactions
 * from system:issuance, in one database transaction of a few statements. Every row is one the posting
 * engine could have written: entries balance, balance rows equal their entries.
 */
export async function seedCustomers(url: string, options: SeedOptions): Promise<string[]> {
  const ms = options.at.getTime();
  const transactions = options.customers * options.fundingTransactions;
  const amount = options.funding / BigInt(options.fundingTransactions);
  if (amount * BigInt(options.fundingTransactions) !== options.funding)
    throw new Error('funding must divide evenly into its transactions');
  const accountIds = Array.from({ length: options.customers }, (_, index) => uuid7(ms, index));
  // Transaction t funds customer t mod customers, so each customer's entries interleave in time.
  const transactionIds = Array.from({ length: transactions }, (_, index) => uuid7(ms + 1, index));
  const fundedIds = transactionIds.map((_, index) => accountIds[index % options.customers]!);
  const entryIds = Array.from({ length: transactions * 2 }, (_, index) => uuid7(ms + 2, index));
  await withClient(url, async (client) => {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO accounts (id, root_ledger_id, ledger_id, code, name, normal_balance, created_at, updated_at)
       SELECT a.id, $2, $2, 'customer:' || a.n, 'Customer ' || a.n, 'CREDIT', $3, $3
         FROM unnest($1::uuid[]) WITH ORDINALITY AS a(id, n)`,
      [accountIds, options.rootLedgerId, options.at],
    );
    await client.query(
      `INSERT INTO transactions (id, root_ledger_id, ledger_id, kind, status, idempotency_key, request_hash, description, effective_at, posted_at, created_at)
       SELECT t.id, $2, $2, 'ISSUE', 'POSTED', 'bench-seed-' || t.n, 'bench-seed', 'bench seed funding', $3, $3, $3
         FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)`,
      [transactionIds, options.rootLedgerId, options.at],
    );
    await client.query(
      `INSERT INTO entries (id, root_ledger_id, transaction_id, account_id, ledger_id, asset_id, direction, amount, effective_at)
       SELECT e.id, $1, t.id, CASE WHEN e.n % 2 = 1 THEN $4::uuid ELSE t.account_id END, $1, $5,
              CASE WHEN e.n % 2 = 1 THEN 'DEBIT'::"Direction" ELSE 'CREDIT'::"Direction" END, $6, $7
         FROM unnest($2::uuid[]) WITH ORDINALITY AS e(id, n)
         JOIN unnest($3::uuid[], $8::uuid[]) WITH ORDINALITY AS t(id, account_id, n) ON t.n = (e.n + 1) / 2`,
      [
        options.rootLedgerId,
        entryIds,
        transactionIds,
        options.issuanceAccountId,
        options.assetId,
        amount.toString(),
        options.at,
        fundedIds,
      ],
    );
    await client.query(
      `INSERT INTO balances (root_ledger_id, account_id, asset_id, shard, ledger_id, normal_balance, available_floor, credits_posted, version, updated_at)
       SELECT $1, a.id, $3, 0, $1, 'CREDIT', 0, $4, $6, $5 FROM unnest($2::uuid[]) AS a(id)`,
      [
        options.rootLedgerId,
        accountIds,
        options.assetId,
        options.funding.toString(),
        options.at,
        options.fundingTransactions,
      ],
    );
    await client.query(
      `INSERT INTO balances (root_ledger_id, account_id, asset_id, shard, ledger_id, normal_balance, available_floor, debits_posted, version, updated_at)
       VALUES ($1, $2, $3, 0, $1, 'CREDIT', NULL, $4, $5, $6)
       ON CONFLICT (root_ledger_id, account_id, asset_id, shard)
       DO UPDATE SET debits_posted = balances.debits_posted + EXCLUDED.debits_posted, version = balances.version + EXCLUDED.version`,
      [
        options.rootLedgerId,
        options.issuanceAccountId,
        options.assetId,
        (options.funding * BigInt(options.customers)).toString(),
        transactions,
        options.at,
      ],
    );
    await client.query('COMMIT');
    await client.query('ANALYZE');
  });
  return accountIds;
}

export interface InvariantReport {
  ok: boolean;
  checkedAt: string;
  counts: { transactions: number; entries: number; balanceRows: number };
  violations: Array<{ invariant: string; rows: unknown[] }>;
}

/**
 * The ledger invariants, checked straight in SQL (the integrity report of issue 3 will replace this):
 * conservation per root ledger and asset, every (account, asset) balance equal to its entries (shards
 * summed: an entry does not record which shard it was applied to), every journal transaction balanced,
 * and no constrained balance below its floor.
 */
export async function checkInvariants(url: string): Promise<InvariantReport> {
  return withClient(url, async (client) => {
    await client.query("SET statement_timeout = '300s'");
    const violations: InvariantReport['violations'] = [];
    const check = async (invariant: string, sql: string) => {
      const { rows } = await client.query(sql);
      if (rows.length > 0) violations.push({ invariant, rows: rows.slice(0, 20) });
    };
    await check(
      'per root ledger and asset, sum of debits = sum of credits over balances (posted and pending)',
      `SELECT root_ledger_id, asset_id, sum(debits_posted) - sum(credits_posted) AS posted_gap, sum(debits_pending) - sum(credits_pending) AS pending_gap
         FROM balances GROUP BY root_ledger_id, asset_id
       HAVING sum(debits_posted) <> sum(credits_posted) OR sum(debits_pending) <> sum(credits_pending)`,
    );
    await check(
      'every balance (account, asset; shards summed) equals the sum of its entries',
      `WITH b AS (
         SELECT root_ledger_id, account_id, asset_id, sum(debits_posted) AS dp, sum(credits_posted) AS cp,
                sum(debits_pending) AS dpe, sum(credits_pending) AS cpe
           FROM balances GROUP BY 1, 2, 3
       ), e AS (
         SELECT e.root_ledger_id, e.account_id, e.asset_id,
                coalesce(sum(e.amount) FILTER (WHERE e.direction = 'DEBIT' AND t.status = 'POSTED'), 0) AS dp,
                coalesce(sum(e.amount) FILTER (WHERE e.direction = 'CREDIT' AND t.status = 'POSTED'), 0) AS cp,
                coalesce(sum(e.amount) FILTER (WHERE e.direction = 'DEBIT' AND t.status = 'PENDING'), 0) AS dpe,
                coalesce(sum(e.amount) FILTER (WHERE e.direction = 'CREDIT' AND t.status = 'PENDING'), 0) AS cpe
           FROM entries e JOIN transactions t ON t.root_ledger_id = e.root_ledger_id AND t.id = e.transaction_id
          GROUP BY 1, 2, 3
       )
       SELECT * FROM b FULL JOIN e USING (root_ledger_id, account_id, asset_id)
        WHERE coalesce(b.dp, 0) <> coalesce(e.dp, 0) OR coalesce(b.cp, 0) <> coalesce(e.cp, 0)
           OR coalesce(b.dpe, 0) <> coalesce(e.dpe, 0) OR coalesce(b.cpe, 0) <> coalesce(e.cpe, 0)`,
    );
    await check(
      'every transaction has at least two entries and balances per asset',
      `SELECT t.id, count(e.id) AS entries
         FROM transactions t LEFT JOIN entries e ON e.root_ledger_id = t.root_ledger_id AND e.transaction_id = t.id
        GROUP BY t.id
       HAVING count(e.id) < 2
       UNION ALL
       SELECT transaction_id, NULL FROM entries GROUP BY transaction_id, asset_id
       HAVING sum(CASE direction WHEN 'DEBIT' THEN amount ELSE -amount END) <> 0`,
    );
    await check(
      'no constrained balance below its floor',
      `SELECT root_ledger_id, account_id, asset_id, shard, available_floor,
              CASE normal_balance WHEN 'CREDIT' THEN credits_posted - debits_posted - debits_pending
                                  ELSE debits_posted - credits_posted - credits_pending END AS available
         FROM balances
        WHERE available_floor IS NOT NULL
          AND (CASE normal_balance WHEN 'CREDIT' THEN credits_posted - debits_posted - debits_pending
                                   ELSE debits_posted - credits_posted - credits_pending END) < available_floor`,
    );
    await check(
      'every balance row of a constrained account carries its current floor',
      `SELECT b.account_id, b.asset_id, b.shard, b.available_floor, a.allow_overdraft, a.overdraft_limit
         FROM balances b JOIN accounts a ON a.root_ledger_id = b.root_ledger_id AND a.id = b.account_id
        WHERE b.available_floor IS DISTINCT FROM (CASE WHEN NOT a.allow_overdraft THEN 0 WHEN a.overdraft_limit IS NULL THEN NULL ELSE -a.overdraft_limit END)`,
    );
    const { rows } = await client.query<{ transactions: string; entries: string; balances: string }>(
      'SELECT (SELECT count(*) FROM transactions) AS transactions, (SELECT count(*) FROM entries) AS entries, (SELECT count(*) FROM balances) AS balances',
    );
    return {
      ok: violations.length === 0,
      checkedAt: new Date().toISOString(),
      counts: {
        transactions: Number(rows[0]!.transactions),
        entries: Number(rows[0]!.entries),
        balanceRows: Number(rows[0]!.balances),
      },
      violations,
    };
  });
}

/** The pid of the postmaster serving `url`, when it runs on this machine (for CPU accounting). */
export async function postmasterPid(url: string, parentOf: (pid: number) => number | null): Promise<number | null> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return parentOf(rows[0]!.pid);
  }).catch(() => null);
}
