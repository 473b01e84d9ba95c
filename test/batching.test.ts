import { createAccount, createProgram, issue, key, TRANSFER } from './support/builders';
import { ok, startTestServer, type TestServer } from './support/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const PAGE = `query($l: ID!, $n: Int!) {
  accounts(ledgerId: $l, first: $n) {
    edges { node { id code ledger { id code } balances { posted available version asset { code } }
      entries(first: 5) { edges { node { amount direction transaction { kind } } } } } }
  }
}`;

/** Statements one request sends to Postgres, counted at the driver. */
async function statementsFor(query: string, variables: Record<string, unknown>): Promise<{ count: number; data: any }> {
  const before = t.db.statementCount();
  const data = ok(await t.gql(query, variables));
  return { count: t.db.statementCount() - before, data };
}

it('reads 50 accounts with their ledger, balances and entries in a bounded number of statements that does not grow with the page', async () => {
  const { ledgerId } = await createProgram(t);
  for (let index = 0; index < 50; index += 1) {
    const account = await createAccount(t, ledgerId, { code: `batch:${String(index).padStart(2, '0')}` });
    await issue(t, account.id, String(index + 1));
  }

  // Assets and ledger placements are remembered per process: warm them so both pages compare alike.
  await statementsFor(PAGE, { l: ledgerId, n: 1 });
  const small = await statementsFor(PAGE, { l: ledgerId, n: 5 });
  const large = await statementsFor(PAGE, { l: ledgerId, n: 50 });

  const customers = large.data.accounts.edges.filter((edge: any) => edge.node.code.startsWith('batch:'));
  // The page of 50 also holds the root's five system accounts.
  expect(customers).toHaveLength(45);
  expect(customers[0].node.balances[0]).toMatchObject({ asset: { code: 'PTS' }, version: 1 });
  expect(customers[0].node.entries.edges[0].node.transaction.kind).toBe('ISSUE');
  // ledger lookup for scope, the page, ledgers, balances, assets, entries, transactions: one each.
  expect(large.count).toBeLessThanOrEqual(8);
  expect(large.count).toBe(small.count);
});

it('reads the same account twice in one request with one statement per relation', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  await issue(t, account.id, '5');
  const { count } = await statementsFor(
    `query($id: ID!) { a: account(id: $id) { balance(asset: "PTS") { posted } } b: account(id: $id) { balance(asset: "PTS") { posted } balances { posted } } }`,
    { id: account.id },
  );
  expect(count).toBeLessThanOrEqual(3);
});

it('reads an account by id with its balances in one statement', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  await issue(t, account.id, '12');
  const { count, data } = await statementsFor(
    `query($id: ID!) { account(id: $id) { code balances { posted version asset { code } } } }`,
    { id: account.id },
  );
  expect(data.account.balances).toEqual([{ posted: '12', version: 1, asset: { code: 'PTS' } }]);
  // The asset was read by the issue already (assets are remembered), the bootstrap secret needs no lookup.
  expect(count).toBe(1);
});

it('writes a transfer between accounts it has seen before in one statement: no BEGIN, no reads, no COMMIT', async () => {
  // Events fan out in-process here: with Postgres fan-out a NOTIFY follows commits, batched across postings.
  const local = await startTestServer({ realtime: { fanout: 'local' } });
  try {
    const { ledgerId } = await createProgram(local);
    const [alice, bob] = [await createAccount(local, ledgerId), await createAccount(local, ledgerId)];
    await issue(local, alice.id, '100');
    const transfer = (amount: string) => ({
      input: { fromAccountId: alice.id, toAccountId: bob.id, asset: 'PTS', amount, idempotencyKey: key() },
    });
    ok(await local.gql(TRANSFER, transfer('1')));

    const before = local.db.statementCount();
    expect(ok(await local.gql(TRANSFER, transfer('2'))).transfer.replayed).toBe(false);
    expect(local.db.statementCount() - before).toBe(1);
  } finally {
    await local.stop();
  }
});
