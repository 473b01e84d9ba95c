import WebSocket from 'ws';
import {
  balanceOf,
  createAccount,
  createAsset,
  createLedger,
  createProgram,
  issue,
  key,
  REDEEM,
} from './support/builders';
import { ADMIN_KEY, errorCode, ok, startTestServer, type TestServer } from './support/server';
import { connect, connectAs, eventually, wsUrl, type TestClient } from './support/ws';

/**
 * Subscriptions end to end: a real graphql-ws client over a real WebSocket against a real server and
 * database. Before posting, a test waits until the server has filed the subscription's listener, so no
 * event can be missed for want of a subscriber; nothing waits on a clock.
 */
let t: TestServer;
const clients: TestClient[] = [];
beforeAll(async () => {
  t = await startTestServer();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.dispose()));
});
afterAll(async () => {
  await t.stop();
});

function admin(): TestClient {
  const client = connectAs(t, ADMIN_KEY);
  clients.push(client);
  return client;
}

/** Resolves once the server holds `count` more listeners than it did when this was called. */
function listenersGrow(server: TestServer, count = 1): () => Promise<void> {
  const before = server.server.hub.listenerCount();
  return () => eventually(() => server.server.hub.listenerCount() >= before + count);
}

const BALANCE_UPDATED = `subscription($accountId: ID!, $asset: String) {
  balanceUpdated(accountId: $accountId, asset: $asset) { posted available version account { id code } asset { code } }
}`;
const TRANSACTION_POSTED = `subscription($ledgerId: ID, $accountId: ID) {
  transactionPosted(ledgerId: $ledgerId, accountId: $accountId) { id kind entries { amount account { code } } }
}`;

describe('balanceUpdated', () => {
  it('delivers one event per item of an atomic batch, each with the balance as that item left it', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const ready = listenersGrow(t);
    const live = admin().subscribe(BALANCE_UPDATED, { accountId: customer.id, asset: 'PTS' });
    await ready();

    const line = (accountCode: string | null, accountId: string | null, direction: string, amount: string) => ({
      accountCode,
      accountId,
      asset: 'PTS',
      direction,
      amount,
    });
    const item = (kind: 'ISSUE' | 'REDEEM', amount: string) => ({
      ledgerId,
      idempotencyKey: key(),
      kind,
      entries:
        kind === 'ISSUE'
          ? [line('system:issuance', null, 'DEBIT', amount), line(null, customer.id, 'CREDIT', amount)]
          : [line(null, customer.id, 'DEBIT', amount), line('system:redemption', null, 'CREDIT', amount)],
    });
    ok(
      await t.gql(`mutation($input: PostTransactionsInput!) { postTransactions(input: $input) { error { code } } }`, {
        input: { atomic: true, transactions: [item('ISSUE', '10'), item('ISSUE', '5'), item('REDEEM', '3')] },
      }),
    );
    const events = [await live.next(), await live.next(), await live.next()].map((event) => event.data!.balanceUpdated);
    expect(events.map((event) => [event.posted, event.version])).toEqual([
      ['10', 1],
      ['15', 2],
      ['12', 3],
    ]);
  });

  it('delivers the new balance and its version once a posting commits', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const ready = listenersGrow(t);
    const live = admin().subscribe(BALANCE_UPDATED, { accountId: customer.id, asset: 'PTS' });
    await ready();

    await issue(t, customer.id, '120');
    const first = await live.next();
    expect(first.errors).toBeUndefined();
    expect(first.data!.balanceUpdated).toEqual({
      posted: '120',
      available: '120',
      version: 1,
      account: { id: customer.id, code: customer.code },
      asset: { code: 'PTS' },
    });

    await issue(t, customer.id, '30');
    const second = await live.next();
    expect(second.data!.balanceUpdated).toMatchObject({ available: '150', version: 2 });
    // The event carries exactly what a query reads afterwards.
    expect(await balanceOf(t, customer.id)).toMatchObject({ available: '150', version: 2 });
  });

  it('sends the current balance first with includeCurrent, then every change', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const client = admin();
    const untouched = client.subscribe(
      BALANCE_UPDATED.replace('asset: $asset)', 'asset: $asset, includeCurrent: true)'),
      { accountId: customer.id, asset: 'PTS' },
    );
    expect((await untouched.next()).data!.balanceUpdated).toMatchObject({ available: '0', version: 0 });
    await issue(t, customer.id, '5');
    expect((await untouched.next()).data!.balanceUpdated).toMatchObject({ available: '5', version: 1 });

    const later = client.subscribe(BALANCE_UPDATED.replace('asset: $asset)', 'asset: $asset, includeCurrent: true)'), {
      accountId: customer.id,
    });
    expect((await later.next()).data!.balanceUpdated).toMatchObject({
      available: '5',
      version: 1,
      asset: { code: 'PTS' },
    });
  });

  it('sends nothing for other accounts, nor for a posting that failed', async () => {
    const { ledgerId } = await createProgram(t);
    const watched = await createAccount(t, ledgerId);
    const other = await createAccount(t, ledgerId);
    const ready = listenersGrow(t);
    const live = admin().subscribe(BALANCE_UPDATED, { accountId: watched.id, asset: 'PTS' });
    await ready();

    await issue(t, other.id, '999');
    expect(
      errorCode(
        await t.gql(REDEEM, { input: { accountId: watched.id, asset: 'PTS', amount: '5', idempotencyKey: key() } }),
      ),
    ).toBe('INSUFFICIENT_FUNDS');
    await issue(t, watched.id, '7');

    // Had the other account's posting or the refused redemption produced an event, it would come first.
    const first = await live.next();
    expect(first.data!.balanceUpdated).toMatchObject({ available: '7', version: 1, account: { id: watched.id } });
  });

  it('reports every asset a posting changed when no asset is named', async () => {
    const { ledgerId } = await createProgram(t);
    await createAsset(t, ledgerId, 'STARS');
    const customer = await createAccount(t, ledgerId);
    const ready = listenersGrow(t);
    const live = admin().subscribe(BALANCE_UPDATED, { accountId: customer.id });
    await ready();

    ok(
      await t.gql(`mutation($input: PostTransactionInput!) { postTransaction(input: $input) { replayed } }`, {
        input: {
          ledgerId,
          idempotencyKey: key(),
          entries: [
            { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount: '10' },
            { accountId: customer.id, asset: 'PTS', direction: 'CREDIT', amount: '10' },
            { accountCode: 'system:issuance', asset: 'STARS', direction: 'DEBIT', amount: '3' },
            { accountId: customer.id, asset: 'STARS', direction: 'CREDIT', amount: '3' },
          ],
        },
      }),
    );
    const assets = [(await live.next()).data!.balanceUpdated, (await live.next()).data!.balanceUpdated].map(
      (balance) => `${balance.asset.code}=${balance.available}`,
    );
    expect(assets.sort()).toEqual(['PTS=10', 'STARS=3']);
  });

  it("reads a hot system account's whole balance, summed over its shards", async () => {
    const { ledgerId } = await createProgram(t);
    const issuance = ok(
      await t.gql(`query($l: ID!) { account(ledgerId: $l, code: "system:issuance") { id } }`, { l: ledgerId }),
    ).account;
    const [first, second] = [await createAccount(t, ledgerId), await createAccount(t, ledgerId)];
    const ready = listenersGrow(t);
    const live = admin().subscribe(BALANCE_UPDATED, { accountId: issuance.id, asset: 'PTS' });
    await ready();

    await issue(t, first.id, '10');
    expect((await live.next()).data!.balanceUpdated).toMatchObject({ posted: '-10', version: 1 });
    await issue(t, second.id, '5');
    expect((await live.next()).data!.balanceUpdated).toMatchObject({ posted: '-15', version: 2 });
  });

  it("refuses, when subscribing, an account outside a scoped key's ledger", async () => {
    const mine = await createProgram(t);
    const theirs = await createProgram(t);
    const outsider = await createAccount(t, theirs.ledgerId);
    const reader = ok(
      await t.gql(`mutation($l: ID!) { createApiKey(input: { name: "r", role: READER, ledgerId: $l }) { secret } }`, {
        l: mine.ledgerId,
      }),
    ).createApiKey.secret;
    const client = connectAs(t, reader);
    clients.push(client);
    const refused = client.subscribe(BALANCE_UPDATED, { accountId: outsider.id });
    const result = await refused.next();
    expect(result.errors![0]!.extensions).toEqual({ code: 'FORBIDDEN', retryable: false });
    expect(await refused.ended).toEqual({ completed: true });
  });

  it('answers an unknown asset or account with a coded error', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const client = admin();
    expect(
      (await client.subscribe(BALANCE_UPDATED, { accountId: customer.id, asset: 'NOPE' }).next()).errors![0]!.extensions
        .code,
    ).toBe('ASSET_NOT_FOUND');
    expect(
      (await client.subscribe(BALANCE_UPDATED, { accountId: '0190f000-0000-7000-8000-000000000000' }).next())
        .errors![0]!.extensions.code,
    ).toBe('NOT_FOUND');
    expect(
      (await client.subscribe(BALANCE_UPDATED, { accountId: 'not-an-id' }).next()).errors![0]!.extensions.code,
    ).toBe('BAD_USER_INPUT');
  });
});

describe('transactionPosted', () => {
  it("follows a ledger's whole subtree and nothing outside it", async () => {
    const { ledgerId } = await createProgram(t);
    const region = await createLedger(t, { parentId: ledgerId });
    const store = await createLedger(t, { parentId: region.id });
    const elsewhere = await createLedger(t, { parentId: ledgerId });
    const inStore = await createAccount(t, store.id);
    const outside = await createAccount(t, elsewhere.id);
    const ready = listenersGrow(t);
    const live = admin().subscribe(TRANSACTION_POSTED, { ledgerId: region.id });
    await ready();

    await issue(t, outside.id, '1');
    const posted = await issue(t, inStore.id, '2');
    const event = (await live.next()).data!.transactionPosted;
    expect(event).toEqual({
      id: posted,
      kind: 'ISSUE',
      entries: [
        { amount: '2', account: { code: 'system:issuance' } },
        { amount: '2', account: { code: inStore.code } },
      ],
    });
  });

  it('follows one account', async () => {
    const { ledgerId } = await createProgram(t);
    const [watched, other] = [await createAccount(t, ledgerId), await createAccount(t, ledgerId)];
    const ready = listenersGrow(t);
    const live = admin().subscribe(TRANSACTION_POSTED, { accountId: watched.id });
    await ready();
    await issue(t, other.id, '4');
    const posted = await issue(t, watched.id, '3');
    expect((await live.next()).data!.transactionPosted.id).toBe(posted);
  });

  it('gives a scoped key, without arguments, its own subtree only', async () => {
    const mine = await createProgram(t);
    const theirs = await createProgram(t);
    const [inside, outside] = [await createAccount(t, mine.ledgerId), await createAccount(t, theirs.ledgerId)];
    const reader = ok(
      await t.gql(`mutation($l: ID!) { createApiKey(input: { name: "r", role: READER, ledgerId: $l }) { secret } }`, {
        l: mine.ledgerId,
      }),
    ).createApiKey.secret;
    const client = connectAs(t, reader);
    clients.push(client);
    const ready = listenersGrow(t);
    const live = client.subscribe(TRANSACTION_POSTED, {});
    await ready();
    await issue(t, outside.id, '9');
    const posted = await issue(t, inside.id, '8');
    expect((await live.next()).data!.transactionPosted.id).toBe(posted);
  });
});

describe('connection authentication', () => {
  it.each([
    ['no credentials', null],
    ['a wrong key', 'Bearer not-a-real-key-but-long-enough-0000'],
    ['a malformed value', 'Basic abc'],
  ])('closes a connection with %s with 4401 before any subscription starts', async (_label, authorization) => {
    const client = connect(wsUrl(t), authorization);
    clients.push(client);
    const closed = await client.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(/^Unauthorized: /);
  });

  it('accepts the Authorization header spelled as GraphiQL sends it', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const client = connect(wsUrl(t), null, { Authorization: `Bearer ${ADMIN_KEY}` });
    clients.push(client);
    const ready = listenersGrow(t);
    const live = client.subscribe(BALANCE_UPDATED, { accountId: customer.id });
    await ready();
    await issue(t, customer.id, '1');
    expect((await live.next()).data!.balanceUpdated.version).toBe(1);
  });

  it("closes a subscriber's connection with 4403 when its API key is revoked", async () => {
    const { ledgerId } = await createProgram(t);
    const created = ok(
      await t.gql(
        `mutation($l: ID!) { createApiKey(input: { name: "r", role: READER, ledgerId: $l }) { secret apiKey { id } } }`,
        { l: ledgerId },
      ),
    ).createApiKey;
    const client = connectAs(t, created.secret);
    clients.push(client);
    const ready = listenersGrow(t);
    const live = client.subscribe(TRANSACTION_POSTED, { ledgerId });
    await ready();
    ok(await t.gql(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: created.apiKey.id }));
    expect(await client.closed).toMatchObject({ code: 4403, reason: 'Forbidden: this API key has been revoked' });
    expect(await live.ended).toMatchObject({ error: { code: 4403 } });
  });
});

describe('limits', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({
      realtime: {
        wsSubscriptionsPerConnectionMax: 3,
        wsPendingEventsMax: 2,
        wsMessageBytesMax: 4096,
        wsKeepAliveMs: 200,
      },
    });
  });
  afterAll(async () => {
    await limited.stop();
  });

  it('refuses a subscription past WS_SUBSCRIPTIONS_PER_CONNECTION_MAX with RATE_LIMITED and keeps the others', async () => {
    const { ledgerId } = await createProgram(limited);
    const customers = [
      await createAccount(limited, ledgerId),
      await createAccount(limited, ledgerId),
      await createAccount(limited, ledgerId),
    ];
    const client = connectAs(limited, ADMIN_KEY);
    clients.push(client);
    const ready = listenersGrow(limited, 3);
    const kept = customers.map((customer) => client.subscribe(BALANCE_UPDATED, { accountId: customer.id }));
    await ready();
    const refused = await client.subscribe(BALANCE_UPDATED, { accountId: customers[0]!.id }).ended;
    expect(refused).toEqual({
      error: [expect.objectContaining({ extensions: { code: 'RATE_LIMITED', retryable: true } })],
    });
    for (const [index, customer] of customers.entries()) {
      await issue(limited, customer.id, '1');
      expect((await kept[index]!.next()).data!.balanceUpdated).toMatchObject({
        version: 1,
        account: { id: customer.id },
      });
    }
  });

  it('closes a connection with 1009 when a client sends a message above WS_MESSAGE_BYTES_MAX', async () => {
    const client = connectAs(limited, ADMIN_KEY);
    clients.push(client);
    client.subscribe(`subscription { balanceUpdated(accountId: "${'0'.repeat(5000)}") { version } }`);
    expect((await client.closed).code).toBe(1009);
  });

  it('closes a connection with 1013 when more events wait for it than WS_PENDING_EVENTS_MAX', async () => {
    const { ledgerId } = await createProgram(limited);
    const customer = await createAccount(limited, ledgerId);
    const client = connectAs(limited, ADMIN_KEY);
    clients.push(client);
    // Three subscriptions on one account: one posting hands the connection three events at once, before
    // any can be sent; the third does not fit the allowance of two.
    const ready = listenersGrow(limited, 3);
    for (let i = 0; i < 3; i += 1) client.subscribe(BALANCE_UPDATED, { accountId: customer.id });
    await ready();
    await issue(limited, customer.id, '1');
    const closed = await client.closed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/^Try again later: 2 events waited/);
  });

  it('pings every WS_KEEPALIVE_MS and drops a client that never answers', async () => {
    const socket = new WebSocket(wsUrl(limited), 'graphql-transport-ws', { autoPong: false });
    const pinged = new Promise((resolve) => socket.once('ping', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    socket.once('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${ADMIN_KEY}` } })),
    );
    await pinged;
    // Terminated, not closed: an unresponsive peer gets no closing handshake.
    expect(await closed).toBe(1006);
  });
});
