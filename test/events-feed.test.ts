import pg from 'pg';
import { createAccount, createProgram, issue } from './support/builders';
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
  const held = await createAccount(t, ledgerId);
  const others = await Promise.all([1, 2, 3, 4].map(() => createAccount(t, ledgerId)));
  await issue(t, held.id, '1');

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
  await blocker.query('BEGIN');
  await blocker.query('SELECT 1 FROM balances WHERE account_id = $1 FOR UPDATE', [held.id]);
  const heldPosting = issue(t, held.id, '5');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const committed: string[] = [];
  for (const other of others) committed.push(await issue(t, other.id, '2'));
  await readAll();
  const seenWhileHeld = seen.length;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await readAll();
  expect(seen.length).toBe(seenWhileHeld);
  await blocker.query('COMMIT');
  await blocker.end();
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
