import { createAccount, createLedger, createProgram, issue, key } from './support/builders';
import { ADMIN_KEY, errorCode, ok, startTestServer, type TestServer } from './support/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const AUDIT = `query($l: ID!, $filter: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(ledgerId: $l, filter: $filter, first: $first, after: $after) {
    edges { node { actorType actorId operation targetIds requestId clientAddress createdAt } } pageInfo { hasNextPage endCursor }
  }
}`;

it('records every mutation with its actor, request id and client address, newest first', async () => {
  const { ledgerId } = await createProgram(t);
  const customer = await createAccount(t, ledgerId);
  const response = await fetch(t.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${ADMIN_KEY}`,
      'x-request-id': 'checkout-42',
    },
    body: JSON.stringify({
      query: `mutation($i: IssueInput!) { issue(input: $i) { transaction { id } } }`,
      variables: { i: { accountId: customer.id, asset: 'PTS', amount: '5', idempotencyKey: key() } },
    }),
  });
  expect(response.headers.get('x-request-id')).toBe('checkout-42');
  const transactionId = ((await response.json()) as any).data.issue.transaction.id;

  const events = ok(await t.gql(AUDIT, { l: ledgerId })).auditEvents.edges.map((edge: any) => edge.node);
  expect(events.map((event: any) => event.operation)).toEqual([
    'issue',
    'createAccount',
    'createAsset',
    'createLedger',
  ]);
  expect(events[0]).toMatchObject({
    actorType: 'bootstrap',
    actorId: 'bootstrap-admin',
    requestId: 'checkout-42',
    targetIds: [transactionId],
  });
  expect(events[0].clientAddress).toMatch(/127\.0\.0\.1/);

  const filtered = ok(await t.gql(AUDIT, { l: ledgerId, filter: { operation: 'createAccount' } })).auditEvents.edges;
  expect(filtered.map((edge: any) => edge.node.targetIds)).toEqual([[customer.id]]);
  const page = ok(await t.gql(AUDIT, { l: ledgerId, first: 2 })).auditEvents;
  const next = ok(await t.gql(AUDIT, { l: ledgerId, first: 2, after: page.pageInfo.endCursor })).auditEvents;
  expect(next.edges.map((edge: any) => edge.node.operation)).toEqual(['createAsset', 'createLedger']);
});

it('never writes a secret into the audit trail', async () => {
  const { ledgerId } = await createProgram(t);
  const created = ok(
    await t.gql(
      `mutation($l: ID!) { createApiKey(input: { name: "ops", role: OPERATOR, ledgerId: $l }) { secret apiKey { id } } }`,
      { l: ledgerId },
    ),
  ).createApiKey;
  const { rows } = await t.db.pool.query('SELECT row_to_json(a)::text AS row FROM audit_events a');
  for (const { row } of rows) {
    expect(row).not.toContain(created.secret);
    expect(row).not.toContain(ADMIN_KEY);
  }
  await issue(t, (await createAccount(t, ledgerId)).id, '1');
});

it('shows the trail only to ADMIN credentials that reach the root', async () => {
  const root = await createLedger(t);
  const child = await createLedger(t, { parentId: root.id, code: 'child' });
  const secretFor = async (role: string, ledgerId: string) =>
    ok(
      await t.gql(
        `mutation($l: ID!, $r: ApiKeyRole!) { createApiKey(input: { name: "k", role: $r, ledgerId: $l }) { secret } }`,
        { l: ledgerId, r: role },
      ),
    ).createApiKey.secret;
  expect(errorCode(await t.gql(AUDIT, { l: root.id }, await secretFor('READER', root.id)))).toBe('FORBIDDEN');
  expect(errorCode(await t.gql(AUDIT, { l: child.id }, await secretFor('ADMIN', child.id)))).toBe('FORBIDDEN');
  expect(
    ok(await t.gql(AUDIT, { l: child.id }, await secretFor('ADMIN', root.id))).auditEvents.edges.length,
  ).toBeGreaterThan(0);
});
