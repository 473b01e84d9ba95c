import { cloneTestDatabase } from './support/databases';
import { startServerProcess, type ServerProcess } from './support/process';
import { ADMIN_KEY, TOKEN_SECRET } from './support/server';
import { connect, wsUrl, type TestClient } from './support/ws';

/**
 * Two API server processes on one database: an event committed on one reaches subscribers on the other
 * (Postgres LISTEN/NOTIFY). Before posting, a test knows each subscription is live (its current balance
 * arrived, or the instance's /healthz counts it), so no event can be missed for want of a subscriber.
 */
let database: { url: string; drop(): Promise<void> };
let a: ServerProcess;
let b: ServerProcess;
const clients: TestClient[] = [];

beforeAll(async () => {
  database = await cloneTestDatabase();
  const env = { DATABASE_URL: database.url, ADMIN_API_KEY: ADMIN_KEY, TOKEN_SECRET, EVENT_FANOUT: 'postgres' };
  [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
}, 60_000);
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  const codes = await Promise.all([a?.stop(), b?.stop()]);
  expect(codes).toEqual([0, 0]);
  await database.drop();
});

async function gql(
  server: ServerProcess,
  query: string,
  variables: Record<string, unknown> = {},
  secret = ADMIN_KEY,
): Promise<any> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

let sequence = 0;
const nextSequence = () => {
  sequence += 1;
  return sequence;
};
const issue = (server: ServerProcess, accountId: string, amount: string) =>
  gql(server, `mutation($input: IssueInput!) { issue(input: $input) { transaction { id } } }`, {
    input: { accountId, asset: 'PTS', amount, idempotencyKey: `issue-${nextSequence()}` },
  }).then((data) => data.issue.transaction.id as string);

async function program(server: ServerProcess, accounts: number): Promise<{ ledgerId: string; accountIds: string[] }> {
  const ledgerId = (
    await gql(
      server,
      `mutation($code: String!) { createLedger(input: { code: $code, name: "Two instances" }) { id } }`,
      { code: `two-${nextSequence()}` },
    )
  ).createLedger.id;
  await gql(
    server,
    `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "PTS", name: "Points", kind: POINTS, scale: 0 }) { id } }`,
    { l: ledgerId },
  );
  const accountIds = await Promise.all(
    Array.from({ length: accounts }, (_, index) =>
      gql(server, `mutation($l: ID!, $code: String!) { createAccount(input: { ledgerId: $l, code: $code }) { id } }`, {
        l: ledgerId,
        code: `customer:${index}`,
      }).then((data) => data.createAccount.id as string),
    ),
  );
  return { ledgerId, accountIds };
}

/** The subscriptions an instance holds, as its /healthz reports them. */
async function subscriptionCount(server: ServerProcess): Promise<number> {
  const health = (await (await fetch(server.url.replace('/graphql', '/healthz'))).json()) as {
    websocket: { subscriptions: number };
  };
  return health.websocket.subscriptions;
}

/** Resolves once the instance holds at least `count` subscriptions. */
async function subscriptionsReach(server: ServerProcess, count: number): Promise<void> {
  while ((await subscriptionCount(server)) < count) await new Promise((resolve) => setTimeout(resolve, 5));
}

function client(server: ServerProcess, secret = ADMIN_KEY): TestClient {
  const created = connect(wsUrl(server.url), `Bearer ${secret}`);
  clients.push(created);
  return created;
}

it('delivers a balance committed on one instance to a subscriber on the other', async () => {
  const { accountIds } = await program(a, 1);
  const accountId = accountIds[0]!;
  const live = client(a).subscribe(
    `subscription($id: ID!) { balanceUpdated(accountId: $id, asset: "PTS", includeCurrent: true) { available version } }`,
    { id: accountId },
  );
  expect((await live.next()).data).toEqual({ balanceUpdated: { available: '0', version: 0 } });

  await issue(b, accountId, '2');
  expect((await live.next()).data).toEqual({ balanceUpdated: { available: '2', version: 1 } });
  await issue(a, accountId, '1');
  expect((await live.next()).data).toEqual({ balanceUpdated: { available: '3', version: 2 } });
});

it('delivers transactions committed on one instance to a ledger subscriber on the other, in both directions', async () => {
  const { ledgerId, accountIds } = await program(b, 1);
  const [beforeA, beforeB] = await Promise.all([subscriptionCount(a), subscriptionCount(b)]);
  const onA = client(a).subscribe(`subscription($l: ID!) { transactionPosted(ledgerId: $l) { id kind } }`, {
    l: ledgerId,
  });
  const onB = client(b).subscribe(`subscription($l: ID!) { transactionPosted(ledgerId: $l) { id kind } }`, {
    l: ledgerId,
  });
  await Promise.all([subscriptionsReach(a, beforeA + 1), subscriptionsReach(b, beforeB + 1)]);
  const fromA = await issue(a, accountIds[0]!, '1');
  expect((await onA.next()).data!.transactionPosted).toEqual({ id: fromA, kind: 'ISSUE' });
  expect((await onB.next()).data!.transactionPosted).toEqual({ id: fromA, kind: 'ISSUE' });
  const fromB = await issue(b, accountIds[0]!, '1');
  expect((await onA.next()).data!.transactionPosted).toEqual({ id: fromB, kind: 'ISSUE' });
  expect((await onB.next()).data!.transactionPosted).toEqual({ id: fromB, kind: 'ISSUE' });
});

it('reads back a posting too large for one notification, on the instance that did not commit it', async () => {
  // Sixty customers in one transaction: its event does not fit NOTIFY's 8000 bytes and travels as a reference.
  const { ledgerId, accountIds } = await program(a, 60);
  const watched = accountIds[59]!;
  const live = client(a).subscribe(
    `subscription($id: ID!) { balanceUpdated(accountId: $id, asset: "PTS", includeCurrent: true) { available version } }`,
    { id: watched },
  );
  await issue(a, watched, '1');
  // The current balance (zero, or already one if the issue won the race) and then the issue, in order.
  let first = (await live.next()).data!.balanceUpdated;
  if (first.version === 0) first = (await live.next()).data!.balanceUpdated;
  expect(first).toEqual({ available: '1', version: 1 });

  await gql(b, `mutation($input: PostTransactionInput!) { postTransaction(input: $input) { transaction { id } } }`, {
    input: {
      ledgerId,
      idempotencyKey: 'sixty',
      entries: [
        { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount: String(accountIds.length * 5) },
        ...accountIds.map((accountId) => ({ accountId, asset: 'PTS', direction: 'CREDIT', amount: '5' })),
      ],
    },
  });
  expect((await live.next()).data!.balanceUpdated).toEqual({ available: '6', version: 2 });
});

it('closes, on every instance, the connections of an API key revoked on one', async () => {
  const { ledgerId } = await program(a, 0);
  const created = (
    await gql(
      a,
      `mutation($l: ID!) { createApiKey(input: { name: "r", role: READER, ledgerId: $l }) { secret apiKey { id } } }`,
      { l: ledgerId },
    )
  ).createApiKey;
  const onA = client(a, created.secret);
  onA.subscribe(`subscription($l: ID!) { transactionPosted(ledgerId: $l) { id } }`, { l: ledgerId });
  // A query answered on the connection proves it was authenticated, which is when it starts watching the key.
  await onA.client.iterate({ query: '{ viewer { role } }' }).next();
  await gql(b, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: created.apiKey.id });
  expect(await onA.closed).toMatchObject({ code: 4403 });
});

it('resumes on the other instance from the cursor the first gave, postings on both arriving once, live on each', async () => {
  const { ledgerId, accountIds } = await program(a, 2);
  const resumable = `subscription($l: ID!, $after: String) { transactionPosted(ledgerId: $l, after: $after) { id cursor } }`;
  const before = await subscriptionCount(a);
  const first = client(a);
  const onA = first.subscribe(resumable, { l: ledgerId, after: 'now' });
  await subscriptionsReach(a, before + 1);
  // Committed on the other instance: announced to this one only by the fan-out.
  const one = await issue(b, accountIds[0]!, '1');
  const seenOnA = (await onA.next()).data!.transactionPosted;
  expect(seenOnA.id).toBe(one);
  await first.dispose();

  // Missed while reconnecting (a load balancer may send the client to the other instance).
  const missed = [await issue(a, accountIds[1]!, '2'), await issue(b, accountIds[0]!, '3')];
  const beforeB = await subscriptionCount(b);
  const onB = client(b).subscribe(resumable, { l: ledgerId, after: seenOnA.cursor });
  await subscriptionsReach(b, beforeB + 1);
  const live = await issue(a, accountIds[1]!, '4');
  const received: string[] = [];
  for (let n = 0; n < 3; n += 1) received.push((await onB.next()).data!.transactionPosted.id);
  expect(received).toEqual([...missed, live]);
});

it('pushes a reconciliation run worked on one instance to a subscriber on the other', async () => {
  const { ledgerId, accountIds } = await program(a, 1);
  const sourceId = (
    await gql(
      a,
      `mutation($l: ID!) { createExternalSource(input: { ledgerId: $l, code: "pos", name: "POS" }) { id } }`,
      {
        l: ledgerId,
      },
    )
  ).createExternalSource.id as string;
  await gql(
    a,
    `mutation($s: ID!) { createMatchRule(input: { sourceId: $s, priority: 1, referenceField: "idempotencyKey" }) { id } }`,
    { s: sourceId },
  );
  await issue(a, accountIds[0]!, '5');
  const before = await subscriptionCount(b);
  const live = client(b).subscribe(
    `subscription($s: ID!) { reconciliationUpdated(sourceId: $s) { id status summary { ledgerTransactions missingExternally } } }`,
    { s: sourceId },
  );
  await subscriptionsReach(b, before + 1);
  const run = (
    await gql(a, `mutation($i: RunReconciliationInput!) { runReconciliation(input: $i) { id status } }`, {
      i: {
        sourceId,
        mode: 'DRY_RUN',
        from: new Date(Date.now() - 3_600_000).toISOString(),
        to: new Date(Date.now() + 60_000).toISOString(),
        idempotencyKey: 'run-across',
      },
    })
  ).runReconciliation;
  expect(run.status).toBe('COMPLETED');
  // The RUNNING state is read back on B and may already have finished there: each state arrives at most once,
  // and the last is the completed run.
  const seen: { id: string; status: string; summary: unknown }[] = [];
  while (seen.at(-1)?.status !== 'COMPLETED') seen.push((await live.next()).data!.reconciliationUpdated);
  expect(seen.map((update) => update.status)).toEqual(seen.length === 2 ? ['RUNNING', 'COMPLETED'] : ['COMPLETED']);
  expect(seen.at(-1)).toEqual({
    id: run.id,
    status: 'COMPLETED',
    summary: { ledgerTransactions: 1, missingExternally: 1 },
  });
});
