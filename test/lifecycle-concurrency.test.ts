import { balanceOf, createAccount, createLedger, key } from './support/builders';
import { ok, startTestServer, type TestServer } from './support/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const DAY = 86_400_000;
const INTEGRITY = `query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok problems } }`;

async function program(): Promise<string> {
  const ledger = await createLedger(t);
  ok(
    await t.gql(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "PTS", name: "Points", kind: POINTS, scale: 0, expiresAfterDays: 365 }) { id } }`,
      { l: ledger.id },
    ),
  );
  return ledger.id;
}

async function issue(accountId: string, amount: string, expiresAt?: string): Promise<void> {
  ok(
    await t.gql(`mutation($input: IssueInput!) { issue(input: $input) { replayed } }`, {
      input: { accountId, asset: 'PTS', amount, idempotencyKey: key(), expiresAt },
    }),
  );
}

it('settles each of 20 holds exactly once when a post and a void race for it', async () => {
  const ledgerId = await program();
  const customer = await createAccount(t, ledgerId);
  await issue(customer.id, '2000');
  const holds: string[] = [];
  for (let index = 0; index < 20; index += 1) {
    holds.push(
      ok(
        await t.gql(`mutation($input: HoldInput!) { hold(input: $input) { transaction { id } } }`, {
          input: { accountId: customer.id, asset: 'PTS', amount: '50', idempotencyKey: key() },
        }),
      ).hold.transaction.id,
    );
  }

  const races = await Promise.all(
    holds.map((id) =>
      Promise.all([
        t.gql(
          `mutation($id: ID!, $k: String!) { postPendingTransaction(id: $id, idempotencyKey: $k) { transaction { id } } }`,
          { id, k: key() },
        ),
        t.gql(
          `mutation($id: ID!, $k: String!) { voidPendingTransaction(id: $id, idempotencyKey: $k) { transaction { id } } }`,
          { id, k: key() },
        ),
      ]),
    ),
  );

  let posted = 0;
  for (const [post, voided] of races) {
    const outcomes = [post, voided].map((response) => response.errors?.[0]?.extensions.code ?? 'OK').sort();
    expect(outcomes).toEqual(['OK', 'TRANSACTION_NOT_PENDING']);
    if (!post.errors) posted += 1;
  }
  const { rows } = await t.db.pool.query(`SELECT count(*)::int AS n FROM hold_settlements WHERE root_ledger_id = $1`, [
    ledgerId,
  ]);
  expect(rows[0].n).toBe(20);
  expect(await balanceOf(t, customer.id)).toMatchObject({
    posted: String(2000 - 50 * posted),
    debitsPending: '0',
    available: String(2000 - 50 * posted),
  });
  expect(ok(await t.gql(INTEGRITY, { l: ledgerId })).ledgerIntegrity).toEqual({ ok: true, problems: [] });
});

it('expires each lot once when two expiry runs overlap', async () => {
  const ledgerId = await program();
  const expiresAt = new Date(Date.now() + DAY).toISOString();
  const accounts = [];
  for (let index = 0; index < 24; index += 1) {
    const account = await createAccount(t, ledgerId);
    await issue(account.id, String(10 + index), expiresAt);
    await issue(account.id, '5');
    accounts.push(account);
  }
  const asOf = new Date(Date.now() + 2 * DAY).toISOString();
  const RUN = `mutation($l: ID!, $asOf: DateTime) { runExpiry(ledgerId: $l, asOf: $asOf) { transactionsPosted } }`;
  const [first, second, tick] = await Promise.all([
    t.gql(RUN, { l: ledgerId, asOf }),
    t.gql(RUN, { l: ledgerId, asOf }),
    t.server.scheduler.tick(new Date(asOf)),
  ]);
  expect(
    ok(first).runExpiry.transactionsPosted + ok(second).runExpiry.transactionsPosted + tick.expiryTransactions,
  ).toBe(24);
  for (const account of accounts) expect((await balanceOf(t, account.id)).posted).toBe('5');
  const { rows } = await t.db.pool.query(
    `SELECT count(*)::int AS n FROM transactions WHERE root_ledger_id = $1 AND kind = 'EXPIRE'`,
    [ledgerId],
  );
  expect(rows[0].n).toBe(24);
  expect(ok(await t.gql(RUN, { l: ledgerId, asOf })).runExpiry.transactionsPosted).toBe(0);
  expect(ok(await t.gql(INTEGRITY, { l: ledgerId })).ledgerIntegrity).toEqual({ ok: true, problems: [] });
});

it('runs concurrent atomic batches over shared accounts without a single deadlock', async () => {
  const ledgerId = await program();
  const accounts: string[] = [];
  for (let index = 0; index < 8; index += 1) {
    const account = await createAccount(t, ledgerId);
    await issue(account.id, '100000');
    accounts.push(account.id);
  }
  // Every batch moves value between the same 8 accounts in a different random order.
  const batch = () => ({
    transactions: Array.from({ length: 40 }, () => {
      const from = accounts[Math.floor(Math.random() * accounts.length)]!;
      const to = accounts.filter((account) => account !== from)[Math.floor(Math.random() * (accounts.length - 1))]!;
      return {
        ledgerId,
        idempotencyKey: key(),
        kind: 'TRANSFER',
        entries: [
          { accountId: from, asset: 'PTS', direction: 'DEBIT', amount: '1' },
          { accountId: to, asset: 'PTS', direction: 'CREDIT', amount: '1' },
        ],
      };
    }),
  });
  const retries = async () =>
    Number(
      /reward_ledger_posting_retries_total (\d+)/.exec(
        await (await fetch(t.url.replace('/graphql', '/metrics'))).text(),
      )?.[1] ?? NaN,
    );
  const before = await retries();
  const results = await Promise.all(
    Array.from({ length: 8 }, () =>
      t.gql(`mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { error { code } } }`, { i: batch() }),
    ),
  );
  expect(results.map((result) => result.errors?.[0]?.extensions.code ?? 'OK')).toEqual(Array(8).fill('OK'));
  expect(await retries()).toBe(before);
  expect(ok(await t.gql(INTEGRITY, { l: ledgerId })).ledgerIntegrity).toEqual({ ok: true, problems: [] });
});
