import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { withClient } from '../lib/db.js';
import { findPgbench, pgbenchRun } from '../lib/pgbench.js';
import { cpuFigures, PGBENCH_CLIENTS } from '../scenarios/references.js';
import { ratioRow, type Scenario } from '../scenarios/scenario.js';
import { setFeedTriggers } from './event-feed.js';

/**
 * The database's share of a posting, measured with pgbench itself so no application CPU is involved:
 * P1 runs a transfer's SQL as the engine sent it before apply_posting (BEGIN, read and share-lock the
 * accounts, claim the key and create missing balance rows, lock and update the balances under their
 * floor, insert the entries and the audit row, COMMIT: six round trips), kept as the baseline; P2 calls
 * the engine's own write_postings (migration 20261208010000) with a transfer's plan, as the server does:
 * one statement, one round trip, autocommit. P3 is P2 with a NOTIFY of an event-sized payload in the
 * same statement, hence the same transaction: what the server would pay if it notified other instances
 * inside the posting rather than after its commit (Postgres serializes the commits of all transactions
 * that notified, under one lock). All write real, balanced postings into the bench ledger, so the
 * invariants check covers them. Same client count and protocol family as the TPC-B reference.
 */
const PROBE_SECONDS = 5;
/** Nobody listens on this channel; the cost measured is the commit's, not a listener's. */
const NOTIFY_INSIDE_CHANNEL = 'bench_notify_inside';
/** About one transfer's event in the server's wire format. */
const NOTIFY_INSIDE_PAYLOAD_BYTES = 550;

/** Helpers created in the bench's own ledger database (never in a migration). */
function helpersSql(seedMs: number): string {
  const ms = seedMs.toString(16).padStart(12, '0');
  return `
CREATE OR REPLACE FUNCTION bench_customer(n int) RETURNS uuid LANGUAGE sql IMMUTABLE AS
  $$ SELECT ('${ms}7' || lpad(to_hex(n % 4096), 3, '0') || '8' || lpad(to_hex(n / 4096), 15, '0'))::uuid $$;
CREATE OR REPLACE FUNCTION bench_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS
  $$ SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7' || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid $$;`;
}

function pickAccounts(customers: number): string {
  return `\\set a random(0, ${customers - 1})
\\set b random(0, ${customers - 2})
\\set b CASE WHEN :b >= :a THEN :b + 1 ELSE :b END
\\set amount random(1, 100)
`;
}

const customerId = (v: string) => `bench_customer((:${v})::int)`;

/** Both scripts lock the two balance rows in one order (by customer number) in every transaction. */
const LOCK_ORDER = `\\set lo CASE WHEN :a < :b THEN :a ELSE :b END
\\set hi CASE WHEN :a < :b THEN :b ELSE :a END
\\set lodebit CASE WHEN :a < :b THEN :amount ELSE 0 END
\\set locredit CASE WHEN :a < :b THEN 0 ELSE :amount END
\\set hidebit :amount - :lodebit
\\set hicredit :amount - :locredit
`;

/** The engine's six round trips before apply_posting. */
function roundTripsScript(root: string, asset: string, customers: number): string {
  const id = customerId;
  return `${pickAccounts(customers)}${LOCK_ORDER}BEGIN;
WITH locked AS MATERIALIZED (SELECT a.id, a.status FROM accounts a WHERE a.id = ANY(ARRAY[${id('a')}, ${id('b')}]) AND NOT a.is_system ORDER BY a.id FOR KEY SHARE) SELECT a.id, a.root_ledger_id, a.ledger_id, a.code, COALESCE(locked.status, a.status)::text AS status, a.normal_balance::text, a.allow_overdraft, a.overdraft_limit::text, a.is_system, l.path::text[] AS path FROM accounts a JOIN ledgers l ON l.root_ledger_id = a.root_ledger_id AND l.id = a.ledger_id LEFT JOIN locked ON locked.id = a.id WHERE a.id = ANY(ARRAY[${id('a')}, ${id('b')}]);
WITH claim AS (INSERT INTO transactions (id, root_ledger_id, ledger_id, kind, status, idempotency_key, request_hash, description, metadata, effective_at, posted_at, reversal_of_id) VALUES (bench_uuid7(), '${root}', '${root}', 'TRANSFER', 'POSTED', gen_random_uuid()::text, 'bench-probe', NULL, '{}', now(), now(), NULL) ON CONFLICT DO NOTHING RETURNING id), zero_rows AS (INSERT INTO balances (root_ledger_id, account_id, asset_id, shard, ledger_id, normal_balance, available_floor) SELECT '${root}', d.account_id, '${asset}', 0, '${root}', 'CREDIT', 0 FROM unnest(ARRAY[${id('lo')}, ${id('hi')}]) WITH ORDINALITY AS d(account_id, ord) WHERE EXISTS (SELECT 1 FROM claim) ORDER BY d.ord ON CONFLICT DO NOTHING) SELECT id AS txid FROM claim
\\gset
WITH d AS MATERIALIZED (SELECT * FROM unnest(ARRAY[${id('lo')}, ${id('hi')}], ARRAY[(:lodebit)::int8, (:hidebit)::int8], ARRAY[(:locredit)::int8, (:hicredit)::int8]) WITH ORDINALITY AS d(account_id, debits_posted, credits_posted, ord)), locked AS MATERIALIZED (SELECT b.account_id FROM d JOIN balances b ON b.root_ledger_id = '${root}' AND b.account_id = d.account_id AND b.asset_id = '${asset}' AND b.shard = 0 ORDER BY d.ord FOR UPDATE OF b) UPDATE balances b SET debits_posted = b.debits_posted + d.debits_posted, credits_posted = b.credits_posted + d.credits_posted, version = b.version + 1, updated_at = now() FROM d JOIN locked l ON l.account_id = d.account_id WHERE b.root_ledger_id = '${root}' AND b.account_id = d.account_id AND b.asset_id = '${asset}' AND b.shard = 0 AND (b.available_floor IS NULL OR (b.credits_posted + d.credits_posted) - (b.debits_posted + d.debits_posted) - b.debits_pending >= b.available_floor) RETURNING b.account_id, b.debits_posted, b.credits_posted, b.version, b.updated_at;
WITH journal AS (INSERT INTO entries (id, root_ledger_id, transaction_id, account_id, ledger_id, asset_id, direction, amount, effective_at) SELECT e.id, '${root}', (:txid)::uuid, e.account_id, '${root}', '${asset}', e.direction::"Direction", (:amount)::int8, now() FROM (VALUES (bench_uuid7(), ${id('a')}, 'DEBIT'), (bench_uuid7(), ${id('b')}, 'CREDIT')) AS e(id, account_id, direction)) INSERT INTO audit_events (id, root_ledger_id, actor_type, actor_id, operation, target_ids, request_id, client_address) VALUES (bench_uuid7(), '${root}', 'api_key', 'bench-probe', 'transfer', ARRAY[(:txid)::uuid], 'bench-probe', NULL);
COMMIT;
`;
}

/**
 * A transfer as the engine writes it now: one write_postings call with the transfer as its one item (both
 * balance rows, each lowered or raised once, in lock order); with `notifyInside`, a NOTIFY in the same statement.
 */
function functionScript(root: string, asset: string, customers: number, notifyInside = false): string {
  const id = customerId;
  const pair = (value: string, type: string) => `ARRAY[${value}, ${value}]::${type}[]`;
  const one = (value: string, type: string) => `ARRAY[${value}]::${type}[]`;
  const notify = notifyInside
    ? `, pg_notify('${NOTIFY_INSIDE_CHANNEL}', repeat('x', ${NOTIFY_INSIDE_PAYLOAD_BYTES}))`
    : '';
  const loChange = '(:locredit)::int8 - (:lodebit)::int8';
  const hiChange = '(:hicredit)::int8 - (:hidebit)::int8';
  const lowest = (change: string) => `CASE WHEN ${change} < 0 THEN ${change} END`;
  return `${pickAccounts(customers)}${LOCK_ORDER}WITH ids AS (SELECT bench_uuid7() AS tx) SELECT count(*)${notify} FROM ids, write_postings('${root}', ARRAY[${id('lo')}, ${id('hi')}], true, false, ARRAY[ids.tx], ${one(`'${root}'`, 'uuid')}, ${one("'TRANSFER'", 'text')}, ${one("'POSTED'", 'text')}, ARRAY[gen_random_uuid()::text], ${one("'bench-probe'", 'text')}, ${one('NULL', 'text')}, ${one("'{}'", 'jsonb')}, ARRAY[now()], ARRAY[now()], ${one('NULL', 'uuid')}, ${one('false', 'boolean')}, ${one('NULL', 'timestamptz')}, ${one('NULL', 'timestamptz')}, ARRAY[bench_uuid7()], ${one('NULL', 'uuid')}, 'api_key', 'bench-probe', 'transfer', 'bench-probe', NULL, ARRAY[${id('lo')}, ${id('hi')}], ${pair(`'${asset}'`, 'uuid')}, ${pair('0', 'int2')}, ${pair(`'${root}'`, 'uuid')}, ${pair("'CREDIT'", 'text')}, ${pair('0', 'int8')}, ARRAY[(:lodebit)::int8, (:hidebit)::int8], ARRAY[(:locredit)::int8, (:hicredit)::int8], ${pair('0', 'int8')}, ${pair('0', 'int8')}, ${pair('1', 'int4')}, ARRAY[${lowest(loChange)}, ${lowest(hiChange)}]::int8[], ${pair('1', 'int4')}, ARRAY[1, 2]::int4[], ARRAY[${loChange}, ${hiChange}], ARRAY[${loChange}, ${hiChange}], ${pair('1', 'int4')}, ARRAY[bench_uuid7(), bench_uuid7()], ARRAY[${id('a')}, ${id('b')}], ${pair(`'${root}'`, 'uuid')}, ${pair(`'${asset}'`, 'uuid')}, ARRAY['DEBIT', 'CREDIT'], ARRAY[(:amount)::int8, (:amount)::int8]) w WHERE w.o_outcome = 'APPLIED';
`;
}

function probe(
  id: string,
  title: string,
  script: (root: string, asset: string, customers: number) => string,
  seconds = PROBE_SECONDS,
  options: { withoutFeed?: boolean } = {},
): Scenario {
  return {
    id,
    title,
    phase: 'round',
    async measure(ctx: BenchContext) {
      const pgbench = findPgbench();
      if (pgbench === null) throw new Error('pgbench not found');
      const { fixture } = ctx;
      await withClient(ctx.databaseUrl, (client) => client.query(helpersSql(fixture.seedAt)));
      const dir = await mkdtemp(path.join(os.tmpdir(), 'rl-bench-sql-'));
      try {
        const file = path.join(dir, `${id}.sql`);
        await writeFile(file, script(fixture.rootLedgerId, fixture.assetId, fixture.customerIds.length));
        if (options.withoutFeed) await setFeedTriggers(ctx, false);
        const run = await pgbenchRun(pgbench, ctx.databaseUrl, {
          clients: PGBENCH_CLIENTS,
          threads: Math.min(PGBENCH_CLIENTS, os.cpus().length),
          seconds,
          protocol: 'prepared',
          scriptFile: file,
          postmasterPid: ctx.postmasterPid,
        });
        ctx.log(`${id}: ${run.tps.toFixed(0)} postings/s`);
        return {
          figures: { tps: run.tps, latencyAverageMs: run.latencyAverageMs, failed: run.failed, ...cpuFigures(run) },
        };
      } finally {
        if (options.withoutFeed) await setFeedTriggers(ctx, true);
        await rm(dir, { recursive: true, force: true });
      }
    },
    targets: () => [],
  };
}

export const p1 = probe(
  'P1',
  `probe: a transfer's SQL as the engine sent it before apply_posting (6 round trips), driven by pgbench, ${PGBENCH_CLIENTS} clients, prepared`,
  roundTripsScript,
);
export const p2 = probe(
  'P2',
  `probe: a transfer as the engine writes it now (one write_postings call, 1 round trip), driven by pgbench, ${PGBENCH_CLIENTS} clients, prepared`,
  functionScript,
);
// Shorter than P1 and P2: only its ratio to P2 is read, and it keeps the bench's added time small.
export const p3 = probe(
  'P3',
  `probe: P2 with a NOTIFY (${NOTIFY_INSIDE_PAYLOAD_BYTES} bytes) inside the posting's transaction, driven by pgbench, ${PGBENCH_CLIENTS} clients, prepared`,
  (root, asset, customers) => functionScript(root, asset, customers, true),
  3,
);

// P2 again with the event feed's trigger disabled: the database's own cost of the feed row, with no Node in
// the measurement (N1 has the whole request's). Measured right after P2, so both see the same machine.
export const p2n = {
  ...probe(
    'P2N',
    `probe: P2 with the event feed trigger disabled, driven by pgbench, ${PGBENCH_CLIENTS} clients, prepared`,
    functionScript,
    PROBE_SECONDS,
    { withoutFeed: true },
  ),
  targets: (all) => [
    ratioRow({
      scenario: 'P2',
      figure: 'postings/s with the event feed (database alone)',
      value: all.P2?.tps,
      unit: '/s',
      reference: 'P2N: the same without it',
      referenceValue: all.P2N?.tps,
      atLeast: 0.9,
    }),
  ],
} satisfies Scenario;
