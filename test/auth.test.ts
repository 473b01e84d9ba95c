import { createAccount, createLedger, createProgram, issue, ISSUE, key } from './support/builders';
import { ADMIN_KEY, errorCode, ok, startTestServer, type TestServer } from './support/server';
import { snapshotLedger } from './support/snapshot';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const CREATE_KEY = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id role name revokedAt } } }`;

async function createKey(
  role: string,
  ledgerId?: string,
  secret: string = ADMIN_KEY,
): Promise<{ id: string; secret: string }> {
  const data = ok(await t.gql(CREATE_KEY, { input: { name: `${role} key`, role, ledgerId } }, secret));
  return { id: data.createApiKey.apiKey.id, secret: data.createApiKey.secret };
}

const LEDGERS = `{ ledgers { edges { node { id } } } }`;

describe('authentication', () => {
  it.each([
    ['no header', null],
    ['a wrong key', 'not-a-real-key-but-long-enough-0000'],
    ['a forged key of the right shape', `rlk_${'0'.repeat(32)}_${'A'.repeat(43)}`],
  ])('refuses %s with UNAUTHENTICATED and HTTP 401', async (_label, secret) => {
    const response = await t.gql(LEDGERS, {}, secret);
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });

  it('refuses a malformed Authorization header', async () => {
    const response = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Basic abc' },
      body: JSON.stringify({ query: LEDGERS }),
    });
    expect(((await response.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('shows a secret once, stores only its hash, and refuses it after revocation', async () => {
    const { ledgerId } = await createProgram(t);
    const reader = await createKey('READER', ledgerId);
    expect(reader.secret).toMatch(/^rlk_[0-9a-f]{32}_/);
    const { rows } = await t.db.pool.query('SELECT secret_hash FROM api_keys WHERE id = $1', [reader.id]);
    expect(rows[0].secret_hash).not.toContain(reader.secret);
    expect(JSON.stringify(rows)).not.toContain(reader.secret.slice(-20));
    ok(await t.gql(LEDGERS, {}, reader.secret));

    expect(
      ok(await t.gql(`mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id: reader.id })).revokeApiKey
        .revokedAt,
    ).not.toBeNull();
    const response = await t.gql(LEDGERS, {}, reader.secret);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });

  it('trusts a key it verified a moment ago without looking it up again', async () => {
    const { ledgerId } = await createProgram(t);
    const reader = await createKey('READER', ledgerId);
    const statementsFor = async () => {
      const before = t.db.statementCount();
      ok(await t.gql(LEDGERS, {}, reader.secret));
      return t.db.statementCount() - before;
    };
    const first = await statementsFor();
    expect(await statementsFor()).toBe(first - 1);
  });
});

describe('roles', () => {
  it('lets a READER read but not write', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const reader = await createKey('READER', ledgerId);
    ok(
      await t.gql(
        `query($id: ID!) { account(id: $id) { code balance(asset: "PTS") { posted } } }`,
        { id: customer.id },
        reader.secret,
      ),
    );
    const before = await snapshotLedger(t.db);
    expect(
      errorCode(
        await t.gql(
          ISSUE,
          { input: { accountId: customer.id, asset: 'PTS', amount: '1', idempotencyKey: key() } },
          reader.secret,
        ),
      ),
    ).toBe('FORBIDDEN');
    expect(
      errorCode(
        await t.gql(
          `mutation($l: ID!) { createAccount(input: { ledgerId: $l, code: "x" }) { id } }`,
          { l: ledgerId },
          reader.secret,
        ),
      ),
    ).toBe('FORBIDDEN');
    expect(await snapshotLedger(t.db)).toEqual(before);
  });

  it('lets an OPERATOR post and create accounts but not adjust, reverse, create ledgers or keys', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const operator = await createKey('OPERATOR', ledgerId);
    const posted = ok(
      await t.gql(
        ISSUE,
        { input: { accountId: customer.id, asset: 'PTS', amount: '5', idempotencyKey: key() } },
        operator.secret,
      ),
    );
    ok(
      await t.gql(
        `mutation($l: ID!) { createAccount(input: { ledgerId: $l, code: "op-made" }) { id } }`,
        { l: ledgerId },
        operator.secret,
      ),
    );
    const before = await snapshotLedger(t.db);
    expect(
      errorCode(
        await t.gql(
          `mutation($input: AdjustInput!) { adjust(input: $input) { replayed } }`,
          {
            input: {
              accountId: customer.id,
              asset: 'PTS',
              amount: '1',
              direction: 'CREDIT',
              idempotencyKey: key(),
              reason: 'x',
            },
          },
          operator.secret,
        ),
      ),
    ).toBe('FORBIDDEN');
    expect(
      errorCode(
        await t.gql(
          `mutation($id: ID!) { reverseTransaction(id: $id, idempotencyKey: "r") { replayed } }`,
          { id: posted.issue.transaction.id },
          operator.secret,
        ),
      ),
    ).toBe('FORBIDDEN');
    expect(
      errorCode(
        await t.gql(
          `mutation($p: ID!) { createLedger(input: { code: "sub", name: "Sub", parentId: $p }) { id } }`,
          { p: ledgerId },
          operator.secret,
        ),
      ),
    ).toBe('FORBIDDEN');
    expect(
      errorCode(await t.gql(CREATE_KEY, { input: { name: 'x', role: 'READER', ledgerId } }, operator.secret)),
    ).toBe('FORBIDDEN');
    expect(await snapshotLedger(t.db)).toEqual(before);
  });
});

describe('ledger scopes', () => {
  it('keeps a key scoped to one sub-ledger out of its sibling and its parent', async () => {
    const root = await createLedger(t);
    await t.gql(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "PTS", name: "Points", kind: POINTS, scale: 0 }) { id } }`,
      { l: root.id },
    );
    const east = await createLedger(t, { parentId: root.id, code: 'east' });
    const west = await createLedger(t, { parentId: root.id, code: 'west' });
    const [eastCustomer, westCustomer, rootCustomer] = [
      await createAccount(t, east.id),
      await createAccount(t, west.id),
      await createAccount(t, root.id),
    ];
    await issue(t, westCustomer.id, '50');
    const eastAdmin = await createKey('ADMIN', east.id);

    // Inside its subtree: reads, posts against the root's system accounts, creates sub-ledgers.
    ok(
      await t.gql(
        ISSUE,
        { input: { accountId: eastCustomer.id, asset: 'PTS', amount: '10', idempotencyKey: key() } },
        eastAdmin.secret,
      ),
    );
    ok(
      await t.gql(
        `mutation($p: ID!) { createLedger(input: { code: "east-store", name: "Store", parentId: $p }) { id } }`,
        { p: east.id },
        eastAdmin.secret,
      ),
    );
    expect(ok(await t.gql(LEDGERS, {}, eastAdmin.secret)).ledgers.edges.map((edge: any) => edge.node.id)).toEqual([
      east.id,
    ]);

    const before = await snapshotLedger(t.db);
    for (const [query, variables] of [
      [`query($id: ID!) { account(id: $id) { code } }`, { id: westCustomer.id }],
      [`query($id: ID!) { account(id: $id) { code } }`, { id: rootCustomer.id }],
      [`query($id: ID!) { ledger(id: $id) { code } }`, { id: west.id }],
      [`query($id: ID!) { ledger(id: $id) { code } }`, { id: root.id }],
      [`query($id: ID!) { ledger(id: $id) { parent { code } } }`, { id: east.id }],
      [`query($id: ID!) { transactions(ledgerId: $id) { edges { node { id } } } }`, { id: west.id }],
      [ISSUE, { input: { accountId: westCustomer.id, asset: 'PTS', amount: '1', idempotencyKey: key() } }],
      [
        `mutation($a: ID!, $b: ID!) { transfer(input: { fromAccountId: $a, toAccountId: $b, asset: "PTS", amount: "1", idempotencyKey: "steal" }) { replayed } }`,
        { a: westCustomer.id, b: eastCustomer.id },
      ],
      [`mutation($id: ID!) { updateAccount(id: $id, input: { status: FROZEN }) { id } }`, { id: westCustomer.id }],
      [
        `mutation($p: ID!) { createLedger(input: { code: "west-store", name: "Store", parentId: $p }) { id } }`,
        { p: west.id },
      ],
      [`mutation { createLedger(input: { code: "another-root", name: "Root" }) { id } }`, {}],
      [CREATE_KEY, { input: { name: 'escalate', role: 'ADMIN', ledgerId: root.id } }],
      [CREATE_KEY, { input: { name: 'global', role: 'ADMIN' } }],
    ] as const) {
      expect([query, errorCode(await t.gql(query, variables, eastAdmin.secret))]).toEqual([query, 'FORBIDDEN']);
    }
    expect(await snapshotLedger(t.db)).toEqual(before);
  });

  it('lets a key scoped to the parent reach every descendant', async () => {
    const root = await createLedger(t);
    await t.gql(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "PTS", name: "Points", kind: POINTS, scale: 0 }) { id } }`,
      { l: root.id },
    );
    const region = await createLedger(t, { parentId: root.id, code: 'region' });
    const store = await createLedger(t, { parentId: region.id, code: 'store' });
    const customer = await createAccount(t, store.id);
    const regionOperator = await createKey('OPERATOR', region.id);
    ok(
      await t.gql(
        ISSUE,
        { input: { accountId: customer.id, asset: 'PTS', amount: '3', idempotencyKey: key() } },
        regionOperator.secret,
      ),
    );
    const seen = ok(
      await t.gql(
        `query($id: ID!) { ledger(id: $id) { balances { creditsPosted } } }`,
        { id: region.id },
        regionOperator.secret,
      ),
    );
    expect(seen.ledger.balances[0].creditsPosted).toBe('3');
  });
});
