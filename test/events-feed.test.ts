import pg from 'pg';
import { createAccount, createAsset, createProgram, issue } from './support/builders';
import { ok, startTestServer, type TestServer } from './support/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const EVENTS = `query($l: ID!, $a: String) { events(ledgerId: $l, after: $a, first: 3) {
  edges { cursor node { id type data transaction { id } } } pageInfo { endCursor } } }`;

it('never misses or repeats an event while one posting stays open for seconds', async () => {
  const { ledgerId } = await createProgram(t);
  // The held posting is in its own asset: it locks the issuance account's GEM rows, never a PTS shard that
  // one of the other postings might pick (they would queue behind it, and the test would wait on itself).
  await createAsset(t, ledgerId, 'GEM');
  const held = await createAccount(t, ledgerId);
  const others = await Promise.all([1, 2, 3, 4].map(() => createAccount(t, ledgerId)));
  await issue(t, held.id, '1', 'GEM');

  const seen: string[] = [];
  let cursor: string | null = null;
  const readAll = async () => {
    for (;;) {
      const page: any = ok(await t.gql(EVENTS, { l: ledgerId, a: cursor })).events;
      for (const edge of page.edges) seen.push(edge.node.id);
      cursor = page.pageInfo.endCursor;
      if (page.edges.length === 0) return;
    }
  };
  await readAll();

  // A second connection holds the held account's balance row, so its posting writes its transaction and
  // event row (taking an xid) and then waits, while later postings commit with larger xids.
  const blocker = new pg.Client({ connectionString: t.databaseUrl });
  await blocker.connect();
  let heldPosting!: Promise<string>;
  const committed: string[] = [];
  try {
    const {
      rows: [{ root }],
    } = await blocker.query('SELECT root_ledger_id AS root FROM accounts WHERE id = $1', [held.id]);
    await blocker.query('BEGIN');
    // With the root, which Citus needs to lock rows (it routes the statement to the root's shard).
    await blocker.query('SELECT 1 FROM balances WHERE root_ledger_id = $1 AND account_id = $2 FOR UPDATE', [
      root,
      held.id,
    ]);
    heldPosting = issue(t, held.id, '5', 'GEM');
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const other of others) committed.push(await issue(t, other.id, '2'));
    await readAll();
    const seenWhileHeld = seen.length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await readAll();
    expect(seen.length).toBe(seenWhileHeld);
  } finally {
    // Released whatever happened, so a failure here cannot hold back the next test's feed.
    await blocker.query('COMMIT');
    await blocker.end();
  }
  const heldId = await heldPosting;
  await readAll();

  expect(new Set(seen).size).toBe(seen.length);
  const all: any = ok(
    await t.gql(`query($l: ID!) { events(ledgerId: $l, first: 500) { edges { node { id transaction { id } } } } }`, {
      l: ledgerId,
    }),
  ).events.edges.map((edge: any) => edge.node);
  expect(seen).toEqual(all.map((node: any) => node.id));
  const transactionIds = all.map((node: any) => node.transaction?.id).filter(Boolean);
  for (const id of [heldId, ...committed]) expect(transactionIds).toContain(id);
});

it('is not held back by a transaction left open in another database of the same server', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  // An open transaction with an id, in another database: it can write no event of this one, so the feed
  // must not wait for it (a cluster-wide watermark, pg_snapshot_xmin, would wait as long as it stays open).
  const elsewhere = new URL(t.databaseUrl);
  elsewhere.pathname = '/postgres';
  const other = new pg.Client({ connectionString: elsewhere.toString() });
  await other.connect();
  try {
    await other.query('BEGIN');
    await other.query('SELECT pg_current_xact_id()');
    const transactionId = await issue(t, account.id, '3');
    let found = false;
    // Bounded: the server's own short transactions in this database may delay the mark for a moment.
    for (let attempt = 0; attempt < 50 && !found; attempt++) {
      const page: any = ok(
        await t.gql(`query($l: ID!) { events(ledgerId: $l, first: 500) { edges { node { transaction { id } } } } }`, {
          l: ledgerId,
        }),
      ).events;
      found = page.edges.some((edge: any) => edge.node.transaction?.id === transactionId);
      if (!found) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(found).toBe(true);
    // Still open: the event was read while the other database's transaction held the oldest id.
    const { rows } = await other.query('SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS open');
    expect(rows[0].open).toBe(true);
  } finally {
    await other.query('ROLLBACK').catch(() => undefined);
    await other.end();
  }
});
