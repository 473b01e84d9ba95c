import { createAccount, createLedger, key } from './support/builders';
import { ok, startTestServer, type TestServer } from './support/server';
import { CHECKPOINT_AFTER_ENTRIES } from '../src/accounts/balance-history.service';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const AS_OF = `query($id: ID!, $at: DateTime) { account(id: $id) { balance(asset: "USD", asOf: $at) { posted creditsPosted } } }`;

it('leaves a checkpoint after summing a long history, and a backdated posting invalidates it', async () => {
  const ledger = await createLedger(t);
  ok(
    await t.gql(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "USD", name: "Dollars", kind: CURRENCY, scale: 2 }) { id } }`,
      { l: ledger.id },
    ),
  );
  const customer = await createAccount(t, ledger.id);
  const day = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 3_600_000).toISOString();
  const credit = (amount: string, effectiveAt: string) => ({
    ledgerId: ledger.id,
    idempotencyKey: key(),
    effectiveAt,
    entries: [
      { accountCode: 'system:issuance', asset: 'USD', direction: 'DEBIT', amount },
      { accountId: customer.id, asset: 'USD', direction: 'CREDIT', amount },
    ],
  });
  const BATCH = `mutation($input: PostTransactionsInput!) { postTransactions(input: $input) { error { code } } }`;
  const entries = CHECKPOINT_AFTER_ENTRIES + 100;
  for (let start = 0; start < entries; start += 500) {
    const items = Array.from({ length: Math.min(500, entries - start) }, (_, index) => credit('1', day(start + index)));
    expect(
      ok(await t.gql(BATCH, { input: { transactions: items } })).postTransactions.every(
        (item: any) => item.error === null,
      ),
    ).toBe(true);
  }

  const late = day(entries + 10);
  expect(ok(await t.gql(AS_OF, { id: customer.id, at: late })).account.balance.posted).toBe(String(entries));
  const { rows } = await t.db.pool.query(
    'SELECT as_of, credits_posted FROM balance_checkpoints WHERE account_id = $1',
    [customer.id],
  );
  expect(rows).toEqual([{ as_of: new Date(late), credits_posted: String(entries) }]);
  // Answers from the checkpoint agree with a full recount, before and after it.
  expect(ok(await t.gql(AS_OF, { id: customer.id, at: day(entries + 20) })).account.balance.posted).toBe(
    String(entries),
  );
  expect(ok(await t.gql(AS_OF, { id: customer.id, at: day(99) })).account.balance.posted).toBe('100');

  // A posting backdated before the checkpoint removes it, so no answer goes stale.
  ok(
    await t.gql(`mutation($input: PostTransactionInput!) { postTransaction(input: $input) { transaction { id } } }`, {
      input: credit('7', day(5)),
    }),
  );
  expect(
    (await t.db.pool.query('SELECT count(*)::int AS n FROM balance_checkpoints WHERE account_id = $1', [customer.id]))
      .rows[0].n,
  ).toBe(0);
  expect(ok(await t.gql(AS_OF, { id: customer.id, at: late })).account.balance.posted).toBe(String(entries + 7));
}, 120_000);
