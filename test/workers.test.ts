import http from 'node:http';
import pg from 'pg';
import { cloneTestDatabase } from './support/databases';
import { startServerProcess, type ServerProcess } from './support/process';
import { key } from './support/builders';
import { aroundNow, createPartner, importRecords, partnerRecord, RUN } from './support/reconciliation-runs';
import { ADMIN_KEY, type TestServer } from './support/server';
import { connect, wsUrl, type TestClient } from './support/ws';

/**
 * `npm start` with WEB_CONCURRENCY=2: a primary and two workers sharing the port. Requests are dealt to the
 * workers by connection, so every request here opens its own, and its X-Request-Id finds the log line
 * that names the worker which served it. What must hold: requests reach both workers, events cross them
 * (EVENT_FANOUT=local: through the primary, not Postgres), one rate limit for all of them, the scheduler in
 * exactly one, a killed worker replaced, and SIGTERM ending every process.
 */
let database: { url: string; drop(): Promise<void> };
let server: ServerProcess;
let pool: pg.Pool;
const clients: TestClient[] = [];
let sequence = 0;
const next = () => (sequence += 1);

const env = (extra: Record<string, string>) => ({
  DATABASE_URL: database.url,
  ADMIN_API_KEY: ADMIN_KEY,
  WEB_CONCURRENCY: '2',
  LOG_LEVEL: 'info',
  ...extra,
});

beforeAll(async () => {
  database = await cloneTestDatabase();
  pool = new pg.Pool({ connectionString: database.url, max: 2 });
  // A verified key is trusted for a minute: only the revocation's event can end it on the other worker.
  server = await startServerProcess(
    env({ EVENT_FANOUT: 'local', SCHEDULER_INTERVAL_SECONDS: '1', API_KEY_CACHE_MS: '60000' }),
  );
}, 60_000);
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  if (server.child.exitCode === null) await server.stop();
  await pool.end();
  await database.drop();
});

/** One request on a connection of its own (so the primary deals it to the next worker). */
function post(
  target: ServerProcess,
  query: string,
  variables: Record<string, unknown> = {},
  secret = ADMIN_KEY,
): Promise<{ status: number; body: any; requestId: string }> {
  const requestId = `w-${next()}`;
  const url = new URL(target.url);
  const payload = JSON.stringify({ query, variables });
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          authorization: `Bearer ${secret}`,
          'x-request-id': requestId,
          connection: 'close',
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text), requestId }));
      },
    );
    request.once('error', reject);
    request.end(payload);
  });
}

async function must(query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const { body } = await post(server, query, variables);
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** The JSON log lines the server printed so far. */
function logLines(target: ServerProcess): Array<Record<string, any>> {
  return target
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>);
}

/** Which worker served each request id (its "graphql request" line). */
function workersOf(target: ServerProcess, requestIds: string[]): Set<number> {
  const served = new Map(
    logLines(target)
      .filter((line) => line.message === 'graphql request')
      .map((line) => [line.requestId as string, line.worker as number]),
  );
  return new Set(requestIds.map((id) => served.get(id)!));
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function program(): Promise<{ ledgerId: string; accountId: string }> {
  const ledgerId = (
    await must(`mutation($code: String!) { createLedger(input: { code: $code, name: "Workers" }) { id } }`, {
      code: `workers-${next()}`,
    })
  ).createLedger.id;
  await must(
    `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "PTS", name: "Points", kind: POINTS, scale: 0 }) { id } }`,
    { l: ledgerId },
  );
  const accountId = (
    await must(`mutation($l: ID!) { createAccount(input: { ledgerId: $l, code: "customer:1" }) { id } }`, {
      l: ledgerId,
    })
  ).createAccount.id;
  return { ledgerId, accountId };
}

const workerLines = (target: ServerProcess) => logLines(target).filter((line) => line.message === 'worker listening');

it('starts two workers that share the port, exactly one of them running the scheduler', async () => {
  expect(server.output()).toContain('Workers: 2 processes share the port (WEB_CONCURRENCY)');
  // Each worker says so once its server is up, just after the port is shared.
  await until('both workers say they listen', () => workerLines(server).length === 2);
  const started = workerLines(server);
  expect(started.map((line) => line.worker).sort()).toEqual([1, 2]);
  expect(started.filter((line) => line.scheduler)).toEqual([expect.objectContaining({ worker: 1 })]);
  expect(new Set(started.map((line) => line.pid)).size).toBe(2);
});

it('deals requests to both workers, and a subscriber on one receives postings made through the other', async () => {
  const { accountId } = await program();
  const client = connect(wsUrl(server.url), `Bearer ${ADMIN_KEY}`);
  clients.push(client);
  const live = client.subscribe(
    `subscription($id: ID!) { balanceUpdated(accountId: $id, asset: "PTS", includeCurrent: true) { available version } }`,
    { id: accountId },
  );
  expect((await live.next()).data).toEqual({ balanceUpdated: { available: '0', version: 0 } });

  const requestIds: string[] = [];
  for (let version = 1; version <= 6; version += 1) {
    const issued = await post(server, `mutation($i: IssueInput!) { issue(input: $i) { transaction { id } } }`, {
      i: { accountId, asset: 'PTS', amount: '1', idempotencyKey: `cross-${version}` },
    });
    expect(issued.body.errors).toBeUndefined();
    requestIds.push(issued.requestId);
    // Whichever worker holds the subscription, half of these were committed by the other one.
    expect((await live.next()).data).toEqual({ balanceUpdated: { available: String(version), version } });
  }
  await until('every request logged', () => !workersOf(server, requestIds).has(undefined as never));
  expect(workersOf(server, requestIds)).toEqual(new Set([1, 2]));
});

it('ends an API key revoked through one worker on the other at once, however long keys are cached', async () => {
  const { ledgerId } = await program();
  const secret = (
    await must(
      `mutation($l: ID!) { createApiKey(input: { name: "short-lived", role: READER, ledgerId: $l }) { apiKey { id } secret } }`,
      {
        l: ledgerId,
      },
    )
  ).createApiKey;
  // Used through both workers, so each has it in its cache.
  const used: Array<{ status: number; requestId: string }> = [];
  for (let i = 0; i < 4; i += 1) used.push(await post(server, '{ __typename }', {}, secret.secret));
  expect(used.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
  await until(
    'every request logged',
    () =>
      !workersOf(
        server,
        used.map((answer) => answer.requestId),
      ).has(undefined as never),
  );
  expect(
    workersOf(
      server,
      used.map((answer) => answer.requestId),
    ),
  ).toEqual(new Set([1, 2]));

  await must(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: secret.apiKey.id });
  await until(
    'both workers refuse it',
    async () => {
      const answers = await Promise.all([0, 1, 2, 3].map(() => post(server, '{ __typename }', {}, secret.secret)));
      return answers.every((answer) => answer.body.errors?.[0]?.extensions.code === 'UNAUTHENTICATED');
    },
    5_000,
  );
});

it('pushes reconciliation runs made through either worker to a subscriber on one of them', async () => {
  // The builders want a test server: this one sends each request on a connection of its own.
  const api = {
    gql: async (query: string, variables: Record<string, unknown> = {}, secret?: string | null) => {
      const { status, body } = await post(server, query, variables, secret ?? ADMIN_KEY);
      return { status, data: body.data, errors: body.errors };
    },
  } as unknown as TestServer;
  const partner = await createPartner(api);
  await importRecords(api, partner.sourceId, [partnerRecord('sale-1', key('order'), '10', partner.alice.code)]);
  const client = connect(wsUrl(server.url), `Bearer ${ADMIN_KEY}`);
  clients.push(client);
  const live = client.subscribe('subscription($s: ID!) { reconciliationUpdated(sourceId: $s) { id status } }', {
    s: partner.sourceId,
  });
  // The subscription is live once a run's update arrives: runs until one does (each on the next worker).
  const requestIds: string[] = [];
  const runs: string[] = [];
  const seen: Array<{ id: string; status: string }> = [];
  const run = async () => {
    const { body, requestId } = await post(server, RUN, {
      i: { sourceId: partner.sourceId, mode: 'DRY_RUN', ...aroundNow(), idempotencyKey: key('run') },
    });
    expect(body.errors).toBeUndefined();
    requestIds.push(requestId);
    runs.push(body.data.runReconciliation.id);
  };
  void (async () => {
    for (;;) {
      const result = await live.next().catch(() => null);
      if (result?.data == null) return;
      seen.push(result.data.reconciliationUpdated as { id: string; status: string });
    }
  })();
  await until('the subscription is live', async () => {
    await run();
    return seen.length > 0;
  });
  // Then two more, dealt to the two workers in turn: both reach the subscriber, started and finished.
  const counted = runs.length;
  await run();
  await run();
  const later = runs.slice(counted);
  await until('both runs reach the subscriber', () =>
    later.every((id) => seen.filter((update) => update.id === id).length === 2),
  );
  for (const id of later) {
    expect(seen.filter((update) => update.id === id).map((update) => update.status)).toEqual(['RUNNING', 'COMPLETED']);
  }
  await until('every request logged', () => !workersOf(server, requestIds.slice(-2)).has(undefined as never));
  expect(workersOf(server, requestIds.slice(-2))).toEqual(new Set([1, 2]));
});

it('sums the metrics of every worker in one answer', async () => {
  const metrics = await (await fetch(server.url.replace('/graphql', '/metrics'))).text();
  const pooled = /^reward_ledger_db_pool_connections\{state="total"\} (\d+)$/m.exec(metrics);
  expect(pooled).not.toBeNull();
  // Each worker holds at least one connection: both are counted, whichever worker answered.
  expect(Number(pooled![1])).toBeGreaterThanOrEqual(2);
});

it('times a hold out once, in the one worker that runs the scheduler', async () => {
  const { accountId } = await program();
  await must(`mutation($i: IssueInput!) { issue(input: $i) { transaction { id } } }`, {
    i: { accountId, asset: 'PTS', amount: '10', idempotencyKey: 'hold-funding' },
  });
  const holdId = (
    await must(`mutation($i: HoldInput!) { hold(input: $i) { transaction { id } } }`, {
      i: { accountId, asset: 'PTS', amount: '3', idempotencyKey: 'hold-1', timeoutSeconds: 1 },
    })
  ).hold.transaction.id;
  const settlements = async () =>
    (await pool.query('SELECT count(*)::int AS n FROM hold_settlements WHERE pending_transaction_id = $1', [holdId]))
      .rows[0].n as number;
  await until('the hold timed out', async () => (await settlements()) > 0);
  // Two more ticks: a second scheduler would have had its chance.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  expect(await settlements()).toBe(1);
  const ticks = logLines(server).filter((line) => line.message === 'scheduler tick');
  expect(ticks.length).toBeGreaterThan(0);
  expect(new Set(ticks.map((line) => line.worker))).toEqual(new Set([1]));
});

it('replaces a worker killed with SIGKILL, which takes the scheduler over, and keeps answering meanwhile', async () => {
  const scheduler = workerLines(server).find((line) => line.scheduler)!;
  process.kill(scheduler.pid, 'SIGKILL');
  await until('the primary saw it die', () => server.output().includes('worker died; starting a replacement'));
  // Whatever the replacement's state, every request is answered (by the surviving worker meanwhile).
  const answers: number[] = [];
  for (let i = 0; i < 6; i += 1) answers.push((await post(server, '{ __typename }')).status);
  expect(answers).toEqual([200, 200, 200, 200, 200, 200]);
  await until('a replacement listens', () => workerLines(server).length === 3);
  const replacement = workerLines(server)[2]!;
  expect(replacement).toMatchObject({ worker: 1, scheduler: true });
  expect(replacement.pid).not.toBe(scheduler.pid);
  const requestIds: string[] = [];
  for (let i = 0; i < 4; i += 1) {
    const answer = await post(server, '{ __typename }');
    expect(answer.status).toBe(200);
    requestIds.push(answer.requestId);
  }
  await until('every request logged', () => !workersOf(server, requestIds).has(undefined as never));
  expect(workersOf(server, requestIds)).toEqual(new Set([1, 2]));
});

it('enforces one rate limit for a credential across both workers, not one per worker', async () => {
  const limited = await startServerProcess(env({ RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '3' }));
  try {
    const answers: Array<{ status: number; body: any; requestId: string }> = [];
    for (let i = 0; i < 8; i += 1) answers.push(await post(limited, '{ __typename }'));
    const allowed = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 429);
    // Three at once and one a second: a limit per worker would have let six or more through.
    expect(allowed.length).toBeGreaterThanOrEqual(3);
    expect(allowed.length).toBeLessThanOrEqual(4);
    expect(refused.length).toBe(8 - allowed.length);
    expect(refused[0]!.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    const allowedIds = allowed.map((answer) => answer.requestId);
    await until('every request logged', () => !workersOf(limited, allowedIds).has(undefined as never));
    expect(workersOf(limited, allowedIds)).toEqual(new Set([1, 2]));
  } finally {
    expect(await limited.stop()).toBe(0);
  }
});

it('stops every process on SIGTERM, with exit code 0', async () => {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const pids = workerLines(server)
    .map((line) => line.pid as number)
    .filter(alive);
  expect(pids).toHaveLength(2);
  await Promise.all(clients.splice(0).map((client) => client.dispose()));
  expect(await server.stop('SIGTERM')).toBe(0);
  await until('every worker is gone', () => !pids.some(alive), 5_000);
});
