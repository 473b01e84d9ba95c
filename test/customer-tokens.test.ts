import { SignJWT } from 'jose';
import { createAccount, createLedger, createProgram, issue, ISSUE, key, REDEEM, TRANSFER } from './support/builders';
import {
  ADMIN_KEY,
  errorCode,
  ok,
  startTestServer,
  TOKEN_SECRET,
  type GraphQLResponse,
  type TestServer,
} from './support/server';
import { snapshotLedger } from './support/snapshot';
import { connectAs, eventually, type TestClient } from './support/ws';

/**
 * The customer-token matrix: who may mint one, and what one may do, over HTTP and over WebSocket.
 * A customer token reads its own account (balances, entries, its transactions' own lines) and follows
 * its balance and transactions; everything else is FORBIDDEN, and an expired token is UNAUTHENTICATED.
 */
let t: TestServer;
const clients: TestClient[] = [];

let ledgerId: string;
let mine: { id: string; code: string };
let other: { id: string; code: string };
let inSubLedger: { id: string; code: string };
let token: string;
let otherProgramLedgerId: string;
const keys: Record<string, string> = {};

const MINT = `mutation($accountId: ID!, $ttl: Int) { createCustomerToken(accountId: $accountId, ttlSeconds: $ttl) { token expiresAt account { id code } } }`;
const CREATE_KEY = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }`;

async function mint(accountId: string, secret = ADMIN_KEY, ttl?: number): Promise<GraphQLResponse> {
  return t.gql(MINT, { accountId, ttl }, secret);
}

beforeAll(async () => {
  t = await startTestServer();
  ({ ledgerId } = await createProgram(t));
  const subLedger = await createLedger(t, { parentId: ledgerId });
  mine = await createAccount(t, ledgerId);
  other = await createAccount(t, ledgerId);
  inSubLedger = await createAccount(t, subLedger.id);
  otherProgramLedgerId = (await createProgram(t)).ledgerId;
  for (const [name, role, scope] of [
    ['operator', 'OPERATOR', ledgerId],
    ['admin', 'ADMIN', ledgerId],
    ['reader', 'READER', ledgerId],
    ['subOperator', 'OPERATOR', subLedger.id],
    ['outsider', 'OPERATOR', otherProgramLedgerId],
  ] as const) {
    keys[name] = ok(await t.gql(CREATE_KEY, { input: { name, role, ledgerId: scope } })).createApiKey.secret;
  }
  token = ok(await mint(mine.id, keys.operator)).createCustomerToken.token;
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.dispose()));
});
afterAll(async () => {
  await t.stop();
});

function customer(secret = token): TestClient {
  const client = connectAs(t, secret);
  clients.push(client);
  return client;
}

/** A token signed with the test server's own key, with whatever claims a test needs. */
function craft(
  claims: { sub?: string; exp: number; iat?: number; rl?: string; lg?: string },
  secret = TOKEN_SECRET,
  alg = 'HS256',
): Promise<string> {
  return new SignJWT({ rl: claims.rl ?? ledgerId, lg: claims.lg ?? ledgerId })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuer('reward-ledger')
    .setAudience('reward-ledger:customer')
    .setSubject(claims.sub ?? mine.id)
    .setIssuedAt(claims.iat ?? claims.exp - 60)
    .setExpirationTime(claims.exp)
    .sign(new TextEncoder().encode(secret));
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('minting', () => {
  it('lets an OPERATOR or ADMIN in scope mint a token for 900 seconds by default', async () => {
    for (const secret of [ADMIN_KEY, keys.operator!, keys.admin!]) {
      const minted = ok(await mint(mine.id, secret)).createCustomerToken;
      expect(minted.account).toEqual(mine);
      expect(minted.token.split('.')).toHaveLength(3);
      const lifetimeSeconds = (Date.parse(minted.expiresAt) - Date.now()) / 1000;
      expect(lifetimeSeconds).toBeGreaterThan(890);
      expect(lifetimeSeconds).toBeLessThanOrEqual(900);
    }
  });

  it('accepts a lifetime up to a day and refuses anything outside 1..86400 seconds', async () => {
    ok(await mint(mine.id, ADMIN_KEY, 86_400));
    ok(await mint(mine.id, ADMIN_KEY, 1));
    expect(errorCode(await mint(mine.id, ADMIN_KEY, 86_401))).toBe('BAD_USER_INPUT');
    expect(errorCode(await mint(mine.id, ADMIN_KEY, 0))).toBe('BAD_USER_INPUT');
    expect(errorCode(await mint(mine.id, ADMIN_KEY, -5))).toBe('BAD_USER_INPUT');
  });

  it.each([
    ['a READER', 'reader'],
    ['an OPERATOR of another program', 'outsider'],
    ['an OPERATOR of a sub-ledger, for an account above it', 'subOperator'],
  ])('refuses %s with FORBIDDEN', async (_label, name) => {
    expect(errorCode(await mint(mine.id, keys[name]))).toBe('FORBIDDEN');
  });

  it('lets a sub-ledger OPERATOR mint for an account in its sub-ledger', async () => {
    ok(await mint(inSubLedger.id, keys.subOperator));
  });

  it('refuses a customer token minting tokens, even for its own account', async () => {
    expect(errorCode(await mint(mine.id, token))).toBe('FORBIDDEN');
  });

  it('refuses system accounts and unknown accounts', async () => {
    const issuance = ok(
      await t.gql(`query($l: ID!) { account(ledgerId: $l, code: "system:issuance") { id } }`, { l: ledgerId }),
    ).account;
    expect(errorCode(await mint(issuance.id))).toBe('BAD_USER_INPUT');
    expect(errorCode(await mint('0190f000-0000-7000-8000-000000000000'))).toBe('NOT_FOUND');
  });

  it('writes an audit event for every token minted', async () => {
    const { rows } = await t.db.pool.query(
      `SELECT count(*)::int AS n FROM audit_events WHERE operation = 'createCustomerToken' AND $1 = ANY(target_ids)`,
      [inSubLedger.id],
    );
    expect(rows[0].n).toBeGreaterThan(0);
  });

  it('is refused on a server without TOKEN_SECRET, which also accepts no token', async () => {
    const keyless = await startTestServer({ tokenSecret: null });
    try {
      const { ledgerId: program } = await createProgram(keyless);
      const account = await createAccount(keyless, program);
      const refused = await keyless.gql(MINT, { accountId: account.id });
      expect(errorCode(refused)).toBe('FORBIDDEN');
      expect(refused.errors![0]!.message).toMatch(/TOKEN_SECRET/);
      expect(errorCode(await keyless.gql('{ viewer { role } }', {}, token))).toBe('UNAUTHENTICATED');
    } finally {
      await keyless.stop();
    }
  });
});

describe('a customer token over HTTP', () => {
  it('answers me with its own account, and null for an API key', async () => {
    expect(ok(await t.gql(`{ me { id code } }`, {}, token)).me).toEqual(mine);
    expect(ok(await t.gql(`{ me { id } }`)).me).toBeNull();
  });

  it('says who it is through viewer', async () => {
    const { viewer } = ok(
      await t.gql(`{ viewer { credential role apiKeyId expiresAt ledger { id } account { id code } } }`, {}, token),
    );
    expect(viewer).toMatchObject({
      credential: 'CUSTOMER_TOKEN',
      role: 'CUSTOMER',
      apiKeyId: null,
      ledger: null,
      account: mine,
    });
    expect(Date.parse(viewer.expiresAt)).toBeGreaterThan(Date.now());
  });

  it('reads its own account, balances and entries, and only its own lines of their transactions', async () => {
    await issue(t, mine.id, '40');
    ok(
      await t.gql(TRANSFER, {
        input: { fromAccountId: mine.id, toAccountId: other.id, asset: 'PTS', amount: '15', idempotencyKey: key() },
      }),
    );
    const { account } = ok(
      await t.gql(
        `query($id: ID!) { account(id: $id) {
        code balance(asset: "PTS") { available version account { id } }
        balances { asset { code } posted }
        entries { edges { node { direction amount account { code } transaction { kind entries { account { code } amount } } } } }
      } }`,
        { id: mine.id },
        token,
      ),
    );
    expect(account.balance).toEqual({ available: '25', version: 2, account: { id: mine.id } });
    expect(account.balances).toEqual([{ asset: { code: 'PTS' }, posted: '25' }]);
    expect(account.entries.edges.map((edge: any) => edge.node)).toEqual([
      {
        direction: 'DEBIT',
        amount: '15',
        account: { code: mine.code },
        transaction: { kind: 'TRANSFER', entries: [{ account: { code: mine.code }, amount: '15' }] },
      },
      {
        direction: 'CREDIT',
        amount: '40',
        account: { code: mine.code },
        transaction: { kind: 'ISSUE', entries: [{ account: { code: mine.code }, amount: '40' }] },
      },
    ]);
  });

  it('reads a transaction of its own account by id, and no other', async () => {
    const own = await issue(t, mine.id, '1');
    const foreign = await issue(t, other.id, '1');
    expect(
      ok(await t.gql(`query($id: ID!) { transaction(id: $id) { id kind } }`, { id: own }, token)).transaction,
    ).toEqual({ id: own, kind: 'ISSUE' });
    expect(errorCode(await t.gql(`query($id: ID!) { transaction(id: $id) { id } }`, { id: foreign }, token))).toBe(
      'FORBIDDEN',
    );
  });

  it.each([
    ['another account', `query($other: ID!) { account(id: $other) { code } }`],
    ["its account's ledger", `query($mine: ID!) { account(id: $mine) { ledger { id } } }`],
    [
      'its account by ledger and code',
      `query($ledgerId: ID!, $code: String!) { account(ledgerId: $ledgerId, code: $code) { id } }`,
    ],
    ['the ledger list', `{ ledgers { edges { node { id } } } }`],
    ['a ledger', `query($ledgerId: ID!) { ledger(id: $ledgerId) { id } }`],
    ["a ledger's accounts", `query($ledgerId: ID!) { accounts(ledgerId: $ledgerId) { edges { node { id } } } }`],
    [
      "a ledger's transactions",
      `query($ledgerId: ID!) { transactions(ledgerId: $ledgerId) { edges { node { id } } } }`,
    ],
  ])('is FORBIDDEN to read %s', async (_label, query) => {
    const response = await t.gql(query, { other: other.id, mine: mine.id, ledgerId, code: mine.code }, token);
    expect(errorCode(response)).toBe('FORBIDDEN');
  });

  it('is FORBIDDEN every mutation, and changes nothing', async () => {
    const before = await snapshotLedger(t.db);
    const attempts: Array<[string, Record<string, unknown>]> = [
      [ISSUE, { input: { accountId: mine.id, asset: 'PTS', amount: '1', idempotencyKey: key() } }],
      [REDEEM, { input: { accountId: mine.id, asset: 'PTS', amount: '1', idempotencyKey: key() } }],
      [
        TRANSFER,
        { input: { fromAccountId: mine.id, toAccountId: other.id, asset: 'PTS', amount: '1', idempotencyKey: key() } },
      ],
      [`mutation($l: ID!) { createAccount(input: { ledgerId: $l, code: "sneaky" }) { id } }`, { l: ledgerId }],
      [`mutation($id: ID!) { updateAccount(id: $id, input: { name: "renamed" }) { id } }`, { id: mine.id }],
      [CREATE_KEY, { input: { name: 'x', role: 'READER', ledgerId } }],
      [`mutation { createLedger(input: { code: "x", name: "x" }) { id } }`, {}],
    ];
    for (const [query, variables] of attempts)
      expect([query.slice(0, 40), errorCode(await t.gql(query, variables, token))]).toEqual([
        query.slice(0, 40),
        'FORBIDDEN',
      ]);
    expect(await snapshotLedger(t.db)).toEqual(before);
  });

  it.each([
    ['expired', () => craft({ exp: nowSeconds() - 1 }), /expired/],
    [
      'claiming to live longer than a day',
      () => craft({ exp: nowSeconds() + 600, iat: nowSeconds() + 600 - 86_401 }),
      /invalid/,
    ],
    [
      'signed with another key',
      () => craft({ exp: nowSeconds() + 600 }, 'another-secret-0123456789abcdefghijklmnop'),
      /invalid/,
    ],
    ['signed with another algorithm', () => craft({ exp: nowSeconds() + 600 }, TOKEN_SECRET, 'HS512'), /invalid/],
    [
      'unsigned (alg none)',
      async () =>
        `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: mine.id, rl: ledgerId, lg: ledgerId, exp: nowSeconds() + 600, iat: nowSeconds(), iss: 'reward-ledger', aud: 'reward-ledger:customer' })).toString('base64url')}.`,
      /malformed|invalid/,
    ],
    [
      'tampered (another subject)',
      async () => {
        const [header, , signature] = token.split('.');
        const payload = Buffer.from(
          JSON.stringify({
            sub: other.id,
            rl: ledgerId,
            lg: ledgerId,
            exp: nowSeconds() + 600,
            iat: nowSeconds(),
            iss: 'reward-ledger',
            aud: 'reward-ledger:customer',
          }),
        ).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
      /invalid/,
    ],
  ])('refuses a token %s with UNAUTHENTICATED and HTTP 401', async (_label, make, message) => {
    const response = await t.gql('{ viewer { role } }', {}, await make());
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
    expect(response.errors![0]!.message).toMatch(message);
  });
});

describe('a customer token over WebSocket', () => {
  const BALANCE_UPDATED = `subscription($accountId: ID!) { balanceUpdated(accountId: $accountId, asset: "PTS") { available version } }`;
  const TRANSACTION_POSTED = `subscription($ledgerId: ID, $accountId: ID) { transactionPosted(ledgerId: $ledgerId, accountId: $accountId) { id entries { account { code } amount } } }`;

  function listenersGrow(count = 1): () => Promise<void> {
    const before = t.server.hub.listenerCount();
    return () => eventually(() => t.server.hub.listenerCount() >= before + count);
  }

  it('follows its own balance and its own transactions (its own lines only)', async () => {
    const client = customer();
    const ready = listenersGrow(2);
    const balance = client.subscribe(BALANCE_UPDATED, { accountId: mine.id });
    const transactions = client.subscribe(TRANSACTION_POSTED, { accountId: mine.id });
    await ready();
    const before = ok(
      await t.gql(
        `query($id: ID!) { account(id: $id) { balance(asset: "PTS") { available version } } }`,
        { id: mine.id },
        token,
      ),
    ).account.balance;
    await issue(t, other.id, '50');
    const posted = ok(
      await t.gql(TRANSFER, {
        input: { fromAccountId: other.id, toAccountId: mine.id, asset: 'PTS', amount: '20', idempotencyKey: key() },
      }),
    ).transfer.transaction.id;

    expect((await balance.next()).data!.balanceUpdated).toEqual({
      available: String(Number(before.available) + 20),
      version: before.version + 1,
    });
    expect((await transactions.next()).data!.transactionPosted).toEqual({
      id: posted,
      entries: [{ account: { code: mine.code }, amount: '20' }],
    });
  });

  it.each([
    ["another account's balance", BALANCE_UPDATED, () => ({ accountId: other.id })],
    ["another account's transactions", TRANSACTION_POSTED, () => ({ accountId: other.id })],
    ["a ledger's transactions", TRANSACTION_POSTED, () => ({ ledgerId })],
    ['every transaction it may see (it must name its account)', TRANSACTION_POSTED, () => ({})],
  ])('is FORBIDDEN to follow %s', async (_label, query, variables) => {
    const result = await customer().subscribe(query, variables()).next();
    expect(result.errors![0]!.extensions.code).toBe('FORBIDDEN');
  });

  it('is closed with 4401 when it connects with an expired token', async () => {
    const client = customer(await craft({ exp: nowSeconds() - 1 }));
    expect(await client.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/expired/) });
  });

  it('ends its open subscriptions, closing with 4440 (which clients retry), when the token expires', async () => {
    // A token with one to two seconds to live (expiry is in whole seconds).
    const shortLived = await craft({ exp: nowSeconds() + 2 });
    const client = customer(shortLived);
    const ready = listenersGrow();
    const live = client.subscribe(BALANCE_UPDATED, { accountId: mine.id });
    await ready();
    await issue(t, mine.id, '1');
    expect((await live.next()).data!.balanceUpdated.available).toBeDefined();

    expect(await client.closed).toMatchObject({
      code: 4440,
      reason: 'Unauthorized: the customer token has expired; reconnect with a new one',
    });
    // This test client never retries (retryAttempts: 0); the clients that do are in test/readme-frontend.test.ts.
    expect(await live.ended).toMatchObject({ error: { code: 4440 } });
    // And the server let go of the subscription.
    await eventually(() => t.server.hub.listenerCount() === 0);
  });
});
