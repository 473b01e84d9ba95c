import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { migrate, readMigrations, type MigrationReport } from '../src/platform/migrations';
import { emptyTestDatabase } from './support/databases';
import {
  checkOutMigrations,
  fileAtRelease,
  previousRelease,
  previousReleaseOfCheckout,
  requireReleaseCommit,
  type Release,
} from './support/releases';
import { writeReleasedTenant, type ReleasedTenant } from './support/released-tenant';
import { ok, startTestServer, type TestServer } from './support/server';

/**
 * A database of the previous release (CHANGELOG.md names it) upgraded by the current migrations, then served
 * by the current server: what an operator does when they deploy a new version over their data.
 */

describe('the previous release, as CHANGELOG.md names it', () => {
  const changelog = [
    '# Changelog',
    '## [0.4.0] - Unreleased',
    '## [0.3.0] - 2027-01-02',
    `Commit: \`${'c'.repeat(40)}\``,
    '## [0.2.10] - 2026-12-01',
    `Commit: \`${'b'.repeat(40)}\``,
    '## [0.2.9] - 2026-11-30',
    `Commit: \`${'a'.repeat(40)}\``,
  ].join('\n');

  it('is the newest released version older than the one being worked on', () => {
    expect(previousRelease(changelog, '0.4.0')).toEqual({ version: '0.3.0', commit: 'c'.repeat(40) });
  });

  it('orders versions by number, not by text', () => {
    expect(previousRelease(changelog, '0.3.0')).toEqual({ version: '0.2.10', commit: 'b'.repeat(40) });
  });

  it('refuses a changelog with no released version older than the current one', () => {
    expect(() => previousRelease(changelog, '0.2.9')).toThrow(/no released version/);
  });
});

describe('upgrading a database of the previous release', () => {
  let release: Release;
  let releasedMigrations: string[];
  let migrationsDir: string;
  let pool: pg.Pool;
  let tenant: ReleasedTenant;
  let written: Record<string, BalanceFigures>;
  let upgrade: MigrationReport;
  let t: TestServer;

  beforeAll(async () => {
    release = await previousReleaseOfCheckout();
    requireReleaseCommit(release);
    migrationsDir = await mkdtemp(path.join(os.tmpdir(), `rl-release-${release.version}-`));
    releasedMigrations = await checkOutMigrations(release, migrationsDir);

    const database = await emptyTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    // The database is dropped WITH (FORCE) at the end; a connection still closing then is terminated (57P01).
    pool.on('error', () => undefined);
    await migrate(pool, migrationsDir);
    tenant = await writeReleasedTenant(pool);
    written = await storedBalances(pool);

    upgrade = await migrate(pool).catch((error: Error) => {
      throw new Error(
        `the current migrations do not apply over release ${release.version}'s: ${error.message}. ` +
          'Migrations are frozen once they are on main: a change to the database is a new migration.',
      );
    });
    t = await startTestServer({ database });
  });

  afterAll(async () => {
    await pool?.end();
    await t?.stop();
    if (migrationsDir) await rm(migrationsDir, { recursive: true, force: true });
  });

  it('starts from a release whose own package.json carries its version', () => {
    expect(JSON.parse(fileAtRelease(release, 'package.json')).version).toBe(release.version);
  });

  it('applies only the migrations added since the release, after all of its own, and leaves those as they were', async () => {
    const current = (await readMigrations()).map((migration) => migration.name);
    expect(upgrade.alreadyApplied).toEqual(releasedMigrations);
    expect(upgrade.applied).toEqual(current.filter((name) => !releasedMigrations.includes(name)));
    // A migration sorting before one the release shipped would run in a different order on fresh and upgraded databases.
    const lastReleased = releasedMigrations.at(-1)!;
    expect(upgrade.applied.filter((name) => name <= lastReleased)).toEqual([]);
  });

  it('leaves the schema exactly as a freshly migrated database has it', async () => {
    // Migrated here rather than cloned from the suite's template: on Citus test databases are also
    // distributed (db:distribute adds casts, resets function settings and places reference tables on the
    // coordinator), and what is compared is what the migrations make, on both sides.
    const fresh = await emptyTestDatabase();
    const freshPool = new pg.Pool({ connectionString: fresh.url, max: 1 });
    freshPool.on('error', () => undefined);
    try {
      await migrate(freshPool);
      expect(await describeSchema(pool)).toEqual(await describeSchema(freshPool));
    } finally {
      await freshPool.end();
      await fresh.drop();
    }
  });

  it('gives every root written before the upgrade its system:conversion account, as new roots get', async () => {
    const { rows } = await pool.query(
      `SELECT code, is_system, allow_overdraft, normal_balance::text AS normal_balance FROM accounts
       WHERE root_ledger_id = $1 AND ledger_id = $1 AND code = 'system:conversion'`,
      [tenant.rootLedgerId],
    );
    expect(rows).toEqual([
      { code: 'system:conversion', is_system: true, allow_overdraft: true, normal_balance: 'CREDIT' },
    ]);
  });

  it('reads back every balance as the release wrote it', async () => {
    const served: Record<string, BalanceFigures> = {};
    for (const account of Object.values(tenant.accounts)) {
      const data = ok(await t.gql(BALANCES, { id: account.id }));
      for (const balance of data.account.balances) {
        const { asset, posted, available, ...figures } = balance;
        served[`${account.code} ${asset.code}`] = figures;
      }
    }
    expect(served).toEqual(written);
    // And the figures themselves are the program's: alice's 100 PTS hold leaves 600 of her 700 available.
    expect(await derived(t, tenant.accounts.alice.id)).toEqual({
      PTS: { posted: '700', available: '600' },
      USD: { posted: '3500', available: '3500' },
    });
    expect(await derived(t, tenant.accounts.bob.id)).toEqual({
      PTS: { posted: '300', available: '300' },
      USD: { posted: '49000', available: '49000' },
    });
    // The store sub-ledger's roll-up holds alice's balances alone.
    expect(ok(await t.gql(LEDGER_BALANCES, { l: tenant.storeLedgerId })).ledger.balances).toEqual([
      { asset: { code: 'PTS' }, debitsPosted: '300', creditsPosted: '1000', debitsPending: '100', creditsPending: '0' },
      { asset: { code: 'USD' }, debitsPosted: '0', creditsPosted: '3500', debitsPending: '0', creditsPending: '0' },
    ]);
  });

  it('finds the ledger as upgraded consistent with its journal', async () => {
    expect(ok(await t.gql(INTEGRITY, { l: tenant.rootLedgerId })).ledgerIntegrity).toMatchObject({
      ok: true,
      problems: [],
    });
  });

  it('answers an idempotency key used before the upgrade with the original transaction', async () => {
    const replayedIssue = ok(await t.gql(ISSUE, { input: tenant.issuePointsRequest })).issue;
    expect(replayedIssue).toEqual({ replayed: true, transaction: { id: tenant.transactions.issuePoints } });

    const replayedReversal = ok(
      await t.gql(REVERSE, { id: tenant.transactions.redeemPoints, key: 'upgrade-reverse-redeem' }),
    ).reverseTransaction;
    expect(replayedReversal).toEqual({
      replayed: true,
      transaction: { id: tenant.transactions.reversalOfRedemption, kind: 'REVERSAL' },
    });
  });

  it('reads the transactions, holds and reversals written before the upgrade', async () => {
    const { transactions: ids } = tenant;
    const read = async (id: string) => ok(await t.gql(TRANSACTION, { id })).transaction;
    expect(await read(ids.redeemPoints)).toMatchObject({
      kind: 'REDEEM',
      status: 'POSTED',
      reversedBy: { id: ids.reversalOfRedemption },
    });
    expect(await read(ids.reversalOfRedemption)).toMatchObject({
      kind: 'REVERSAL',
      reversalOf: { id: ids.redeemPoints },
    });
    expect(await read(ids.openHold)).toMatchObject({
      kind: 'REDEEM',
      status: 'PENDING',
      timeoutAt: expect.any(String),
    });
    expect(await read(ids.voidedHold)).toMatchObject({ status: 'VOIDED', capturedBy: null });
    expect(await read(ids.batchTransfer)).toMatchObject({
      kind: 'TRANSFER',
      entries: [
        { direction: 'DEBIT', amount: '1000', account: { code: 'bob' }, asset: { code: 'USD' } },
        { direction: 'CREDIT', amount: '1000', account: { code: 'alice' }, asset: { code: 'USD' } },
      ],
    });
  });

  it('captures a hold placed before the upgrade and reverses a transfer whose lots predate it', async () => {
    const { alice, bob } = tenant.accounts;
    const capture = ok(
      await t.gql(CAPTURE, { id: tenant.transactions.openHold, key: 'upgrade-capture', amount: '60' }),
    ).postPendingTransaction;
    expect(capture.transaction).toMatchObject({
      kind: 'REDEEM',
      status: 'POSTED',
      capturedHold: { id: tenant.transactions.openHold, status: 'POSTED' },
    });

    const reversal = ok(
      await t.gql(REVERSE, { id: tenant.transactions.transferPoints, key: 'upgrade-reverse-transfer' }),
    ).reverseTransaction;
    expect(reversal).toMatchObject({ replayed: false, transaction: { kind: 'REVERSAL' } });

    ok(
      await t.gql(ISSUE, {
        input: { accountId: bob.id, asset: 'PTS', amount: '25', idempotencyKey: 'upgrade-issue-after' },
      }),
    );

    // alice: 700 - 60 captured + 300 given back to the lot her transfer took them from; bob's transferred lot closes.
    expect(await derived(t, alice.id)).toMatchObject({ PTS: { posted: '940', available: '940' } });
    expect(await derived(t, bob.id)).toMatchObject({ PTS: { posted: '25', available: '25' } });
    const pointsExpireAt = tenant.pointsExpireAt.toISOString();
    expect(ok(await t.gql(LOTS, { id: alice.id })).account.lots).toEqual([
      {
        amount: '1000',
        remaining: '940',
        expiresAt: pointsExpireAt,
        sourceTransaction: { id: tenant.transactions.issuePoints },
      },
    ]);
    expect(ok(await t.gql(LOTS_WITH_CLOSED, { id: bob.id })).account.lots).toEqual([
      {
        amount: '300',
        remaining: '0',
        expiresAt: pointsExpireAt,
        sourceTransaction: { id: tenant.transactions.transferPoints },
      },
      { amount: '25', remaining: '25', expiresAt: expect.any(String), sourceTransaction: { id: expect.any(String) } },
    ]);
  });

  it('expires the points of lots written before the upgrade once they lapse', async () => {
    const asOf = new Date(tenant.pointsExpireAt.getTime() + 2 * 86_400_000).toISOString();
    expect(ok(await t.gql(RUN_EXPIRY, { l: tenant.rootLedgerId, asOf })).runExpiry).toEqual({ transactionsPosted: 2 });
    expect(await derived(t, tenant.accounts.alice.id)).toMatchObject({ PTS: { posted: '0' } });
    expect(await derived(t, tenant.accounts.bob.id)).toMatchObject({ PTS: { posted: '0' } });
    expect(await derived(t, tenant.accounts.expiry.id)).toEqual({ PTS: { posted: '965', available: '965' } });
  });

  it('pages through history that spans the upgrade, newest first, missing nothing', async () => {
    const { alice } = tenant.accounts;
    const entryPages = await collectPages((after) =>
      t.gql(ENTRIES, { id: alice.id, after }).then((response) => ok(response).account.entries),
    );
    const entries = await pool.query<{ id: string }>('SELECT id FROM entries WHERE account_id = $1 ORDER BY id DESC', [
      alice.id,
    ]);
    expect(entryPages.ids).toEqual(entries.rows.map((row) => row.id));
    expect(entryPages.pages).toBeGreaterThan(2);

    const transactionPages = await collectPages((after) =>
      t
        .gql(LEDGER_TRANSACTIONS, { l: tenant.rootLedgerId, after })
        .then((response) => ok(response).ledger.transactions),
    );
    const transactions = await pool.query<{ id: string }>(
      'SELECT id FROM transactions WHERE root_ledger_id = $1 ORDER BY id DESC',
      [tenant.rootLedgerId],
    );
    expect(transactionPages.ids).toEqual(transactions.rows.map((row) => row.id));
    expect(transactionPages.ids).toEqual(expect.arrayContaining(Object.values(tenant.transactions)));
  });

  it('finds the ledger consistent with its journal after the current server has posted to it', async () => {
    const report = ok(await t.gql(INTEGRITY, { l: tenant.rootLedgerId })).ledgerIntegrity;
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM transactions WHERE root_ledger_id = $1',
      [tenant.rootLedgerId],
    );
    expect(report).toEqual({ ok: true, problems: [], transactionsChecked: rows[0]!.n });
  });
});

interface BalanceFigures {
  debitsPosted: string;
  creditsPosted: string;
  debitsPending: string;
  creditsPending: string;
  version: number;
}

const BALANCES = `query($id: ID!) { account(id: $id) { balances { asset { code } debitsPosted creditsPosted debitsPending creditsPending posted available version } } }`;
const LEDGER_BALANCES = `query($l: ID!) { ledger(id: $l) { balances { asset { code } debitsPosted creditsPosted debitsPending creditsPending } } }`;
const ISSUE = `mutation($input: IssueInput!) { issue(input: $input) { replayed transaction { id } } }`;
const REVERSE = `mutation($id: ID!, $key: String!) { reverseTransaction(id: $id, idempotencyKey: $key) { replayed transaction { id kind } } }`;
const CAPTURE = `mutation($id: ID!, $key: String!, $amount: Amount) { postPendingTransaction(id: $id, idempotencyKey: $key, amount: $amount) { transaction { kind status capturedHold { id status } } } }`;
const TRANSACTION = `query($id: ID!) { transaction(id: $id) {
  kind status timeoutAt reversalOf { id } reversedBy { id } capturedBy { id }
  entries { direction amount account { code } asset { code } } } }`;
const LOT_FIELDS = `amount remaining expiresAt sourceTransaction { id }`;
const LOTS = `query($id: ID!) { account(id: $id) { lots(asset: "PTS") { ${LOT_FIELDS} } } }`;
const LOTS_WITH_CLOSED = `query($id: ID!) { account(id: $id) { lots(asset: "PTS", includeClosed: true) { ${LOT_FIELDS} } } }`;
const RUN_EXPIRY = `mutation($l: ID!, $asOf: DateTime) { runExpiry(ledgerId: $l, asOf: $asOf) { transactionsPosted } }`;
const ENTRIES = `query($id: ID!, $after: String) { account(id: $id) { entries(first: 3, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } } }`;
const LEDGER_TRANSACTIONS = `query($l: ID!, $after: String) { ledger(id: $l) { transactions(first: 4, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } } }`;
const INTEGRITY = `query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok problems transactionsChecked } }`;

/** Balances as stored, summed over shards, by "account asset": what the release wrote. */
async function storedBalances(pool: pg.Pool): Promise<Record<string, BalanceFigures>> {
  const { rows } = await pool.query<BalanceFigures & { key: string }>(`
    SELECT a.code || ' ' || s.code AS key,
           sum(b.debits_posted)::text AS "debitsPosted", sum(b.credits_posted)::text AS "creditsPosted",
           sum(b.debits_pending)::text AS "debitsPending", sum(b.credits_pending)::text AS "creditsPending",
           sum(b.version)::int AS version
      FROM balances b
      JOIN accounts a ON a.root_ledger_id = b.root_ledger_id AND a.id = b.account_id
      JOIN assets s ON s.root_ledger_id = b.root_ledger_id AND s.id = b.asset_id
     GROUP BY a.code, s.code`);
  return Object.fromEntries(rows.map(({ key, ...figures }) => [key, figures]));
}

/**
 * Every object of the public schema as Postgres itself prints it: columns, constraints, indexes, functions,
 * triggers and enum labels, plus the migrations recorded as applied.
 */
async function describeSchema(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ line: string }>(`
    SELECT concat_ws(' ', 'column', table_name, column_name, ordinal_position, data_type, udt_name, is_nullable, column_default) AS line
      FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL
    SELECT concat_ws(' ', 'constraint', conrelid::regclass, conname, pg_get_constraintdef(oid)) FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT concat_ws(' ', 'index', indexdef) FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT concat_ws(' ', 'function', pg_get_functiondef(oid)) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT concat_ws(' ', 'trigger', pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT concat_ws(' ', 'enum', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder))
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname
    UNION ALL
    SELECT concat_ws(' ', 'migration', migration_name, checksum, applied_steps_count, finished_at IS NOT NULL, rolled_back_at IS NULL) FROM "_prisma_migrations"
    ORDER BY 1`);
  return rows.map((row) => row.line);
}

/** Posted and available per asset code: the figures a customer sees. */
async function derived(
  t: TestServer,
  accountId: string,
): Promise<Record<string, { posted: string; available: string }>> {
  const data = ok(await t.gql(BALANCES, { id: accountId }));
  return Object.fromEntries(
    data.account.balances.map((balance: { asset: { code: string }; posted: string; available: string }) => [
      balance.asset.code,
      { posted: balance.posted, available: balance.available },
    ]),
  );
}

interface Page {
  edges: Array<{ node: { id: string } }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** Follows endCursor until the last page; a bound keeps a cursor that never ends from hanging the test. */
async function collectPages(
  fetchPage: (after: string | null) => Promise<Page>,
): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let after: string | null = null;
  for (let pages = 1; pages <= 100; pages += 1) {
    const page: Page = await fetchPage(after);
    ids.push(...page.edges.map((edge) => edge.node.id));
    if (!page.pageInfo.hasNextPage) return { ids, pages };
    after = page.pageInfo.endCursor;
  }
  throw new Error('more than 100 pages: the cursor does not advance');
}
