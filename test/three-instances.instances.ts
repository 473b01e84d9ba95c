import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { buildChaosWorld, gqlRequest, runChaos, verifyChaos, type ChaosTarget } from './support/chaos';
import { cloneTestDatabase } from './support/databases';
import { startServerProcess, type ServerProcess } from './support/process';
import { migrate } from '../src/platform/migrations';
import { createReplicaPair } from './support/replica-pair';
import { ADMIN_KEY, TOKEN_SECRET, WEBHOOK_SECRET_KEY } from './support/server';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';
import { connect, wsUrl, type TestClient } from './support/ws';

/**
 * `npm run test:instances`: three API server processes on one database, the chaos workload spread over
 * them at random, and what must hold across instances: the ledger's invariants and every acknowledgement
 * (verifyChaos); every posting, whichever instance took it, reaching a subscription held on instance C;
 * every webhook event delivered exactly once although all three run dispatchers and delivery workers; and
 * the scheduler's work (hold timeouts, lot expiry), which all three run every second, done once.
 *
 * How the scheduler avoids doing work twice: no leader and no advisory lock. A timed-out hold is voided
 * through the same settlement as voidPendingTransaction, whose row (hold_settlements, keyed by the hold) can
 * exist once; expiry locks each balance before it measures what lapsed, so a second instance finds nothing
 * left. The counts below prove it. CHAOS_OPERATIONS (default 600) sets the load.
 */

const OPERATIONS = Number(process.env.CHAOS_OPERATIONS ?? 600);
const HOLDS = 24;
const LOTS = 24;

let database: { url: string; drop(): Promise<void> };
let servers: ServerProcess[];
let receiver: WebhookReceiver;
let pool: pg.Pool;
const clients: TestClient[] = [];

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  database = await cloneTestDatabase();
  pool = new pg.Pool({ connectionString: database.url, max: 2 });
  const env = {
    DATABASE_URL: database.url,
    ADMIN_API_KEY: ADMIN_KEY,
    TOKEN_SECRET,
    WEBHOOK_SECRET_KEY,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    WEBHOOK_POLL_INTERVAL_MS: '100',
    EVENT_FANOUT: 'postgres',
    SCHEDULER_INTERVAL_SECONDS: '1',
    RATE_LIMIT_PER_SECOND: '0',
    DB_POOL_MAX: '10',
  };
  servers = await Promise.all([startServerProcess(env), startServerProcess(env), startServerProcess(env)]);
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  const codes = await Promise.all(servers?.map((server) => server.stop()) ?? []);
  expect(codes).toEqual([0, 0, 0]);
  await pool?.end();
  await receiver?.close();
  await database?.drop();
});

async function must(target: ChaosTarget, query: string, variables: Record<string, unknown>): Promise<any> {
  const result = await gqlRequest(target, query, variables);
  if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
  return result.data;
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return performance.now() - started;
}

it('keeps invariants, subscriptions, webhooks and the scheduler right with three instances', async () => {
  const [a, b, c] = servers.map((server): ChaosTarget => ({ url: server.url, secret: ADMIN_KEY }));
  const world = await buildChaosWorld(a!);
  const root = world.roots[0]!;

  // A webhook endpoint for the first root, registered through B; every instance dispatches and delivers.
  const endpoint = (
    await must(
      b!,
      `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id } } }`,
      { i: { ledgerId: root.ledgerId, url: receiver.url('/three'), description: 'three instances' } },
    )
  ).createWebhookEndpoint;
  receiver.trust('/three', endpoint.secret);

  // A subscription on C to every transaction of the first root, live before any posting.
  const subscriber = connect(wsUrl(servers[2]!.url), `Bearer ${ADMIN_KEY}`);
  clients.push(subscriber);
  const live = subscriber.subscribe<{ transactionPosted: { id: string } }>(
    `subscription($l: ID!) { transactionPosted(ledgerId: $l) { id } }`,
    { l: root.ledgerId },
  );
  const health = async () =>
    ((await (await fetch(servers[2]!.url.replace('/graphql', '/healthz'))).json()) as any).websocket.subscriptions;
  await until('the subscription on C is live', async () => (await health()) >= 1, 10_000);
  const seenOnC = new Set<string>();
  void (async () => {
    for (;;) {
      const result = await live.next().catch(() => null);
      if (result === null) return;
      if (result.data?.transactionPosted) seenOnC.add(result.data.transactionPosted.id);
    }
  })();

  // Scheduler work: holds that time out after 1 s (through A) and lots that lapse in 3 s on accounts of
  // their own (through C), so the chaos clients do not spend them first.
  const holdIds: string[] = [];
  for (let i = 0; i < HOLDS; i += 1) {
    const data = await must(a!, `mutation($i: HoldInput!) { hold(input: $i) { transaction { id } } }`, {
      i: {
        accountId: root.accounts[i % root.accounts.length],
        asset: 'USD',
        amount: '1',
        idempotencyKey: `timeout-${i}`,
        timeoutSeconds: 1,
      },
    });
    holdIds.push(data.hold.transaction.id);
  }
  const lotAccounts: string[] = [];
  for (let i = 0; i < LOTS / 2; i += 1) {
    const account = await must(c!, `mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }`, {
      i: { ledgerId: root.ledgerId, code: `lapsing-${i}` },
    });
    lotAccounts.push(account.createAccount.id);
    for (const part of [0, 1]) {
      await must(c!, `mutation($i: IssueInput!) { issue(input: $i) { transaction { id } } }`, {
        i: {
          accountId: account.createAccount.id,
          asset: 'PTS',
          amount: '7',
          expiresAt: new Date(Date.now() + 3_000).toISOString(),
          idempotencyKey: `lapsing-${i}-${part}`,
        },
      });
    }
  }

  const started = performance.now();
  const report = await runChaos([a!, b!, c!], world, { concurrency: 48, operations: OPERATIONS, db: pool });
  const chaosMs = performance.now() - started;
  const verdict = await verifyChaos(pool, a!, world, report.attempts);
  expect(verdict.problems).toEqual([]);
  expect(report.attempts.filter((attempt) => attempt.outcome === 'unknown')).toEqual([]);
  const byInstance = [a!, b!, c!].map(
    (target) => report.attempts.filter((attempt) => attempt.via === target.url).length,
  );
  for (const count of byInstance) expect(count).toBeGreaterThan(0);

  // The scheduler: every hold voided by a timeout exactly once, every lot expired exactly once.
  const holdsMs = await until(
    'every hold timed out',
    async () => {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM hold_settlements WHERE pending_transaction_id = ANY($1::uuid[])`,
        [holdIds],
      );
      return rows[0].n === HOLDS;
    },
    30_000,
  );
  const { rows: holds } = await pool.query(
    `SELECT t.status, count(s.*)::int AS settlements FROM transactions t
       LEFT JOIN hold_settlements s ON s.root_ledger_id = t.root_ledger_id AND s.pending_transaction_id = t.id
      WHERE t.id = ANY($1::uuid[]) GROUP BY t.id, t.status`,
    [holdIds],
  );
  expect(holds).toHaveLength(HOLDS);
  for (const hold of holds) expect(hold).toEqual({ status: 'VOIDED', settlements: 1 });

  const lotsMs = await until(
    'every lot expired',
    async () => {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM lots WHERE account_id = ANY($1::uuid[]) AND remaining > 0`,
        [lotAccounts],
      );
      return rows[0].n === 0;
    },
    30_000,
  );
  const { rows: lots } = await pool.query(
    `SELECT l.id, l.amount::int AS amount, count(c.*)::int AS expiries, coalesce(sum(c.amount), 0)::int AS expired
       FROM lots l
       LEFT JOIN lot_consumptions c ON c.root_ledger_id = l.root_ledger_id AND c.lot_id = l.id
       LEFT JOIN transactions t ON t.root_ledger_id = c.root_ledger_id AND t.id = c.transaction_id
      WHERE l.account_id = ANY($1::uuid[]) AND (c.id IS NULL OR t.kind = 'EXPIRE')
      GROUP BY l.id, l.amount`,
    [lotAccounts],
  );
  expect(lots).toHaveLength(LOTS);
  for (const lot of lots) expect({ expiries: lot.expiries, expired: lot.expired }).toEqual({ expiries: 1, expired: 7 });
  const { rows: expiryTransactions } = await pool.query(
    `SELECT count(DISTINCT t.id)::int AS n FROM transactions t JOIN entries e ON e.root_ledger_id = t.root_ledger_id
       AND e.transaction_id = t.id WHERE t.kind = 'EXPIRE' AND e.account_id = ANY($1::uuid[])`,
    [lotAccounts],
  );
  const { rows: balances } = await pool.query(
    `SELECT count(*)::int AS n FROM balances WHERE account_id = ANY($1::uuid[]) AND credits_posted - debits_posted <> 0`,
    [lotAccounts],
  );
  expect(balances[0].n).toBe(0);

  // Subscriptions across instances: every acknowledged posting of the first root reached C, including
  // those taken by A and B.
  const acknowledged = report.attempts.filter(
    (attempt) =>
      attempt.rootLedgerId === root.ledgerId &&
      attempt.kind === 'posting' &&
      attempt.outcome === 'acknowledged' &&
      attempt.transactionId !== undefined,
  );
  await until(
    'every posting reached the subscription on C',
    async () => acknowledged.every((attempt) => seenOnC.has(attempt.transactionId!)),
    20_000,
  ).catch(() => undefined);
  const missing = acknowledged.filter((attempt) => !seenOnC.has(attempt.transactionId!));
  expect(missing.map((attempt) => `${attempt.via} ${attempt.transactionId}`)).toEqual([]);
  const viaOthers = acknowledged.filter((attempt) => attempt.via !== c!.url).length;
  expect(viaOthers).toBeGreaterThan(0);

  // Webhooks: every delivery row succeeded, and each event arrived (answered 2xx) exactly once.
  const webhooksMs = await until(
    'every webhook delivered',
    async () => {
      const { rows } = await pool.query(
        `SELECT count(*) FILTER (WHERE status <> 'SUCCEEDED')::int AS open, count(*)::int AS n
           FROM webhook_deliveries WHERE endpoint_id = $1`,
        [endpoint.endpoint.id],
      );
      return rows[0].n > 0 && rows[0].open === 0;
    },
    60_000,
  );
  const { rows: deliveries } = await pool.query(
    `SELECT count(*)::int AS n, count(DISTINCT (event_xid, event_id))::int AS events
       FROM webhook_deliveries WHERE endpoint_id = $1`,
    [endpoint.endpoint.id],
  );
  expect(deliveries[0].n).toBe(deliveries[0].events);
  const answered = receiver
    .requestsTo('/three')
    .filter((request) => typeof request.answer === 'number' && request.answer >= 200 && request.answer < 300);
  const perId = new Map<string, number>();
  for (const request of answered) perId.set(request.id!, (perId.get(request.id!) ?? 0) + 1);
  expect([...perId.values()].filter((count) => count !== 1)).toEqual([]);
  expect(perId.size).toBe(deliveries[0].n);
  for (const request of answered) expect(request.verifiedWith).toEqual([endpoint.secret]);

  console.log(
    `three instances: ${report.operations} operations (${report.attempts.length} attempts: ${byInstance.join(' / ')} ` +
      `via A / B / C) in ${(chaosMs / 1000).toFixed(1)} s; ${verdict.checks} checks; ` +
      `${acknowledged.length} postings of root 1 seen on C's subscription (${viaOthers} taken by A or B); ` +
      `${perId.size} webhook events delivered once each (all delivered ${(webhooksMs / 1000).toFixed(1)} s after the checks); ` +
      `${HOLDS} hold timeouts settled once each (${(holdsMs / 1000).toFixed(1)} s after), ` +
      `${LOTS} lots expired once each in ${expiryTransactions[0].n} EXPIRE transactions (${(lotsMs / 1000).toFixed(1)} s after)`,
  );
}, 600_000);

it("holds a credential's list reads back on every instance until the replica has its posting (DATABASE_READ_URL, REDIS_URL)", async () => {
  const pair = await createReplicaPair('ledger');
  const primary = new pg.Pool({ connectionString: pair.primaryUrl('ledger'), max: 1 });
  const instances: ServerProcess[] = [];
  try {
    await migrate(primary);
    const env = {
      DATABASE_URL: pair.primaryUrl('ledger'),
      DATABASE_READ_URL: pair.replicaUrl('ledger'),
      DATABASE_READ_MAX_WAIT_MS: '50',
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: `rl-instances-${process.pid}-${Date.now()}:`,
      ADMIN_API_KEY: ADMIN_KEY,
      RATE_LIMIT_PER_SECOND: '0',
      SCHEDULER_INTERVAL_SECONDS: '0',
      LOG_LEVEL: 'info',
    };
    instances.push(...(await Promise.all([startServerProcess(env), startServerProcess(env), startServerProcess(env)])));
    for (const instance of instances) expect(instance.output()).toContain('Stale-OK reads: on the replicas');
    const targets = instances.map((instance): ChaosTarget => ({ url: instance.url, secret: ADMIN_KEY }));
    const world = await buildChaosWorld(targets[0]!, 2);
    const root = world.roots[0]!;
    const list = async (target: ChaosTarget) =>
      (
        await must(target, `query($l: ID!) { transactions(ledgerId: $l, first: 10) { edges { node { id } } } }`, {
          l: root.ledgerId,
        })
      ).transactions.edges.map((edge: any) => edge.node.id as string);
    // Let the replica catch up, then stop its replay: from here on it lags behind every posting.
    await until(
      'the replica caught up',
      async () => {
        const { replayed, primary: at } = await pair.positions();
        return replayed === at;
      },
      10_000,
    );
    await pair.pauseReplay();
    for (let i = 0; i < 9; i += 1) {
      const id = (
        await must(targets[i % 3]!, `mutation($i: IssueInput!) { issue(input: $i) { transaction { id } } }`, {
          i: { accountId: root.accounts[0], asset: 'USD', amount: '1', idempotencyKey: `lag-${i}` },
        })
      ).issue.transaction.id;
      // Posted through one instance, listed through the next: never without the posting.
      expect(await list(targets[(i + 1) % 3]!)).toContain(id);
    }
    const lagged = await Promise.all(
      instances.map(async (instance) => {
        const text = await (await fetch(instance.url.replace('/graphql', '/metrics'))).text();
        return Number(/reward_ledger_stale_reads_total\{served_by="primary_lagged"\} (\d+)/.exec(text)?.[1] ?? 0);
      }),
    );
    for (const count of lagged) expect(count).toBeGreaterThanOrEqual(3);
    console.log(`replica paused: list reads held back to the primary per instance: ${lagged.join(' / ')}`);
    await pair.resumeReplay();
  } finally {
    const codes = await Promise.all(instances.map((instance) => instance.stop()));
    expect(codes).toEqual(instances.map(() => 0));
    await primary.end();
    await pair.destroy();
  }
}, 120_000);
