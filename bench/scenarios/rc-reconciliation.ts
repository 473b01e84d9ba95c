import { performance } from 'node:perf_hooks';
import { gql } from '../lib/context.js';
import { seedCustomers, withClient } from '../lib/db.js';
import { loadFigures, limitRow, type Figures, type Scenario } from './scenario.js';
import { transferSpec } from './s1-transfer.js';

/**
 * RC1: reconciliation runs (runReconciliation over the API, DRY_RUN and then COMMIT) of 100,000 and of
 * 1,000,000 partner records against a journal of 1,000,000 ledger transactions, timed from the request
 * to the answer: records per second. The journal and the records are bulk-loaded in SQL first (the
 * import has its own scenario, R1), and are rows the engine and the import would have written. 98% of
 * the records match, 1% disagree on the amount and 1% name no transaction; the 100,000-record period is
 * one tenth of the journal, the 1,000,000-record one all of it.
 *
 * RC2: S1 (transfers) with a continuous source attached to S1's own ledger, against S1 without it,
 * alternated in the same run (the source is switched off and on between measurements), so the shared
 * machine's noise falls on both sides alike.
 */
const JOURNAL_TRANSACTIONS = Number(process.env.BENCH_RECON_TRANSACTIONS ?? 1_000_000);
// BENCH_RECON_SIZES=100000 measures only the smaller run (against the same journal), for iteration.
const SIZES = (process.env.BENCH_RECON_SIZES?.split(',').map(Number) ?? [100_000, 1_000_000]).filter(
  (size) => size <= JOURNAL_TRANSACTIONS,
);
const CUSTOMERS = 1_000;
const STATEMENT_ROWS = 250_000;
const BASE_MS = Date.parse('2026-06-01T00:00:00Z');

async function bulkJournal(
  url: string,
  rootLedgerId: string,
  assetId: string,
  issuanceId: string,
  log: (m: string) => void,
) {
  await withClient(url, async (client) => {
    await client.query("SET session_replication_role = replica; SET synchronous_commit = off; SET work_mem = '64MB'");
    await client.query(
      `CREATE FUNCTION pg_temp.bulk_uuid(ms bigint, seq bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS
       $$ SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(seq % 4096), 3, '0') || '8' || lpad(to_hex(seq / 4096), 15, '0'))::uuid $$`,
    );
    const customers = await client.query<{ id: string }>(
      `SELECT id FROM accounts WHERE root_ledger_id = $1 AND NOT is_system ORDER BY id`,
      [rootLedgerId],
    );
    await client.query('CREATE TEMP TABLE bulk_customers (n int PRIMARY KEY, id uuid NOT NULL)');
    await client.query(
      'INSERT INTO bulk_customers SELECT c.n - 1, c.id FROM unnest($1::uuid[]) WITH ORDINALITY AS c(id, n)',
      [customers.rows.map((row) => row.id)],
    );
    for (let low = 0; low < JOURNAL_TRANSACTIONS; low += STATEMENT_ROWS) {
      const high = Math.min(JOURNAL_TRANSACTIONS, low + STATEMENT_ROWS);
      const started = Date.now();
      const plan = `SELECT i, $3::bigint + i * 1000 AS ms, to_timestamp(($3::bigint + i * 1000) / 1000.0) AS at, c.id AS customer_id,
                           1 + i % 50000 AS amount
                      FROM generate_series($1::bigint, $2::bigint - 1) AS i JOIN bulk_customers c ON c.n = i % ${CUSTOMERS}`;
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO transactions (id, root_ledger_id, ledger_id, kind, status, idempotency_key, request_hash, metadata, effective_at, posted_at, created_at)
         SELECT pg_temp.bulk_uuid(p.ms, p.i), $4, $4, 'ISSUE', 'POSTED', 'order-' || p.i, 'bench-recon', '{}', p.at, p.at, p.at
           FROM (${plan}) p`,
        [low, high, BASE_MS, rootLedgerId],
      );
      await client.query(
        `INSERT INTO entries (id, root_ledger_id, transaction_id, account_id, ledger_id, asset_id, direction, amount, effective_at)
         SELECT pg_temp.bulk_uuid(p.ms, 2 * p.i + k.k), $4, pg_temp.bulk_uuid(p.ms, p.i),
                CASE k.k WHEN 0 THEN $6::uuid ELSE p.customer_id END, $4, $5,
                (CASE k.k WHEN 0 THEN 'DEBIT' ELSE 'CREDIT' END)::"Direction", p.amount, p.at
           FROM (${plan}) p CROSS JOIN (VALUES (0), (1)) AS k(k)`,
        [low, high, BASE_MS, rootLedgerId, assetId, issuanceId],
      );
      await client.query('COMMIT');
      log(
        `RC1: journal ${high.toLocaleString('en-US')} of ${JOURNAL_TRANSACTIONS.toLocaleString('en-US')} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
    }
    // The balances the bulk journal moved, so the ledger stays consistent (the invariants check reads them).
    await client.query(
      `WITH moved AS (
         SELECT account_id, sum(amount) FILTER (WHERE direction = 'DEBIT') AS debits,
                sum(amount) FILTER (WHERE direction = 'CREDIT') AS credits, count(*) AS changes
           FROM entries e JOIN transactions t ON t.root_ledger_id = e.root_ledger_id AND t.id = e.transaction_id
          WHERE e.root_ledger_id = $1 AND t.request_hash = 'bench-recon' GROUP BY account_id)
       UPDATE balances b SET debits_posted = b.debits_posted + coalesce(moved.debits, 0),
                             credits_posted = b.credits_posted + coalesce(moved.credits, 0), version = b.version + moved.changes
         FROM moved WHERE b.root_ledger_id = $1 AND b.account_id = moved.account_id AND b.asset_id = $2 AND b.shard = 0`,
      [rootLedgerId, assetId],
    );
    await client.query('RESET session_replication_role');
    await client.query('VACUUM (ANALYZE) transactions, entries, balances');
  });
}

/** `count` records for transactions 0..count-1: 98% agreeing, 1% off by 7, 1% naming no transaction. */
async function bulkRecords(url: string, rootLedgerId: string, sourceId: string, assetId: string, count: number) {
  await withClient(url, async (client) => {
    await client.query(
      `INSERT INTO reconciliation_records (id, root_ledger_id, source_id, external_id, version, is_current, asset_id, amount,
                                           direction, occurred_at, reference, account_code, content_hash)
       SELECT gen_random_uuid(), $1, $2, 'ext-' || i, 1, true, $3, 1 + i % 50000 + CASE WHEN i % 100 = 1 THEN 7 ELSE 0 END,
              'CREDIT', to_timestamp(($4::bigint + i * 1000 + 30000) / 1000.0),
              CASE WHEN i % 100 = 2 THEN 'unknown-' || i ELSE 'order-' || i END,
              'customer:' || (i % 1000 + 1), '\\x00'
         FROM generate_series(0, $5::bigint - 1) AS i`,
      [rootLedgerId, sourceId, assetId, BASE_MS, count],
    );
    await client.query('VACUUM (ANALYZE) reconciliation_records');
  });
}

export const rc1: Scenario = {
  id: 'RC1',
  title: 'reconciliation runs of 100k and 1M records against 1M ledger transactions: records/s',
  phase: 'after',
  async measure(ctx) {
    const { server, fixture } = ctx;
    const admin = fixture.secrets.admin;
    const ledger = (
      await gql(server, admin, 'mutation($i: CreateLedgerInput!) { createLedger(input: $i) { id } }', {
        i: { code: `bench-recon-${Date.now()}`, name: 'Reconciliation benchmark' },
      })
    ).createLedger;
    const asset = (
      await gql(server, admin, 'mutation($i: CreateAssetInput!) { createAsset(input: $i) { id } }', {
        i: { ledgerId: ledger.id, code: 'PTS', name: 'Points', kind: 'POINTS', scale: 0 },
      })
    ).createAsset;
    const issuanceId = await withClient(ctx.databaseUrl, async (client) => {
      const { rows } = await client.query(
        `SELECT id FROM accounts WHERE root_ledger_id = $1 AND code = 'system:issuance'`,
        [ledger.id],
      );
      return rows[0].id as string;
    });
    await seedCustomers(ctx.databaseUrl, {
      rootLedgerId: ledger.id,
      assetId: asset.id,
      issuanceAccountId: issuanceId,
      customers: CUSTOMERS,
      funding: 5n,
      fundingTransactions: 1,
      at: new Date(BASE_MS - 86_400_000),
    });
    const loadStarted = performance.now();
    await bulkJournal(ctx.databaseUrl, ledger.id, asset.id, issuanceId, ctx.log);
    ctx.log(
      `RC1: journal of ${JOURNAL_TRANSACTIONS} transactions in ${((performance.now() - loadStarted) / 1000).toFixed(0)} s`,
    );
    const figures: Figures = {};
    for (const size of SIZES) {
      const source = (
        await gql(
          server,
          admin,
          'mutation($i: CreateExternalSourceInput!) { createExternalSource(input: $i) { id } }',
          {
            i: { ledgerId: ledger.id, code: `bench-${size}`, name: 'bench partner' },
          },
        )
      ).createExternalSource;
      await gql(server, admin, 'mutation($i: CreateMatchRuleInput!) { createMatchRule(input: $i) { id } }', {
        i: {
          sourceId: source.id,
          priority: 1,
          referenceField: 'idempotencyKey',
          matchAccount: false,
          dateWindowSeconds: 3600,
        },
      });
      await bulkRecords(ctx.databaseUrl, ledger.id, source.id, asset.id, size);
      const window = {
        from: new Date(BASE_MS).toISOString(),
        to: new Date(BASE_MS + (size - 1) * 1000 + 60_000).toISOString(),
      };
      const key = size === 100_000 ? '100k' : '1m';
      for (const mode of ['DRY_RUN', 'COMMIT'] as const) {
        const started = performance.now();
        const run = (
          await gql(
            server,
            admin,
            'mutation($i: RunReconciliationInput!) { runReconciliation(input: $i) { status error summary { externalRecords ledgerTransactions matched missingInLedger missingExternally amountMismatch } } }',
            { i: { sourceId: source.id, mode, ...window, idempotencyKey: `bench-${size}-${mode}` } },
          )
        ).runReconciliation;
        const seconds = (performance.now() - started) / 1000;
        if (run.status !== 'COMPLETED' || run.summary.externalRecords !== size)
          throw new Error(`RC1 run of ${size} (${mode}) answered ${JSON.stringify(run)}`);
        const name = mode === 'DRY_RUN' ? 'Dry' : 'Commit';
        figures[`recordsPerSecond${name}${key}`] = size / seconds;
        figures[`seconds${name}${key}`] = seconds;
        ctx.log(
          `RC1: ${mode} of ${size} records in ${seconds.toFixed(2)} s = ${(size / seconds).toFixed(0)} records/s; ${JSON.stringify(run.summary)}`,
        );
      }
    }
    return { figures };
  },
  targets: (all) =>
    SIZES.flatMap((size) => {
      const key = size === 100_000 ? '100k' : '1m';
      const label = size === 100_000 ? '100,000' : '1,000,000';
      return [
        limitRow({
          scenario: 'RC1',
          figure: `DRY_RUN records/s, ${label} records`,
          value: all.RC1?.[`recordsPerSecondDry${key}`],
          unit: 'records/s',
          atLeast: 100_000,
        }),
        limitRow({
          scenario: 'RC1',
          figure: `COMMIT records/s, ${label} records`,
          value: all.RC1?.[`recordsPerSecondCommit${key}`],
          unit: 'records/s',
          atLeast: 100_000,
        }),
      ];
    }),
};

const RC2_PAIRS = 5;

export const rc2: Scenario = {
  id: 'RC2',
  title: 'S1 with a continuous reconciliation source attached, against S1 without (alternated)',
  phase: 'after',
  async measure(ctx) {
    const { server, fixture } = ctx;
    const admin = fixture.secrets.admin;
    const source = (
      await gql(server, admin, 'mutation($i: CreateExternalSourceInput!) { createExternalSource(input: $i) { id } }', {
        i: { ledgerId: fixture.rootLedgerId, code: `bench-live-${Date.now()}`, name: 'live partner', continuous: true },
      })
    ).createExternalSource;
    await gql(server, admin, 'mutation($i: CreateMatchRuleInput!) { createMatchRule(input: $i) { id } }', {
      i: { sourceId: source.id, priority: 1 },
    });
    const setContinuous = (on: boolean) =>
      withClient(ctx.databaseUrl, (client) =>
        client.query('UPDATE reconciliation_sources SET continuous = $2 WHERE id = $1', [source.id, on]),
      );
    const without: number[] = [];
    const withSource: number[] = [];
    const ratios: number[] = [];
    try {
      for (let pair = 0; pair < RC2_PAIRS; pair += 1) {
        const measured: Record<string, number> = {};
        for (const on of pair % 2 === 0 ? [false, true] : [true, false]) {
          await setContinuous(on);
          const run = await ctx.drive(transferSpec(ctx));
          const throughput = loadFigures(run).throughput!;
          (on ? withSource : without).push(throughput);
          measured[on ? 'with' : 'without'] = throughput;
          ctx.log(`RC2: S1 ${on ? 'with' : 'without'} a continuous source: ${throughput.toFixed(0)} transfers/s`);
        }
        ratios.push(measured.with! / measured.without!);
      }
    } finally {
      await setContinuous(false);
    }
    // The two runs of a pair are adjacent in time and share the machine's load: the ratio within each
    // pair, then the median of those, is what other work on a shared machine disturbs least.
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    return {
      figures: { throughputWithout: median(without), throughputWith: median(withSource), pairRatio: median(ratios) },
      detail: { ratios },
    };
  },
  targets: (all) => [
    limitRow({
      scenario: 'RC2',
      figure: 'S1 with a continuous source ÷ S1 without, median of alternated pairs',
      value: all.RC2?.pairRatio,
      unit: '×',
      atLeast: 0.9,
      note: `medians ${(all.RC2?.throughputWith ?? NaN).toFixed(0)}/s with, ${(all.RC2?.throughputWithout ?? NaN).toFixed(0)}/s without`,
    }),
  ],
};
