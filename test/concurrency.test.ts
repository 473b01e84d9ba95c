import { balanceOf, createAccount, createProgram, issue, key, REDEEM, TRANSFER } from './support/builders';
import { startTestServer, type GraphQLResponse, type TestServer } from './support/server';
import { balancesDisagreeingWithEntries, unbalancedAssets } from './support/snapshot';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

function codes(responses: GraphQLResponse[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const response of responses) {
    const code = response.errors?.[0]?.extensions.code ?? 'OK';
    counts[code] = (counts[code] ?? 0) + 1;
  }
  return counts;
}

/** Samples the account's balance while the race runs, so "never negative" is observed, not assumed. */
async function sampleWhile(accountId: string, race: Promise<unknown>): Promise<number[]> {
  const seen: number[] = [];
  let done = false;
  void race.finally(() => (done = true));
  while (!done) {
    const { rows } = await t.db.pool.query(
      `SELECT sum(credits_posted - debits_posted - debits_pending)::int AS available FROM balances WHERE account_id = $1`,
      [accountId],
    );
    seen.push(rows[0].available);
  }
  return seen;
}

it('lets exactly 20 of 60 racing redemptions of 10 succeed against a balance of 200', async () => {
  const { ledgerId } = await createProgram(t);
  const customer = await createAccount(t, ledgerId);
  await issue(t, customer.id, '200');

  const race = Promise.all(
    Array.from({ length: 60 }, () =>
      t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '10', idempotencyKey: key('race') } }),
    ),
  );
  const samples = await sampleWhile(customer.id, race);
  const responses = await race;

  expect(codes(responses)).toEqual({ OK: 20, INSUFFICIENT_FUNDS: 40 });
  expect(await balanceOf(t, customer.id)).toMatchObject({ posted: '0', available: '0', version: 21 });
  expect(samples.length).toBeGreaterThan(0);
  expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
  const { rows } = await t.db.pool.query(
    // With the root, as every statement on a tenant table carries it (Citus routes by it).
    `SELECT count(*)::int AS n FROM transactions t
       JOIN entries e ON e.root_ledger_id = t.root_ledger_id AND e.transaction_id = t.id
      WHERE e.account_id = $1 AND t.kind = 'REDEEM'`,
    [customer.id],
  );
  expect(rows[0].n).toBe(20);
});

it('turns 40 concurrent identical requests with one idempotency key into one transaction', async () => {
  const { ledgerId } = await createProgram(t);
  const customer = await createAccount(t, ledgerId);
  const input = { accountId: customer.id, asset: 'PTS', amount: '7', idempotencyKey: key('same') };
  const responses = await Promise.all(
    Array.from({ length: 40 }, () =>
      t.gql(`mutation($input: IssueInput!) { issue(input: $input) { replayed transaction { id } } }`, { input }),
    ),
  );
  expect(codes(responses)).toEqual({ OK: 40 });
  const ids = new Set(responses.map((response) => response.data!.issue.transaction.id));
  expect(ids.size).toBe(1);
  expect(responses.filter((response) => response.data!.issue.replayed === false)).toHaveLength(1);
  expect(await balanceOf(t, customer.id)).toMatchObject({ posted: '7', version: 1 });
  const { rows } = await t.db.pool.query('SELECT count(*)::int AS n FROM transactions WHERE idempotency_key = $1', [
    input.idempotencyKey,
  ]);
  expect(rows[0].n).toBe(1);
});

it('runs 200 crossing transfers among 4 accounts without a deadlock or internal error reaching a client', async () => {
  const { ledgerId } = await createProgram(t);
  const accounts: Array<{ id: string }> = [];
  for (let index = 0; index < 4; index += 1) {
    const account = await createAccount(t, ledgerId);
    await issue(t, account.id, '1000');
    accounts.push(account);
  }
  const responses = await Promise.all(
    Array.from({ length: 200 }, (_, index) => {
      const from = accounts[index % 4]!;
      // An offset of 1 to 3 crosses every pair in both directions and never transfers to itself.
      const to = accounts[(index + 1 + (index % 3)) % 4]!;
      return t.gql(TRANSFER, {
        input: {
          fromAccountId: from.id,
          toAccountId: to.id,
          asset: 'PTS',
          amount: String(1 + (index % 17)),
          idempotencyKey: key('cross'),
        },
      });
    }),
  );
  const outcome = codes(responses);
  expect(Object.keys(outcome).filter((code) => !['OK', 'INSUFFICIENT_FUNDS'].includes(code))).toEqual([]);
  expect(outcome.OK).toBeGreaterThan(150);

  let total = 0n;
  for (const account of accounts) total += BigInt((await balanceOf(t, account.id)).posted as string);
  expect(total).toBe(4000n);
  expect(await unbalancedAssets(t.db)).toEqual([]);
  expect(await balancesDisagreeingWithEntries(t.db)).toEqual([]);
});

it('never closes an account while a posting to it is in flight', async () => {
  const { ledgerId } = await createProgram(t);
  const customer = await createAccount(t, ledgerId);
  const closing = t.gql(`mutation($id: ID!) { updateAccount(id: $id, input: { status: CLOSED }) { status } }`, {
    id: customer.id,
  });
  const issuing = Promise.all(
    Array.from({ length: 10 }, () =>
      t.gql(`mutation($input: IssueInput!) { issue(input: $input) { replayed } }`, {
        input: { accountId: customer.id, asset: 'PTS', amount: '1', idempotencyKey: key('inflight') },
      }),
    ),
  );
  const [closed] = await Promise.all([closing, issuing]);
  const balance = await balanceOf(t, customer.id);
  if (closed.errors) expect(closed.errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
  else expect(balance.posted).toBe('0');
});
