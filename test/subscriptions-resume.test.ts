import pg from 'pg';
import { createAccount, createAsset, createLedger, createProgram, issue, key } from './support/builders';
import { ADMIN_KEY, ok, startTestServer, type TestServer } from './support/server';
import { connectAs, eventually, type Result, type Subscription, type TestClient } from './support/ws';

/**
 * Subscriptions that resume (`after`), end to end over graphql-ws against a real server and database.
 * The property under test: a client that stores the cursor of each event it received and resubscribes
 * with it sees every transaction of the feed exactly once, in feed order, however its connections break
 * and whatever postings stay open while it switches from replay to live. Nothing waits on a clock.
 */
let t: TestServer;
const clients: TestClient[] = [];
beforeAll(async () => {
  t = await startTestServer();
});
// Sessions holding balance rows; a failed test must not leave them holding, or every later test waits.
const blockers: Array<{ release(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(blockers.splice(0).map((blocker) => blocker.release()));
  await Promise.all(clients.splice(0).map((client) => client.dispose()));
});
afterAll(async () => {
  await t.stop();
});

function client(secret = ADMIN_KEY): TestClient {
  const connected = connectAs(t, secret);
  clients.push(connected);
  return connected;
}

/** Resolves once the server holds `count` more hub listeners than when this was called. */
function listenersGrow(count = 1): () => Promise<void> {
  const before = t.server.hub.listenerCount();
  return () => eventually(() => t.server.hub.listenerCount() >= before + count);
}

const TRANSACTIONS = `subscription($ledgerId: ID, $accountId: ID, $after: String) {
  transactionPosted(ledgerId: $ledgerId, accountId: $accountId, after: $after) { id cursor entries { account { id } } }
}`;
const BALANCES = `subscription($accountId: ID!, $after: String, $includeCurrent: Boolean) {
  balanceUpdated(accountId: $accountId, asset: "PTS", after: $after, includeCurrent: $includeCurrent) { posted version cursor }
}`;

interface Posted {
  id: string;
  cursor: string;
}

/** The tree's transaction.posted events as the `events` query pages them: the order every resumed stream must follow. */
async function feed(ledgerId: string): Promise<Posted[]> {
  const seen: Posted[] = [];
  let after: string | null = null;
  for (;;) {
    const page: any = ok(
      await t.gql(
        `query($l: ID!, $a: String) { events(ledgerId: $l, after: $a, first: 500, types: ["transaction.posted"]) {
          edges { cursor node { transaction { id } } } pageInfo { endCursor hasNextPage } } }`,
        { l: ledgerId, a: after },
      ),
    ).events;
    for (const edge of page.edges) seen.push({ id: edge.node.transaction.id, cursor: edge.cursor });
    if (!page.pageInfo.hasNextPage) return seen;
    after = page.pageInfo.endCursor;
  }
}

/**
 * The feed once it shows these transactions. A committed event enters the feed only when every older write
 * transaction of the cluster has finished (other test files share it), so a test that needs a cursor of
 * an event waits for it on this, as a client reading the feed would.
 */
async function feedShowing(ledgerId: string, transactionIds: string[]): Promise<Posted[]> {
  for (;;) {
    const events = await feed(ledgerId);
    if (transactionIds.every((id) => events.some((event) => event.id === id))) return events;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The newest event cursor of the tree now (of any type), once the feed shows these transactions. */
async function headCursor(ledgerId: string, showing: string[] = []): Promise<string> {
  await feedShowing(ledgerId, showing);
  let after: string | null = null;
  for (;;) {
    const page: any = ok(
      await t.gql(
        `query($l: ID!, $a: String) { events(ledgerId: $l, after: $a, first: 500) { pageInfo { endCursor hasNextPage } } }`,
        { l: ledgerId, a: after },
      ),
    ).events;
    after = page.pageInfo.endCursor;
    if (!page.pageInfo.hasNextPage) return after!;
  }
}

async function take(subscription: Subscription<any>, count: number, field = 'transactionPosted'): Promise<any[]> {
  const taken: any[] = [];
  while (taken.length < count) {
    const result: Result<any> = await subscription.next();
    expect(result.errors).toBeUndefined();
    taken.push(result.data![field]);
  }
  return taken;
}

/** Many transactions in one statement: an atomic batch shares one writing transaction (one xid). */
async function issueBatch(ledgerId: string, accountIds: string[], amount = '1'): Promise<string[]> {
  const transactions = accountIds.map((accountId) => ({
    ledgerId,
    idempotencyKey: key('batch'),
    kind: 'ISSUE',
    entries: [
      { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount },
      { accountId, asset: 'PTS', direction: 'CREDIT', amount },
    ],
  }));
  const data = ok(
    await t.gql(
      `mutation($input: PostTransactionsInput!) { postTransactions(input: $input) { transaction { id } error { code } } }`,
      { input: { atomic: true, transactions } },
    ),
  ).postTransactions;
  return data.map((item: any) => item.transaction.id);
}

/** Holds the account's balance row in a second session: a posting to it writes its events (taking an xid) and waits. */
async function holdBalance(accountId: string): Promise<{ release(): Promise<void> }> {
  const blocker = new pg.Client({ connectionString: t.databaseUrl });
  await blocker.connect();
  const {
    rows: [{ root }],
  } = await blocker.query('SELECT root_ledger_id AS root FROM accounts WHERE id = $1', [accountId]);
  await blocker.query('BEGIN');
  // With the root, which Citus needs to lock rows (it routes the statement to the root's shard).
  await blocker.query('SELECT 1 FROM balances WHERE root_ledger_id = $1 AND account_id = $2 FOR UPDATE', [
    root,
    accountId,
  ]);
  let released: Promise<void> | null = null;
  const held = {
    release() {
      released ??= blocker.query('COMMIT').then(() => blocker.end());
      return released;
    },
  };
  blockers.push(held);
  return held;
}

/**
 * Resolves once a session waits on a lock: the held posting has written its rows and stopped at the balance.
 * On Citus the wait is on the worker that holds the tree, so the probe reads every node's sessions
 * (citus_stat_activity); the coordinator's own session only waits for that worker's answer.
 */
async function someoneWaitsOnALock(): Promise<void> {
  const probe = new pg.Client({ connectionString: t.databaseUrl });
  await probe.connect();
  try {
    const {
      rows: [{ citus }],
    } = await probe.query(`SELECT to_regclass('citus_stat_activity') IS NOT NULL AS citus`);
    const sessions = citus ? 'citus_stat_activity' : 'pg_stat_activity';
    for (;;) {
      const { rows } = await probe.query(
        `SELECT count(*)::int AS n FROM ${sessions} WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (rows[0].n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await probe.end();
  }
}

describe('transactionPosted(after:)', () => {
  it('replays what followed the cursor, then continues live, with no gap and no duplicate at the seam', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const first = await issue(t, customer.id, '1');
    const replayed = [await issue(t, customer.id, '2'), await issue(t, customer.id, '3')];
    const cursorAfterFirst = (await feedShowing(ledgerId, [first])).find((event) => event.id === first)!.cursor;

    const ready = listenersGrow();
    const stream = client().subscribe(TRANSACTIONS, { accountId: customer.id, after: cursorAfterFirst });
    await ready();
    const live = [await issue(t, customer.id, '4'), await issue(t, customer.id, '5')];
    const received = await take(stream, 4);

    expect(received.map((event) => event.id)).toEqual([...replayed, ...live]);
    // Each event carries its own feed cursor, the one the `events` query shows for it.
    const byId = new Map((await feed(ledgerId)).map((event) => [event.id, event.cursor]));
    for (const event of received) expect(event.cursor).toBe(byId.get(event.id));
  });

  it('misses nothing committed while the replay is being read, across several pages', async () => {
    const { ledgerId } = await createProgram(t);
    const accounts = await Promise.all([1, 2, 3].map(() => createAccount(t, ledgerId)));
    const start = await headCursor(ledgerId);
    const before: string[] = [];
    // More than one tail read's worth (TAIL_SCAN_MAX), so the replay spans pages.
    const items = accounts.flatMap((account) => Array<string>(50).fill(account.id));
    for (let batch = 0; batch < 2; batch += 1) before.push(...(await issueBatch(ledgerId, items)));

    const stream = client().subscribe(TRANSACTIONS, { ledgerId, after: start });
    // Postings race the replay: some commit while its first pages are read, the rest after it went live.
    const during = Promise.all(accounts.map((account) => issue(t, account.id, '7')));
    const firstPage = await take(stream, 50);
    const concurrent = await during;
    const rest = await take(stream, before.length + concurrent.length - firstPage.length);
    const received = [...firstPage, ...rest].map((event) => event.id);

    expect(new Set(received).size).toBe(received.length);
    expect(received).toEqual((await feed(ledgerId)).map((event) => event.id));
    expect(received).toEqual(expect.arrayContaining([...before, ...concurrent]));
  });

  it('resumes after a disconnect in the middle of a burst: every posting once, in feed order', async () => {
    const { ledgerId } = await createProgram(t);
    const accounts = await Promise.all([1, 2, 3, 4].map(() => createAccount(t, ledgerId)));
    const ready = listenersGrow();
    const firstConnection = client();
    const stream = firstConnection.subscribe(TRANSACTIONS, { ledgerId, after: 'now' });
    await ready();

    const burst = Promise.all(
      accounts.map(async (account) => {
        const ids: string[] = [];
        for (let n = 0; n < 10; n += 1) ids.push(await issue(t, account.id, '1'));
        return ids;
      }),
    );
    const beforeDrop = await take(stream, 7);
    await firstConnection.dispose();
    const posted = (await burst).flat();

    const resumed = client().subscribe(TRANSACTIONS, { ledgerId, after: beforeDrop.at(-1).cursor });
    const afterDrop = await take(resumed, posted.length - beforeDrop.length);
    const received = [...beforeDrop, ...afterDrop].map((event) => event.id);

    expect(new Set(received).size).toBe(posted.length);
    expect(received.sort()).toEqual([...posted].sort());
    expect([...beforeDrop, ...afterDrop].map((event) => event.id)).toEqual((await feed(ledgerId)).map((e) => e.id));
  });

  it('keeps feed order across a posting held open while others commit and go live', async () => {
    const { ledgerId } = await createProgram(t);
    // The held posting is in another asset, so it shares no balance row (not even a shard of
    // system:issuance, which it may lock before it waits) with the postings that must commit meanwhile.
    await createAsset(t, ledgerId, 'GEM');
    const held = await createAccount(t, ledgerId);
    const others = await Promise.all([1, 2, 3].map(() => createAccount(t, ledgerId)));
    const cursor = await headCursor(ledgerId, [await issue(t, held.id, '1', 'GEM')]);
    const replayed = [await issue(t, others[0]!.id, '1'), await issue(t, others[1]!.id, '1')];

    const lock = await holdBalance(held.id);
    const heldPosting = issue(t, held.id, '5', 'GEM');
    await someoneWaitsOnALock();

    const ready = listenersGrow(2);
    const resumable = client().subscribe(TRANSACTIONS, { ledgerId, after: cursor });
    const liveOnly = client().subscribe(TRANSACTIONS, { ledgerId });
    await ready();
    // The replay of what committed before the held posting began is not held back by it.
    expect((await take(resumable, 2)).map((event) => event.id)).toEqual(replayed);

    // These commit (and are announced) while the held posting, older in the feed, is still open.
    const committedMeanwhile: string[] = [];
    for (const other of others) committedMeanwhile.push(await issue(t, other.id, '2'));
    // A live-only subscriber sees them at once, in commit order.
    expect((await take(liveOnly, 3)).map((event) => event.id)).toEqual(committedMeanwhile);

    await lock.release();
    const heldId = await heldPosting;
    const afterSeam = await issue(t, others[2]!.id, '3');
    const received = (await take(resumable, 5)).map((event) => event.id);

    // The resumable stream follows the feed: the held posting first (its writing transaction is older).
    expect(received).toEqual([heldId, ...committedMeanwhile, afterSeam]);
    expect([...replayed, ...received]).toEqual((await feed(ledgerId)).slice(1).map((event) => event.id));
  });

  it('delivers a posting held back by an unrelated open transaction once it ends, with nothing more announced', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const elsewhere = await createAccount(t, (await createProgram(t)).ledgerId);
    await issue(t, elsewhere.id, '1');
    const ready = listenersGrow();
    const stream = client().subscribe(TRANSACTIONS, { accountId: customer.id, after: 'now' });
    await ready();

    // An open transaction of another tree, older than the posting: the posting is announced at once but
    // stays above the feed's watermark until it ends, and its end is announced to no one.
    const lock = await holdBalance(elsewhere.id);
    const posted = await issue(t, customer.id, '2');
    const arrived = take(stream, 1);
    await lock.release();
    expect((await arrived).map((event) => event.id)).toEqual([posted]);
  });

  it('sends a hold and its void as two events of one transaction, each with its own cursor', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const cursor = await headCursor(ledgerId, [await issue(t, customer.id, '10')]);
    const hold = ok(
      await t.gql(`mutation($i: HoldInput!) { hold(input: $i) { transaction { id } } }`, {
        i: { accountId: customer.id, asset: 'PTS', amount: '4', idempotencyKey: key('hold') },
      }),
    ).hold.transaction.id;
    ok(
      await t.gql(
        `mutation($id: ID!, $k: String!) { voidPendingTransaction(id: $id, idempotencyKey: $k) { replayed } }`,
        {
          id: hold,
          k: key('void'),
        },
      ),
    );
    const stream = client().subscribe(TRANSACTIONS, { accountId: customer.id, after: cursor });
    const [posted, voided] = await take(stream, 2);
    expect([posted.id, voided.id]).toEqual([hold, hold]);
    expect(posted.cursor).not.toBe(voided.cursor);
    // Resuming between the two sends only the void.
    const resumed = client().subscribe(TRANSACTIONS, { accountId: customer.id, after: posted.cursor });
    expect((await take(resumed, 1))[0]).toEqual(voided);
  });

  it('refuses a cursor it did not issue with BAD_USER_INPUT', async () => {
    const { ledgerId } = await createProgram(t);
    const refusals = [
      { ledgerId, after: 'not-a-cursor' },
      { ledgerId, after: Buffer.from('ev:1:x').toString('base64url') },
      // A transaction that has not started yet cannot have written an event.
      { ledgerId, after: Buffer.from('ev:900000000000000:1').toString('base64url') },
      // The feed is kept per tree: a global credential must say which.
      { after: 'now' },
    ];
    for (const variables of refusals) {
      const result = await client().subscribe(TRANSACTIONS, variables).next();
      expect(result.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    }
  });

  it("shows nothing of another tree, even from that tree's cursor", async () => {
    const mine = await createProgram(t);
    const theirs = await createProgram(t);
    const myAccount = await createAccount(t, mine.ledgerId);
    const theirAccount = await createAccount(t, theirs.ledgerId);
    const theirFirst = await issue(t, theirAccount.id, '1');
    const theirCursor = (await feedShowing(theirs.ledgerId, [theirFirst]))[0]!.cursor;
    await issue(t, theirAccount.id, '2');
    const mineFirst = await issue(t, myAccount.id, '3');
    await issue(t, theirAccount.id, '4');

    const ready = listenersGrow();
    const stream = client().subscribe(TRANSACTIONS, { ledgerId: mine.ledgerId, after: theirCursor });
    await ready();
    await issue(t, theirAccount.id, '5');
    const mineLast = await issue(t, myAccount.id, '6');
    expect((await take(stream, 2)).map((event) => event.id)).toEqual([mineFirst, mineLast]);
  });

  it("gives a key scoped to a sub-ledger only its subtree's transactions", async () => {
    const { ledgerId } = await createProgram(t);
    const branch = await createLedger(t, { parentId: ledgerId });
    const inside = await createAccount(t, branch.id);
    const outside = await createAccount(t, ledgerId);
    const secret = ok(
      await t.gql(
        `mutation($l: ID!) { createApiKey(input: { name: "branch reader", role: READER, ledgerId: $l }) { secret } }`,
        { l: branch.id },
      ),
    ).createApiKey.secret;
    const cursor = await headCursor(ledgerId);
    await issue(t, outside.id, '1');
    const insideFirst = await issue(t, inside.id, '2');
    await issue(t, outside.id, '3');

    // Without ledgerId, a scoped key follows its own subtree; its root's ledger is out of its reach.
    const ready = listenersGrow();
    const stream = client(secret).subscribe(TRANSACTIONS, { after: cursor });
    await ready();
    const insideLast = await issue(t, inside.id, '4');
    expect((await take(stream, 2)).map((event) => event.id)).toEqual([insideFirst, insideLast]);
    const refused = await client(secret).subscribe(TRANSACTIONS, { ledgerId, after: cursor }).next();
    expect(refused.errors?.[0]?.extensions.code).toMatch(/FORBIDDEN|NOT_FOUND/);
  });
});

describe('a customer token resuming', () => {
  async function customerToken(accountId: string): Promise<string> {
    return ok(
      await t.gql(`mutation($a: ID!) { createCustomerToken(accountId: $a, ttlSeconds: 600) { token } }`, {
        a: accountId,
      }),
    ).createCustomerToken.token;
  }

  it('replays and follows only its own account, starting from "now"', async () => {
    const { ledgerId } = await createProgram(t);
    const mine = await createAccount(t, ledgerId);
    const neighbour = await createAccount(t, ledgerId);
    const token = await customerToken(mine.id);

    const ready = listenersGrow();
    const firstConnection = client(token);
    const stream = firstConnection.subscribe(TRANSACTIONS, { accountId: mine.id, after: 'now' });
    await ready();
    // The neighbour's posting comes first in the feed; the token's stream must pass over it.
    await issue(t, neighbour.id, '1');
    const mineFirst = await issue(t, mine.id, '2');
    const [firstEvent] = await take(stream, 1);
    expect(firstEvent.id).toBe(mineFirst);
    await firstConnection.dispose();

    await issue(t, neighbour.id, '3');
    const mineSecond = await issue(t, mine.id, '4');
    const resumed = client(token).subscribe(TRANSACTIONS, { accountId: mine.id, after: firstEvent.cursor });
    const [secondEvent] = await take(resumed, 1);
    expect(secondEvent.id).toBe(mineSecond);
    expect(secondEvent.entries.map((entry: any) => entry.account?.id ?? null)).toContain(mine.id);

    for (const variables of [
      { accountId: neighbour.id, after: 'now' },
      { ledgerId, after: 'now' },
    ]) {
      const refused = await client(token).subscribe(TRANSACTIONS, variables).next();
      expect(refused.errors?.[0]?.extensions.code).toMatch(/FORBIDDEN|NOT_FOUND/);
    }
  });
});

describe('balanceUpdated(after:)', () => {
  it('resumes after a version gap: the balance again, and each event with a cursor to resume from', async () => {
    const { ledgerId } = await createProgram(t);
    const account = await createAccount(t, ledgerId);
    await issue(t, account.id, '10');

    const ready = listenersGrow();
    const firstConnection = client();
    const stream = firstConnection.subscribe(BALANCES, { accountId: account.id, after: 'now', includeCurrent: true });
    await ready();
    const [current] = await take(stream, 1, 'balanceUpdated');
    expect(current.posted).toBe('10');
    expect(current.cursor).toEqual(expect.any(String));
    await issue(t, account.id, '5');
    const [live] = await take(stream, 1, 'balanceUpdated');
    expect(live).toEqual({ posted: '15', version: current.version + 1, cursor: expect.any(String) });
    await firstConnection.dispose();

    // Missed while disconnected: the client would see a version gap on its next live event.
    await issue(t, account.id, '1');
    await issue(t, account.id, '2');
    const resumed = client().subscribe(BALANCES, { accountId: account.id, after: live.cursor });
    const replayed: any[] = [];
    while (replayed.at(-1)?.posted !== '18') replayed.push(...(await take(resumed, 1, 'balanceUpdated')));
    const versions = replayed.map((balance) => balance.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
    expect(versions[0]).toBeGreaterThan(live.version);
    expect(replayed.at(-1).version).toBe(live.version + 2);
    await issue(t, account.id, '3');
    expect((await take(resumed, 1, 'balanceUpdated'))[0].posted).toBe('21');

    // The current balance's cursor (the head when it was read) resumes too.
    const fromCurrent = client().subscribe(BALANCES, { accountId: account.id, after: current.cursor });
    const again: any[] = [];
    while (again.at(-1)?.posted !== '21') again.push(...(await take(fromCurrent, 1, 'balanceUpdated')));
    expect(again[0].version).toBeGreaterThan(current.version);
  });
});
