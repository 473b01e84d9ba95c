import pg from 'pg';
import { gqlRequest, type ChaosTarget } from './support/chaos';
import { cloneTestDatabase } from './support/databases';
import { startServerProcess, type ServerProcess } from './support/process';
import { ADMIN_KEY } from './support/server';
import { deliveredIds, startWebhookReceiver, type ReceivedWebhook } from './support/webhook-receiver';

/**
 * Webhooks against failure, with the real server as separate processes and a real receiver: a partner
 * that fails, drops connections, goes dark and answers 410; a server killed outright between commit and
 * delivery; two instances sharing the work; and targets that must never be reached (SSRF).
 *
 * The retry schedule is scaled down (WEBHOOK_RETRY_SCALE=0.0005: 5 s becomes 2.5 ms, 30 min 0.9 s, 2 h 3.6 s),
 * so retries take milliseconds and each test ends in seconds.
 */

const WEBHOOK_SECRET_KEY = 'test-webhook-secret-key-0123456789abcdefghij';
const POSTED = 'transaction.posted';

const serverEnv = (databaseUrl: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  DATABASE_URL: databaseUrl,
  ADMIN_API_KEY: ADMIN_KEY,
  NODE_ENV: 'test',
  SCHEDULER_INTERVAL_SECONDS: '0',
  WEBHOOK_SECRET_KEY,
  WEBHOOK_RETRY_SCALE: '0.0005',
  WEBHOOK_TIMEOUT_MS: '2000',
  WEBHOOK_POLL_INTERVAL_MS: '100',
  // The receiver listens on 127.0.0.1; the SSRF test turns this off.
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  ...extra,
});

const target = (server: ServerProcess): ChaosTarget => ({ url: server.url, secret: ADMIN_KEY });

async function must(to: ChaosTarget, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const result = await gqlRequest(to, query, variables);
  if (result.errors) throw new Error(`${query}\n${JSON.stringify(result.errors)}`);
  return result.data;
}

/** A root ledger with a PTS asset and `count` customer accounts. */
async function program(to: ChaosTarget, count = 4): Promise<{ ledgerId: string; accounts: string[] }> {
  const ledger = (
    await must(to, `mutation($i: CreateLedgerInput!) { createLedger(input: $i) { id } }`, {
      i: { code: `hooks-${Math.random().toString(36).slice(2, 10)}`, name: 'Webhooks' },
    })
  ).createLedger;
  await must(
    to,
    `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "PTS", name: "Points", kind: POINTS, scale: 0 }) { id } }`,
    { l: ledger.id },
  );
  const accounts: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const account = await must(to, `mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }`, {
      i: { ledgerId: ledger.id, code: `c${index}` },
    });
    accounts.push(account.createAccount.id);
  }
  return { ledgerId: ledger.id, accounts };
}

const CREATE_ENDPOINT = `mutation($i: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $i) { secret endpoint { id url status eventTypes } }
}`;

async function createEndpoint(to: ChaosTarget, ledgerId: string, url: string) {
  const created = (await must(to, CREATE_ENDPOINT, { i: { ledgerId, url, eventTypes: [POSTED] } }))
    .createWebhookEndpoint;
  return { id: created.endpoint.id as string, secret: created.secret as string };
}

const ISSUE = `mutation($i: IssueInput!) { issue(input: $i) { transaction { id } } }`;
let keys = 0;

/** Issues one point; the transaction id once the server acknowledged it. */
async function issueOne(to: ChaosTarget, accountId: string): Promise<string> {
  keys += 1;
  const data = await must(to, ISSUE, {
    i: { accountId, asset: 'PTS', amount: '1', idempotencyKey: `hook-${process.pid}-${Date.now()}-${keys}` },
  });
  return data.issue.transaction.id;
}

/** The transaction a delivered `transaction.posted` webhook is about. */
function transactionOf(request: ReceivedWebhook): string | undefined {
  try {
    return (JSON.parse(request.body) as { data?: { transaction?: { id?: string } } }).data?.transaction?.id;
  } catch {
    return undefined;
  }
}

/** Transactions a path has acknowledged (2xx) at least once. */
const deliveredTransactions = (requests: readonly ReceivedWebhook[], path: string): Set<string> =>
  new Set(
    requests
      .filter((request) => request.path === path && deliveredIds([request]).size === 1)
      .map(transactionOf)
      .filter((id): id is string => id !== undefined),
  );

const allDelivered = (requests: readonly ReceivedWebhook[], path: string, transactions: Iterable<string>) => {
  const delivered = deliveredTransactions(requests, path);
  return [...transactions].every((id) => delivered.has(id));
};

/** Every request to `path` carries one webhook-id per transaction, the same on every retry. */
function expectOneIdPerTransaction(requests: readonly ReceivedWebhook[]) {
  const idsByTransaction = new Map<string, Set<string>>();
  const transactionsById = new Map<string, Set<string>>();
  for (const request of requests) {
    const transaction = transactionOf(request);
    expect(transaction).toBeDefined();
    expect(request.id).toBeDefined();
    idsByTransaction.set(transaction!, (idsByTransaction.get(transaction!) ?? new Set()).add(request.id!));
    transactionsById.set(request.id!, (transactionsById.get(request.id!) ?? new Set()).add(transaction!));
  }
  expect([...idsByTransaction.values()].filter((ids) => ids.size !== 1)).toEqual([]);
  expect([...transactionsById.values()].filter((transactions) => transactions.size !== 1)).toEqual([]);
}

const ENDPOINT_STATUS = `query($id: ID!) { webhookEndpoint(id: $id) { status } }`;

async function endpointStatus(to: ChaosTarget, id: string): Promise<string> {
  return (await must(to, ENDPOINT_STATUS, { id })).webhookEndpoint.status;
}

it('delivers every event at least once through failures, dropped connections and an outage; 410 disables', async () => {
  const database = await cloneTestDatabase();
  // Every seventh request fails (a 500 or a dropped connection, in turn), but any one event at most once
  // that way: a partner that fails at random could fail one event past the whole schedule, and the test
  // would only show that the schedule ends. The 15th request takes the receiver down for two seconds
  // (connections refused, then it listens again on the same port).
  const failedOnce = new Set<string | undefined>();
  const receiver = await startWebhookReceiver((request) => {
    if (request.path === '/gone') return { status: 410, body: 'this endpoint is gone' };
    if (request.pathIndex === 15) return { darkMs: 2_000 };
    if (request.pathIndex % 7 === 0 && !failedOnce.has(request.id)) {
      failedOnce.add(request.id);
      return request.pathIndex % 14 === 0 ? { destroy: true } : { status: 500, body: 'every seventh fails' };
    }
    return { status: 200 };
  });
  const server = await startServerProcess(serverEnv(database.url));
  try {
    const to = target(server);
    const { ledgerId, accounts } = await program(to);
    const flaky = await createEndpoint(to, ledgerId, receiver.url('/flaky'));
    const gone = await createEndpoint(to, ledgerId, receiver.url('/gone'));
    receiver.trust('/flaky', flaky.secret);
    receiver.trust('/gone', gone.secret);

    const transactions: string[] = [];
    for (let round = 0; round < 10; round += 1) {
      transactions.push(...(await Promise.all(accounts.map((account) => issueOne(to, account)))));
    }

    await receiver.waitFor((requests) => allDelivered(requests, '/flaky', transactions), 45_000);
    const flakyRequests = receiver.requestsTo('/flaky');
    // The partner really did fail: some events were sent more than once.
    expect(flakyRequests.filter((request) => request.answer === 500).length).toBeGreaterThanOrEqual(2);
    expect(flakyRequests.filter((request) => request.answer === 'destroyed').length).toBeGreaterThanOrEqual(1);
    expect(flakyRequests.filter((request) => request.answer === 'dark')).toHaveLength(1);
    expect(flakyRequests.length).toBeGreaterThan(new Set(flakyRequests.map((request) => request.id)).size);
    expectOneIdPerTransaction(flakyRequests);
    // Every attempt was signed, and verifies with the reference implementation.
    expect(flakyRequests.filter((request) => request.verifiedWith.length !== 1)).toEqual([]);
    // Nothing but what was posted after the endpoint was created, and only the subscribed type.
    expect(new Set(flakyRequests.map(transactionOf))).toEqual(new Set(transactions));
    expect(new Set(flakyRequests.map((request) => JSON.parse(request.body).type))).toEqual(new Set([POSTED]));

    // 410 disabled the other endpoint after its first answers: at most one attempt per concurrency slot.
    expect(await endpointStatus(to, gone.id)).toBe('DISABLED');
    expect(await endpointStatus(to, flaky.id)).toBe('ENABLED');
    const goneRequests = receiver.requestsTo('/gone');
    expect(goneRequests.length).toBeGreaterThanOrEqual(1);
    expect(goneRequests.length).toBeLessThanOrEqual(4);
    expect(goneRequests.filter((request) => request.verifiedWith.length !== 1)).toEqual([]);
    expect(await server.stop('SIGTERM')).toBe(0);
  } finally {
    await server.stop('SIGKILL');
    await receiver.close();
    await database.drop();
  }
}, 90_000);

it('delivers every acknowledged posting after the server is killed between commit and delivery', async () => {
  const database = await cloneTestDatabase();
  // A slow partner: deliveries are in flight (claimed, unanswered) when the server dies.
  const receiver = await startWebhookReceiver(() => ({ status: 200, delayMs: 500 }));
  let server = await startServerProcess(serverEnv(database.url));
  try {
    let to = target(server);
    const { ledgerId, accounts } = await program(to);
    const endpoint = await createEndpoint(to, ledgerId, receiver.url('/hooks'));
    receiver.trust('/hooks', endpoint.secret);

    const acknowledged: string[] = [];
    let killed = false;
    const load = Promise.all(
      accounts.map(async (account) => {
        while (!killed) {
          try {
            acknowledged.push(await issueOne(to, account));
          } catch {
            return; // No answer: the server is gone, and this posting may or may not have committed.
          }
        }
      }),
    );
    await receiver.waitFor((requests) => requests.length >= 3 && acknowledged.length >= 40, 30_000);
    server.child.kill('SIGKILL');
    killed = true;
    await server.exited;
    await load;
    const deliveredBeforeKill = deliveredTransactions(receiver.requests, '/hooks');
    expect(acknowledged.filter((id) => !deliveredBeforeKill.has(id)).length).toBeGreaterThan(0);

    receiver.respond(() => ({ status: 200 }));
    server = await startServerProcess(serverEnv(database.url));
    to = target(server);
    await receiver.waitFor((requests) => allDelivered(requests, '/hooks', acknowledged), 50_000);

    const requests = receiver.requestsTo('/hooks');
    expectOneIdPerTransaction(requests);
    expect(requests.filter((request) => request.verifiedWith.length !== 1)).toEqual([]);
    // An event exists only for a committed posting: whatever was delivered beyond the acknowledged ones
    // (postings whose answer the kill swallowed) committed too.
    for (const id of deliveredTransactions(requests, '/hooks')) {
      expect((await must(to, `query($id: ID!) { transaction(id: $id) { id } }`, { id })).transaction).toEqual({ id });
    }
    expect(await server.stop('SIGTERM')).toBe(0);
  } finally {
    await server.stop('SIGKILL');
    await receiver.close();
    await database.drop();
  }
}, 120_000);

it('shares deliveries between two instances on one database: each event sent exactly once', async () => {
  const database = await cloneTestDatabase();
  // Each answer takes a moment and each instance sends at most two at once, so neither instance can take
  // all the work: both must claim, and the claims are seen in the database while they are held.
  const receiver = await startWebhookReceiver(() => ({ status: 200, delayMs: 150 }));
  const env = serverEnv(database.url, { WEBHOOK_CONCURRENCY: '2' });
  const [first, second] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  const db = new pg.Pool({ connectionString: database.url, max: 2 });
  const claimants = new Set<string>();
  let watching = true;
  const watch = (async () => {
    while (watching) {
      const { rows } = await db.query<{ claimed_by: string }>(
        `SELECT DISTINCT claimed_by FROM webhook_deliveries WHERE claimed_by IS NOT NULL`,
      );
      for (const row of rows) claimants.add(row.claimed_by);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    const instances = [target(first), target(second)];
    const { ledgerId, accounts } = await program(instances[0]!);
    const endpoint = await createEndpoint(instances[0]!, ledgerId, receiver.url('/shared'));
    receiver.trust('/shared', endpoint.secret);

    const transactions: string[] = [];
    for (let round = 0; round < 10; round += 1) {
      transactions.push(
        ...(await Promise.all(accounts.map((account, index) => issueOne(instances[(round + index) % 2]!, account)))),
      );
    }
    await receiver.waitFor((requests) => allDelivered(requests, '/shared', transactions), 45_000);
    watching = false;
    await watch;

    expect(claimants.size).toBe(2);
    const requests = receiver.requestsTo('/shared');
    expectOneIdPerTransaction(requests);
    // The receiver never failed, so at-least-once allows no repeat: one request per event.
    expect(requests.length).toBe(transactions.length);
    expect(new Set(requests.map((request) => request.id)).size).toBe(transactions.length);
    expect(requests.filter((request) => request.verifiedWith.length !== 1)).toEqual([]);
    const { rows } = await db.query<{ status: string; attempts: number; count: string }>(
      `SELECT status, attempts, count(*) FROM webhook_deliveries WHERE endpoint_id = $1 GROUP BY 1, 2`,
      [endpoint.id],
    );
    expect(rows).toEqual([{ status: 'SUCCEEDED', attempts: 1, count: String(transactions.length) }]);
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(await second.stop('SIGTERM')).toBe(0);
  } finally {
    watching = false;
    await watch.catch(() => undefined);
    await Promise.all([first.stop('SIGKILL'), second.stop('SIGKILL')]);
    await db.end();
    await receiver.close();
    await database.drop();
  }
}, 90_000);

it('keeps delivering to a healthy endpoint while a slow one has a backlog', async () => {
  const database = await cloneTestDatabase();
  // The slow partner takes 400 ms per answer, so its backlog of 200 events drains for about 20 seconds
  // through its 4 concurrent slots; the healthy one answers at once.
  const receiver = await startWebhookReceiver((request) =>
    request.path === '/slow' ? { status: 200, delayMs: 400 } : { status: 200 },
  );
  const server = await startServerProcess(serverEnv(database.url));
  try {
    const to = target(server);
    const { ledgerId, accounts } = await program(to);
    await createEndpoint(to, ledgerId, receiver.url('/slow'));
    for (let round = 0; round < 50; round += 1) {
      await Promise.all(accounts.map((account) => issueOne(to, account)));
    }
    await receiver.waitFor((requests) => requests.some((request) => request.path === '/slow'), 30_000);

    // Created after the backlog, so every one of its deliveries is due later than the slow endpoint's.
    await createEndpoint(to, ledgerId, receiver.url('/fast'));
    const transaction = await issueOne(to, accounts[0]!);
    await receiver.waitFor((requests) => deliveredTransactions(requests, '/fast').has(transaction), 60_000);
    // The healthy endpoint was served while the slow one still had most of its backlog ahead of it.
    expect(receiver.requestsTo('/slow').length).toBeLessThan(40);
    expect(await server.stop('SIGTERM')).toBe(0);
  } finally {
    await server.stop('SIGKILL');
    await receiver.close();
    await database.drop();
  }
}, 120_000);

it('follows no redirect, cuts a 100 MB answer short and times out a hung one', async () => {
  const database = await cloneTestDatabase();
  // Larger than what loopback socket buffers hold, so an answer read to its end would show.
  const HUGE = 100 * 1024 * 1024;
  const receiver = await startWebhookReceiver((request) => {
    if (request.path === '/redirect') return { status: 302, headers: { location: receiver.url('/elsewhere') } };
    if (request.path === '/huge') return { status: 200, streamBytes: HUGE };
    // The first attempt hangs past WEBHOOK_TIMEOUT_MS; the retry is answered at once.
    if (request.path === '/hang') return request.pathIndex === 1 ? { status: 200, delayMs: 4_000 } : { status: 200 };
    return { status: 200 };
  });
  const server = await startServerProcess(serverEnv(database.url, { WEBHOOK_TIMEOUT_MS: '1000' }));
  try {
    const to = target(server);
    const { ledgerId, accounts } = await program(to, 1);
    const endpoints: Record<string, string> = {};
    for (const path of ['/redirect', '/huge', '/hang']) {
      endpoints[path] = (await createEndpoint(to, ledgerId, receiver.url(path))).id;
    }
    await issueOne(to, accounts[0]!);

    const DELIVERY = `query($id: ID!) { webhookEndpoint(id: $id) {
      deliveries(first: 10) { edges { node { status attempts lastResponseStatus lastError } } } } }`;
    const deliveryOf = async (path: string) => {
      const { edges } = (await must(to, DELIVERY, { id: endpoints[path] })).webhookEndpoint.deliveries;
      expect(edges.length).toBeLessThanOrEqual(1);
      return edges[0]?.node ?? null;
    };
    // Settled: each endpoint has its one delivery, and none is pending any more.
    const settled = async () =>
      (await Promise.all(['/redirect', '/huge', '/hang'].map(deliveryOf))).every(
        (delivery) => delivery !== null && delivery.status !== 'PENDING',
      );
    const deadline = Date.now() + 30_000;
    while (!(await settled()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));

    // A 3xx fails for good, and its Location is never requested.
    expect(await deliveryOf('/redirect')).toMatchObject({ status: 'FAILED', attempts: 1, lastResponseStatus: 302 });
    expect(receiver.requestsTo('/elsewhere')).toEqual([]);
    // The 100 MB answer counts as the 200 it is, and the server hung up long before the end of it.
    expect(await deliveryOf('/huge')).toMatchObject({ status: 'SUCCEEDED', attempts: 1, lastResponseStatus: 200 });
    await receiver.waitFor((requests) => requests.some((request) => request.answerFinished !== undefined), 10_000);
    const [answered] = receiver.requestsTo('/huge');
    expect(answered!.answerFinished).toBe(false);
    expect(answered!.answerBytesWritten).toBeLessThan(HUGE);
    // The hung attempt timed out and was retried with the same webhook-id.
    expect(await deliveryOf('/hang')).toMatchObject({ status: 'SUCCEEDED', attempts: 2, lastResponseStatus: 200 });
    await receiver.waitFor((requests) => requests.filter((request) => request.path === '/hang').length === 2, 10_000);
    const hang = receiver.requestsTo('/hang');
    expect(hang.map((request) => request.answer).sort()).toEqual([200, 'aborted']);
    expect(new Set(hang.map((request) => request.id)).size).toBe(1);
    expect(await server.stop('SIGTERM')).toBe(0);
  } finally {
    await server.stop('SIGKILL');
    await receiver.close();
    await database.drop();
  }
}, 90_000);

describe('SSRF: targets the server must never call', () => {
  const INSIDE =
    /resolves to a (loopback|private|link-local|metadata|unspecified) address, which webhooks may not reach/;
  const refused: Array<[url: string, message: RegExp]> = [
    ['http://127.0.0.1:4000/hooks', INSIDE],
    ['http://127.1/', INSIDE],
    ['http://2130706433/', INSIDE],
    ['http://0.0.0.0/', INSIDE],
    ['http://10.0.0.1/', INSIDE],
    ['http://10.255.1.2:8080/hooks', INSIDE],
    ['http://192.168.1.1/', INSIDE],
    ['http://172.16.0.1/', INSIDE],
    ['http://172.31.255.254/', INSIDE],
    ['http://100.64.0.1/', INSIDE],
    ['http://169.254.169.254/latest/meta-data/iam/security-credentials/', INSIDE],
    ['http://169.254.1.1/', INSIDE],
    ['http://[::1]/', INSIDE],
    ['http://[::ffff:127.0.0.1]/', INSIDE],
    ['http://[::ffff:169.254.169.254]/', INSIDE],
    ['http://[fd00::1]/', INSIDE],
    ['http://[fd00:ec2::254]/', INSIDE],
    ['http://[fe80::1]/', INSIDE],
    // A name, not a literal: refused for what it resolves to.
    ['http://localhost:4000/', /localhost resolves to a loopback address/],
    ['ftp://example.com/hooks', /url must use http or https, not ftp/],
    ['file:///etc/passwd', /url must use http or https, not file/],
    ['gopher://127.0.0.1:6379/_INFO', /url must use http or https, not gopher/],
    ['javascript:alert(1)', /url must use http or https, not javascript/],
    ['https://user:password@example.com/hooks', /url must not contain a user name or password/],
    [`https://example.com/${'a'.repeat(2048)}`, /url must be at most 2048 characters/],
  ];

  let database: { url: string; drop(): Promise<void> };
  let server: ServerProcess;
  let db: pg.Pool;
  let ledgerId: string;
  let accounts: string[];

  beforeAll(async () => {
    database = await cloneTestDatabase();
    server = await startServerProcess(serverEnv(database.url, { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' }));
    db = new pg.Pool({ connectionString: database.url, max: 2 });
    ({ ledgerId, accounts } = await program(target(server), 1));
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await db?.end();
    await database?.drop();
  });

  const storedEndpoints = async () =>
    (await db.query<{ url: string }>(`SELECT url FROM webhook_endpoints ORDER BY created_at`)).rows.map(
      (row) => row.url,
    );

  // A long URL is named by its length, not printed.
  const cases = refused.map(([url, message]) => [
    url.length > 100 ? `a URL of ${url.length} characters` : url,
    url,
    message,
  ]);
  it.each(cases)(
    'createWebhookEndpoint refuses %s with BAD_USER_INPUT and stores nothing',
    async (_name, url, message) => {
      const result = await gqlRequest(target(server), CREATE_ENDPOINT, { i: { ledgerId, url } });
      expect(result.data ?? null).toBeNull();
      expect(result.errors?.map((error) => error.extensions.code)).toEqual(['BAD_USER_INPUT']);
      expect(result.errors?.[0]?.message).toMatch(message as RegExp);
      expect(await storedEndpoints()).toEqual([]);
    },
  );

  it('updateWebhookEndpoint refuses a private target and keeps the public one', async () => {
    // A public address literal: accepted without a DNS lookup (deliveries to it just fail, unseen here).
    const publicUrl = 'https://93.184.215.14/hooks';
    const created = await must(target(server), CREATE_ENDPOINT, { i: { ledgerId, url: publicUrl } });
    const id = created.createWebhookEndpoint.endpoint.id;
    for (const url of ['http://127.0.0.1/', 'http://[::1]/', 'http://169.254.169.254/', 'http://localhost/']) {
      const result = await gqlRequest(
        target(server),
        `mutation($id: ID!, $i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $i) { url } }`,
        { id, i: { url } },
      );
      expect(result.errors?.map((error) => error.extensions.code)).toEqual(['BAD_USER_INPUT']);
    }
    expect(await storedEndpoints()).toEqual([publicUrl]);
    // Gone again before any event, so nothing here ever tries to reach that address.
    await must(target(server), `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }`, { id });
  });

  it('refuses at connect time a stored target that now points inside (DNS rebinding), sending nothing', async () => {
    const receiver = await startWebhookReceiver();
    try {
      // Accepted at creation as public; then the target changes under the server, as a rebound DNS name
      // does: a name now resolving to loopback (only the lookup can catch it), and a loopback literal.
      const made = [];
      for (const url of [`http://localhost:${receiver.port}/rebound`, receiver.url('/literal')]) {
        const created = await createEndpoint(target(server), ledgerId, 'https://93.184.215.14/hooks');
        await db.query(`UPDATE webhook_endpoints SET url = $2 WHERE id = $1`, [created.id, url]);
        made.push(created.id);
      }
      await issueOne(target(server), accounts[0]!);

      const DELIVERIES = `query($id: ID!) { webhookEndpoint(id: $id) {
        deliveries(first: 10) { edges { node { attempts status lastError lastResponseStatus } } } } }`;
      const deliveriesOf = async (id: string) =>
        (await must(target(server), DELIVERIES, { id })).webhookEndpoint.deliveries.edges.map((edge: any) => edge.node);
      const deadline = Date.now() + 30_000;
      let seen: any[][] = [];
      while (Date.now() < deadline) {
        seen = await Promise.all(made.map(deliveriesOf));
        if (seen.every((deliveries) => deliveries.some((delivery: any) => delivery.attempts >= 2))) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      for (const deliveries of seen) {
        expect(deliveries).toHaveLength(1);
        expect(deliveries[0].attempts).toBeGreaterThanOrEqual(2);
        expect(deliveries[0].lastResponseStatus).toBeNull();
        expect(deliveries[0].lastError).toMatch(/loopback address, which webhooks may not reach/);
      }
      expect(receiver.requests).toEqual([]);
    } finally {
      await receiver.close();
    }
  });
});
