import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { migrate } from '../src/platform/migrations';
import { formatLsn, parseLsn, REPLICA_RETRY_MS, sortableLsn } from '../src/platform/read-replica';
import { balanceOf, createAccount, createProgram, issue } from './support/builders';
import { createReplicaPair, replicaToolsMissing, type ReplicaPair } from './support/replica-pair';
import { ok, startTestServer, type TestServer } from './support/server';
import { connect, wsUrl } from './support/ws';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * DATABASE_READ_URL against a real streaming hot standby, built here with pg_basebackup from a throwaway
 * primary. Replay is paused (pg_wal_replay_pause) to make the standby lag as far as the test needs; which
 * database answered is read from the replica set's counters and, for the stale credential, from the answer
 * itself (the paused standby does not have the posting).
 */

const missing = replicaToolsMissing();
if (missing !== null) throw new Error(`the read-replica test needs PostgreSQL's tools: ${missing}`);

const DATABASE = 'ledger';
const LIST = `query($l: ID!) { transactions(ledgerId: $l, first: 50) { edges { node { id } } } }`;
const INTEGRITY = `query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok problems transactionsChecked } }`;
const AUDIT = `query($l: ID!) { auditEvents(ledgerId: $l, first: 5) { edges { node { operation } } } }`;

let pair: ReplicaPair;
let t: TestServer;
const replicaLog: string[] = [];
let ledgerId: string;
let accountId: string;
let otherKey: string;

const counts = () => ({ ...t.db.replicas!.counts });
const listIds = async (secret?: string): Promise<string[]> =>
  ok(await t.gql(LIST, { l: ledgerId }, secret)).transactions.edges.map((edge: any) => edge.node.id);

async function caughtUp(): Promise<void> {
  for (let i = 0; i < 500; i += 1) {
    const { replayed, primary } = await pair.positions();
    if (parseLsn(replayed) >= parseLsn(primary)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the replica did not catch up within 5 s');
}

beforeAll(async () => {
  const started = performance.now();
  pair = await createReplicaPair(DATABASE);
  console.log(`primary and streaming replica built in ${(performance.now() - started).toFixed(0)} ms`);
  const pool = new pg.Pool({ connectionString: pair.primaryUrl(DATABASE) });
  await migrate(pool);
  await pool.end();
  t = await startTestServer({
    database: { url: pair.primaryUrl(DATABASE), drop: async () => undefined },
    readReplica: { url: pair.replicaUrl(DATABASE), maxWaitMs: 100, logLines: replicaLog },
  });
  ({ ledgerId } = await createProgram(t));
  accountId = (await createAccount(t, ledgerId)).id;
  otherKey = ok(
    await t.gql(`mutation($l: ID!) { createApiKey(input: { name: "reader", role: ADMIN, ledgerId: $l }) { secret } }`, {
      l: ledgerId,
    }),
  ).createApiKey.secret;
  await issue(t, accountId, '1');
  await caughtUp();
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await pair?.destroy();
});

it('reads and orders LSNs as Postgres prints them', () => {
  expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
  expect(formatLsn(parseLsn('16/B374D848'))).toBe('16/B374D848');
  expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
  // Compared as strings in Redis: the padded form orders as the number does.
  expect(sortableLsn(parseLsn('1/0')) > sortableLsn(parseLsn('0/FFFFFFFF'))).toBe(true);
  expect(() => parseLsn('16-B374')).toThrow('not an LSN');
});

it('never answers the writer from behind its own posting, while another credential reads the lagging replica', async () => {
  // A credential that has not written since reads the replica.
  const before = counts();
  const seen = await listIds(otherKey);
  expect(counts().replica).toBe(before.replica + 1);

  await pair.pauseReplay();
  const written: string[] = [];
  let posted = 1;
  const waits: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    written.push(await issue(t, accountId, '2'));
    posted += 2;
    // Balances are always read on the primary: the posting is in them.
    expect((await balanceOf(t, accountId)).posted).toBe(String(posted));
    // The writer's list waits for the paused replica up to DATABASE_READ_MAX_WAIT_MS, then reads the primary.
    const lagged = counts().lagged;
    const started = performance.now();
    const ids = await listIds();
    waits.push(performance.now() - started);
    expect(ids).toEqual(expect.arrayContaining(written));
    expect(counts().lagged).toBe(lagged + 1);
  }
  // The other credential's list is served by the paused replica: none of the new postings are there.
  const replicaReads = counts().replica;
  const stale = await listIds(otherKey);
  expect(counts().replica).toBe(replicaReads + 1);
  expect(stale).toEqual(seen);
  for (const id of written) expect(stale).not.toContain(id);
  const { replayed, primary } = await pair.positions();
  console.log(
    `replica paused at ${replayed}, primary at ${primary}; the writer's list reads fell back to the primary after ` +
      `${waits.map((ms) => ms.toFixed(0)).join(', ')} ms (wait limit 100 ms)`,
  );

  await pair.resumeReplay();
  await caughtUp();
  // Replayed: the writer's reads go to the replica again, and see everything.
  const resumed = counts().replica;
  expect(await listIds()).toEqual(expect.arrayContaining(written));
  expect(await listIds(otherKey)).toEqual(expect.arrayContaining(written));
  expect(counts().replica).toBe(resumed + 2);
  const metrics = await (await fetch(t.url.replace('/graphql', '/metrics'))).text();
  expect(metrics).toContain(`reward_ledger_stale_reads_total{served_by="replica"} ${counts().replica}`);
  expect(metrics).toContain(`reward_ledger_stale_reads_total{served_by="primary_lagged"} ${counts().lagged}`);
});

it('reads the writer from the replica once it has replayed the posting, waiting for it when it must', async () => {
  const { waited, lagged } = counts();
  const onReplica = counts().replica;
  const latencies: number[] = [];
  for (let i = 0; i < 20; i += 1) {
    const id = await issue(t, accountId, '1');
    const started = performance.now();
    expect(await listIds()).toContain(id);
    latencies.push(performance.now() - started);
  }
  const after = counts();
  // Each read went to the replica or (past the wait) to the primary; either way it saw its posting.
  expect(after.replica - onReplica + (after.lagged - lagged)).toBe(20);
  console.log(
    `20 list reads right after the writer's own posting: ${after.replica - onReplica} on the replica ` +
      `(${after.waited - waited} of them after waiting for replay), ${20 - (after.replica - onReplica)} on the primary; ` +
      `latency median ${median(latencies).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`,
  );
});

it('runs the integrity report and the audit trail (Prisma) on the replica', async () => {
  await caughtUp();
  const before = counts().replica;
  const report = ok(await t.gql(INTEGRITY, { l: ledgerId }, otherKey)).ledgerIntegrity;
  expect(report).toMatchObject({ ok: true, problems: [] });
  expect(report.transactionsChecked).toBeGreaterThan(5);
  const audit = ok(await t.gql(AUDIT, { l: ledgerId }, otherKey)).auditEvents.edges;
  expect(audit.length).toBeGreaterThan(0);
  expect(counts().replica).toBe(before + 2);
  // The replica's own sessions carry the read pool's application_name.
  const client = new pg.Client({ connectionString: pair.replicaUrl(DATABASE) });
  await client.connect();
  const { rows } = await client.query(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'reward-ledger-read'",
  );
  await client.end();
  expect(rows[0].n).toBeGreaterThan(0);
});

it('lists reconciliation runs and records on the replica, and a run’s own exceptions on the primary', async () => {
  const source = ok(
    await t.gql(
      `mutation($l: ID!) { createExternalSource(input: { ledgerId: $l, code: "pos", name: "POS" }) { id } }`,
      { l: ledgerId },
    ),
  ).createExternalSource.id;
  await t.gql(
    `mutation($s: ID!) { createMatchRule(input: { sourceId: $s, priority: 1, referenceField: "idempotencyKey" }) { id } }`,
    { s: source },
  );
  await t.gql(`mutation($i: ImportExternalRecordsInput!) { importExternalRecords(input: $i) { inserted } }`, {
    i: {
      sourceId: source,
      idempotencyKey: 'replica-import',
      records: [
        { externalId: 'x1', asset: 'PTS', amount: '3', direction: 'CREDIT', occurredAt: new Date().toISOString() },
      ],
    },
  });
  const run = ok(
    await t.gql(`mutation($i: RunReconciliationInput!) { runReconciliation(input: $i) { id status } }`, {
      i: {
        sourceId: source,
        mode: 'DRY_RUN',
        from: new Date(Date.now() - 60_000).toISOString(),
        to: new Date(Date.now() + 60_000).toISOString(),
        idempotencyKey: 'replica-run',
      },
    }),
  ).runReconciliation;
  expect(run.status).toBe('COMPLETED');
  await caughtUp();
  const before = counts();
  const lists = ok(
    await t.gql(
      `query($s: ID!) { reconciliationRuns(sourceId: $s) { edges { node { id } } }
                        externalRecords(sourceId: $s) { edges { node { externalId } } } }`,
      { s: source },
      otherKey,
    ),
  );
  expect(lists.reconciliationRuns.edges).toEqual([{ node: { id: run.id } }]);
  expect(lists.externalRecords.edges).toEqual([{ node: { externalId: 'x1' } }]);
  expect(counts().replica).toBe(before.replica + 2);
  const exceptions = ok(
    await t.gql(
      `query($id: ID!) { reconciliationRun(id: $id) { exceptions { edges { node { kind } } } } }`,
      { id: run.id },
      otherKey,
    ),
  ).reconciliationRun.exceptions.edges;
  expect(exceptions).toContainEqual({ node: { kind: 'MISSING_IN_LEDGER' } });
  expect(counts().replica).toBe(before.replica + 2);
});

it('reads the primary, without an error, while the replica is down, and logs it once', async () => {
  await pair.stopReplica();
  try {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push(await issue(t, accountId, '1'));
      expect(await listIds(otherKey)).toEqual(expect.arrayContaining(ids));
      expect(await listIds()).toEqual(expect.arrayContaining(ids));
      expect(ok(await t.gql(INTEGRITY, { l: ledgerId }, otherKey)).ledgerIntegrity.ok).toBe(true);
    }
    expect(replicaLog.filter((line) => line.startsWith('read replica unreachable'))).toHaveLength(1);
  } finally {
    await pair.startReplica();
  }
  // Back after REPLICA_RETRY_MS: reads return to it, and that is logged too.
  const before = counts().replica;
  const deadline = Date.now() + REPLICA_RETRY_MS + 20_000;
  while (counts().replica === before && Date.now() < deadline) {
    await listIds(otherKey);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(counts().replica).toBeGreaterThan(before);
}, 60_000);

it('honours a write served by another instance when the marks are shared in Redis, and not without', async () => {
  const prefix = `rl-test-${process.pid}-${Date.now()}:`;
  const instance = (redis: boolean) =>
    startTestServer({
      database: { url: pair.primaryUrl(DATABASE), drop: async () => undefined },
      readReplica: { url: pair.replicaUrl(DATABASE), maxWaitMs: 100 },
      redis: redis ? { url: REDIS_URL, keyPrefix: prefix } : undefined,
    });
  const shared = await Promise.all([instance(true), instance(true)]);
  const alone = await instance(false);
  try {
    await caughtUp();
    await pair.pauseReplay();
    const [first, second] = shared;
    const id = await issue(first!, accountId, '1');
    const list = async (server: TestServer) =>
      ok(await server.gql(LIST, { l: ledgerId })).transactions.edges.map((edge: any) => edge.node.id);
    // The second instance learns the writer's mark from Redis: it waits, then reads the primary.
    const lagged = second!.db.replicas!.counts.lagged;
    expect(await list(second!)).toContain(id);
    expect(second!.db.replicas!.counts.lagged).toBe(lagged + 1);
    // An instance without the shared marks knows nothing of the write: the paused replica answers.
    const replicaReads = alone.db.replicas!.counts.replica;
    expect(await list(alone)).not.toContain(id);
    expect(alone.db.replicas!.counts.replica).toBe(replicaReads + 1);
  } finally {
    await pair.resumeReplay();
    await Promise.all([...shared, alone].map((server) => server.stop()));
  }
});

it('marks a mutation sent over the WebSocket as a write too', async () => {
  await caughtUp();
  await pair.pauseReplay();
  const socket = connect(wsUrl(t), `Bearer ${otherKey}`);
  try {
    const result = await socket
      .subscribe(`mutation($i: IssueInput!) { issue(input: $i) { transaction { id } } }`, {
        i: { accountId, asset: 'PTS', amount: '1', idempotencyKey: `ws-${Date.now()}` },
      })
      .next();
    const id = (result.data as any).issue.transaction.id;
    const lagged = counts().lagged;
    expect(await listIds(otherKey)).toContain(id);
    expect(counts().lagged).toBe(lagged + 1);
  } finally {
    await socket.dispose();
    await pair.resumeReplay();
  }
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
