import pg from 'pg';
import { ensureDatabase } from '../src/platform/embedded-postgres';
import { buildChaosWorld, gqlRequest, runChaos, verifyChaos, type Attempt } from './support/chaos';
import { cloneTestDatabase } from './support/databases';
import { startServerProcess } from './support/process';
import { ADMIN_KEY } from './support/server';
import { createThrowawayCluster } from './support/throwaway-cluster';
import { connect } from './support/ws';

/**
 * Crash safety, with the real server as a separate process: killed outright in the middle of load,
 * its database stopped and restarted under load, and asked to stop politely while work is in flight.
 */
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 0);
// How long the load runs before the kill: longer in the hand-run configuration (`npm run test:chaos`).
const KILL_AFTER_MS = SECONDS > 0 ? 60_000 : 3_000;
const serverEnv = (databaseUrl: string): NodeJS.ProcessEnv => ({
  ...process.env,
  DATABASE_URL: databaseUrl,
  ADMIN_API_KEY: ADMIN_KEY,
  NODE_ENV: 'test',
  SCHEDULER_INTERVAL_SECONDS: '0',
  DB_POOL_MAX: '20',
});

it(
  'loses no acknowledged posting and half-writes nothing when the server is killed mid-load',
  async () => {
    const database = await cloneTestDatabase();
    const db = new pg.Pool({ connectionString: database.url, max: 4 });
    try {
      let server = await startServerProcess(serverEnv(database.url));
      const target = { url: server.url, secret: ADMIN_KEY };
      const world = await buildChaosWorld(target, 8);

      let killed = false;
      const load = runChaos(target, world, {
        concurrency: 32,
        operations: Number.MAX_SAFE_INTEGER,
        deadline: Date.now() + KILL_AFTER_MS + 60_000,
        stopSignal: () => killed,
      });
      await new Promise((resolve) => setTimeout(resolve, KILL_AFTER_MS));
      server.child.kill('SIGKILL');
      killed = true;
      await server.exited;
      const report = await load;
      const unknown = report.attempts.filter((attempt) => attempt.outcome === 'unknown');
      expect(report.attempts.filter((attempt) => attempt.outcome === 'acknowledged').length).toBeGreaterThan(20);
      expect(unknown.length).toBeGreaterThan(0);

      server = await startServerProcess(serverEnv(database.url));
      const restarted = { url: server.url, secret: ADMIN_KEY };
      expect((await verifyChaos(db, restarted, world, report.attempts)).problems).toEqual([]);

      // Requests that never got an answer are replayed with their own keys: each lands at most once.
      const replayed: Attempt[] = [];
      for (const attempt of unknown) {
        const result = await gqlRequest(restarted, attempt.query, attempt.variables);
        const batchItem = result.data?.postTransactions?.[0];
        const error = result.errors?.[0]?.extensions?.code ?? batchItem?.error?.code;
        replayed.push({
          ...attempt,
          outcome: error ? 'rejected' : 'acknowledged',
          code: error,
          transactionId: batchItem?.transaction?.id ?? (Object.values(result.data ?? {})[0] as any)?.transaction?.id,
        });
      }
      const settledReplays = replayed.filter(
        (attempt) =>
          attempt.outcome === 'acknowledged' ||
          ['TRANSACTION_NOT_PENDING', 'ALREADY_REVERSED'].includes(attempt.code ?? ''),
      );
      expect((await verifyChaos(db, restarted, world, settledReplays)).problems).toEqual([]);
      expect(await server.stop('SIGTERM')).toBe(0);
    } finally {
      await db.end();
      await database.drop();
    }
  },
  KILL_AFTER_MS + 240_000,
);

it('answers with retryable errors while Postgres is down, reports unready, and recovers without a restart', async () => {
  const cluster = await createThrowawayCluster();
  await ensureDatabase(cluster.url('postgres'), 'ledger');
  const server = await startServerProcess(serverEnv(cluster.url('ledger')));
  const target = { url: server.url, secret: ADMIN_KEY };
  const ready = async () => (await fetch(server.url.replace('/graphql', '/readyz'))).status;
  try {
    const world = await buildChaosWorld(target, 4);
    const [account, other] = world.roots[0]!.accounts;
    const transfer = () =>
      gqlRequest(target, `mutation($i: TransferInput!) { transfer(input: $i) { transaction { id } } }`, {
        i: {
          fromAccountId: account,
          toAccountId: other,
          asset: 'USD',
          amount: '1',
          idempotencyKey: `pg-${Date.now()}-${Math.random()}`,
        },
      });
    expect((await transfer()).errors).toBeUndefined();
    expect(await ready()).toBe(200);

    await cluster.stop();
    const downErrors = [];
    for (let attempt = 0; attempt < 10; attempt += 1) downErrors.push((await transfer()).errors?.[0]?.extensions);
    expect(downErrors.filter((extensions) => extensions?.retryable !== true)).toEqual([]);
    expect(await ready()).toBe(503);
    expect((await fetch(server.url.replace('/graphql', '/healthz'))).status).toBe(200);

    await cluster.start();
    const deadline = Date.now() + 30_000;
    while ((await ready()) !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await ready()).toBe(200);
    let recovered = await transfer();
    for (let attempt = 0; recovered.errors && attempt < 20; attempt += 1) recovered = await transfer();
    expect(recovered.errors).toBeUndefined();
    const report = await gqlRequest(target, `query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok problems } }`, {
      l: world.roots[0]!.ledgerId,
    });
    expect(report.data.ledgerIntegrity).toEqual({ ok: true, problems: [] });
  } finally {
    await server.stop('SIGTERM');
    await cluster.destroy();
  }
}, 120_000);

it('on SIGTERM stops accepting, finishes work in flight, closes WebSockets with 1001, and exits within 10 seconds', async () => {
  const database = await cloneTestDatabase();
  try {
    const server = await startServerProcess(serverEnv(database.url));
    const target = { url: server.url, secret: ADMIN_KEY };
    const world = await buildChaosWorld(target, 4);
    const { ledgerId, accounts } = world.roots[0]!;
    // A long atomic batch keeps a request in flight while the signal arrives.
    const items = Array.from({ length: 1000 }, (_, index) => ({
      ledgerId,
      idempotencyKey: `drain-${index}`,
      entries: [
        { accountCode: 'system:issuance', asset: 'USD', direction: 'DEBIT', amount: '1' },
        { accountId: accounts[index % accounts.length], asset: 'USD', direction: 'CREDIT', amount: '1' },
      ],
    }));
    // A live subscriber, to see how its socket is closed.
    const subscriber = connect(server.url.replace(/^http/, 'ws'), `Bearer ${ADMIN_KEY}`);
    const watching = subscriber.subscribe(
      'subscription($a: ID!) { balanceUpdated(accountId: $a, includeCurrent: true) { version } }',
      { a: accounts[0] },
    );
    await watching.next();
    const inFlight = gqlRequest(
      target,
      `mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { error { code } } }`,
      { i: { transactions: items } },
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    const started = Date.now();
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    // New work is turned away: refused at connect, or answered 503 on a kept-alive connection.
    const late = await fetch(server.url.replace('/graphql', '/healthz')).then(
      (response) => response.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(late);

    const finished = await inFlight;
    expect(finished.errors).toBeUndefined();
    expect(finished.data.postTransactions.every((item: any) => item.error === null)).toBe(true);
    expect(await server.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await subscriber.closed).code).toBe(1001);
  } finally {
    await database.drop();
  }
}, 120_000);
