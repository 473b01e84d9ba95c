import { balanceOf, createAccount, createLedger, key } from './support/builders';
import { errorCode, ok, startTestServer, type TestServer } from './support/server';
import { snapshotLedger } from './support/snapshot';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const DAY = 86_400_000;
const inDays = (days: number) => new Date(Date.now() + days * DAY).toISOString();

/** A program whose PTS expire 365 days after issue, plus a plain USD asset. */
async function expiringProgram(): Promise<{ ledgerId: string }> {
  const ledger = await createLedger(t);
  ok(
    await t.gql(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "PTS", name: "Points", kind: POINTS, scale: 0, expiresAfterDays: 365 }) { id } }`,
      { l: ledger.id },
    ),
  );
  ok(
    await t.gql(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "USD", name: "Dollars", kind: CURRENCY, scale: 2 }) { id } }`,
      { l: ledger.id },
    ),
  );
  return { ledgerId: ledger.id };
}

const ISSUE = `mutation($input: IssueInput!) { issue(input: $input) { dryRun replayed transaction { id } } }`;
const REDEEM = `mutation($input: RedeemInput!) { redeem(input: $input) { dryRun replayed transaction { id entries { amount } } } }`;
const TRANSFER = `mutation($input: TransferInput!) { transfer(input: $input) { transaction { id } } }`;
const LOTS = `query($id: ID!) { account(id: $id) { lots(asset: "PTS") { amount remaining expiresAt sourceTransaction { kind } } } }`;
const HOLD = `mutation($input: HoldInput!) { hold(input: $input) { transaction { id status timeoutAt } } }`;
const POST_PENDING = `mutation($id: ID!, $key: String!, $amount: Amount) { postPendingTransaction(id: $id, idempotencyKey: $key, amount: $amount) { replayed transaction { id kind status entries { amount } capturedHold { id status } } } }`;
const VOID_PENDING = `mutation($id: ID!, $key: String!) { voidPendingTransaction(id: $id, idempotencyKey: $key) { replayed transaction { id status } } }`;
const INTEGRITY = `query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok transactionsChecked problems } }`;

async function issue(accountId: string, amount: string, expiresAt?: string): Promise<string> {
  return ok(await t.gql(ISSUE, { input: { accountId, asset: 'PTS', amount, idempotencyKey: key(), expiresAt } })).issue
    .transaction.id;
}

async function lots(
  accountId: string,
): Promise<Array<{ amount: string; remaining: string; expiresAt: string | null }>> {
  return ok(await t.gql(LOTS, { id: accountId })).account.lots;
}

async function expectClean(ledgerId: string): Promise<void> {
  const report = ok(await t.gql(INTEGRITY, { l: ledgerId })).ledgerIntegrity;
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

describe('lots', () => {
  it('opens a lot per issuance and spends the soonest-expiring lot first', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    await issue(customer.id, '100', inDays(30));
    await issue(customer.id, '50', inDays(10));
    await issue(customer.id, '70');
    ok(await t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '60', idempotencyKey: key() } }));

    const open = await lots(customer.id);
    expect(open.map((lot) => [lot.amount, lot.remaining])).toEqual([
      ['100', '90'],
      ['70', '70'],
    ]);
    expect(new Date(open[1]!.expiresAt!).getTime()).toBeGreaterThan(Date.now() + 364 * DAY);
    const all = ok(
      await t.gql(`query($id: ID!) { account(id: $id) { lots(includeClosed: true) { remaining } } }`, {
        id: customer.id,
      }),
    ).account.lots;
    expect(all.map((lot: any) => lot.remaining)).toEqual(['0', '90', '70']);
    await expectClean(ledgerId);
  });

  it('reports what lapses within a window, grouped by instant', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    const soon = inDays(5);
    await issue(customer.id, '10', soon);
    await issue(customer.id, '15', soon);
    await issue(customer.id, '99', inDays(60));
    const expiring = ok(
      await t.gql(
        `query($id: ID!) { account(id: $id) { expiring(asset: "PTS", withinDays: 30) { expiresAt amount } } }`,
        { id: customer.id },
      ),
    ).account.expiring;
    expect(expiring).toEqual([{ expiresAt: soon, amount: '25' }]);
  });

  it('lets transferred points keep their expiry instead of starting a fresh one', async () => {
    const { ledgerId } = await expiringProgram();
    const [alice, bob] = [await createAccount(t, ledgerId), await createAccount(t, ledgerId)];
    const expiresAt = inDays(20);
    await issue(alice.id, '40', expiresAt);
    ok(
      await t.gql(TRANSFER, {
        input: { fromAccountId: alice.id, toAccountId: bob.id, asset: 'PTS', amount: '25', idempotencyKey: key() },
      }),
    );
    expect((await lots(bob.id)).map((lot) => [lot.remaining, lot.expiresAt])).toEqual([['25', expiresAt]]);
    await expectClean(ledgerId);
  });

  it('restores exactly the consumed lots when a redemption is reversed, and closes an unspent issuance lot', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    const first = inDays(3);
    await issue(customer.id, '30', first);
    const later = await issue(customer.id, '50', inDays(40));
    const redemption = ok(
      await t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '45', idempotencyKey: key() } }),
    ).redeem.transaction.id;
    expect((await lots(customer.id)).map((lot) => lot.remaining)).toEqual(['35']);

    ok(
      await t.gql(
        `mutation($id: ID!) { reverseTransaction(id: $id, idempotencyKey: "${key()}") { transaction { id } } }`,
        { id: redemption },
      ),
    );
    expect((await lots(customer.id)).map((lot) => [lot.remaining, lot.expiresAt])).toEqual([
      ['30', first],
      ['50', expect.any(String)],
    ]);

    ok(
      await t.gql(
        `mutation($id: ID!) { reverseTransaction(id: $id, idempotencyKey: "${key()}") { transaction { id } } }`,
        { id: later },
      ),
    );
    expect((await lots(customer.id)).map((lot) => lot.remaining)).toEqual(['30']);
    expect((await balanceOf(t, customer.id)).posted).toBe('30');
    await expectClean(ledgerId);
  });

  it('refuses to reverse an issuance whose points were already spent, changing nothing', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    const issuance = await issue(customer.id, '20', inDays(2));
    await issue(customer.id, '20', inDays(90));
    ok(await t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '5', idempotencyKey: key() } }));
    const before = await snapshotLedger(t.db);
    expect(
      errorCode(
        await t.gql(
          `mutation($id: ID!) { reverseTransaction(id: $id, idempotencyKey: "${key()}") { transaction { id } } }`,
          { id: issuance },
        ),
      ),
    ).toBe('INSUFFICIENT_FUNDS');
    expect(await snapshotLedger(t.db)).toEqual(before);
  });

  it('refuses expiresAt on an asset that does not expire, or in the past', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    expect(
      errorCode(
        await t.gql(ISSUE, {
          input: { accountId: customer.id, asset: 'USD', amount: '1', idempotencyKey: key(), expiresAt: inDays(1) },
        }),
      ),
    ).toBe('BAD_USER_INPUT');
    expect(
      errorCode(
        await t.gql(ISSUE, {
          input: { accountId: customer.id, asset: 'PTS', amount: '1', idempotencyKey: key(), expiresAt: inDays(-1) },
        }),
      ),
    ).toBe('BAD_USER_INPUT');
  });
});

describe('expiry', () => {
  const RUN = `mutation($l: ID!, $asOf: DateTime) { runExpiry(ledgerId: $l, asOf: $asOf) { transactionsPosted } }`;

  it('moves lapsed value to system:expiry once; a repeated run posts nothing', async () => {
    const { ledgerId } = await expiringProgram();
    const [a, b] = [await createAccount(t, ledgerId), await createAccount(t, ledgerId)];
    await issue(a.id, '10', inDays(1));
    await issue(a.id, '90', inDays(100));
    await issue(b.id, '5', inDays(2));

    expect(ok(await t.gql(RUN, { l: ledgerId, asOf: inDays(3) })).runExpiry.transactionsPosted).toBe(2);
    expect(ok(await t.gql(RUN, { l: ledgerId, asOf: inDays(3) })).runExpiry.transactionsPosted).toBe(0);
    expect((await balanceOf(t, a.id)).posted).toBe('90');
    expect((await balanceOf(t, b.id)).posted).toBe('0');
    const expired = ok(
      await t.gql(
        `query($l: ID!) { transactions(ledgerId: $l, filter: { kind: EXPIRE }) { edges { node { entries { direction amount account { code } } } } } }`,
        { l: ledgerId },
      ),
    );
    expect(expired.transactions.edges).toHaveLength(2);
    expect(
      expired.transactions.edges
        .flatMap((edge: any) => edge.node.entries)
        .filter((entry: any) => entry.account.code === 'system:expiry')
        .every((entry: any) => entry.direction === 'CREDIT'),
    ).toBe(true);
    await expectClean(ledgerId);
  });

  it('never expires value a pending hold has reserved', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    await issue(customer.id, '100', inDays(1));
    const hold = ok(
      await t.gql(HOLD, { input: { accountId: customer.id, asset: 'PTS', amount: '70', idempotencyKey: key() } }),
    ).hold.transaction.id;
    expect(ok(await t.gql(RUN, { l: ledgerId, asOf: inDays(2) })).runExpiry.transactionsPosted).toBe(1);
    expect(await balanceOf(t, customer.id)).toMatchObject({ posted: '70', available: '0' });
    ok(await t.gql(POST_PENDING, { id: hold, key: key() }));
    expect(await balanceOf(t, customer.id)).toMatchObject({ posted: '0', available: '0' });
    await expectClean(ledgerId);
  });

  it('expires through the scheduler on its own clock', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    await issue(customer.id, '12', inDays(1));
    const tick = await t.server.scheduler.tick(new Date(Date.now() + 2 * DAY));
    expect(tick.expiryTransactions).toBeGreaterThanOrEqual(1);
    expect((await balanceOf(t, customer.id)).posted).toBe('0');
    const audit = await t.db.pool.query(
      `SELECT actor_type, actor_id FROM audit_events WHERE operation = 'runExpiry' AND root_ledger_id = $1`,
      [ledgerId],
    );
    expect(audit.rows).toEqual([{ actor_type: 'system', actor_id: 'system' }]);
  });
});

describe('holds', () => {
  it('reserves on hold, captures part, and releases the rest', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    await issue(customer.id, '100');
    const hold = ok(
      await t.gql(HOLD, {
        input: { accountId: customer.id, asset: 'PTS', amount: '80', idempotencyKey: key(), timeoutSeconds: 600 },
      }),
    ).hold.transaction;
    expect(hold.status).toBe('PENDING');
    expect(await balanceOf(t, customer.id)).toMatchObject({
      posted: '100',
      available: '20',
      debitsPending: '80',
      pending: '-80',
    });
    expect(
      errorCode(
        await t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '21', idempotencyKey: key() } }),
      ),
    ).toBe('INSUFFICIENT_FUNDS');

    const captureKey = key();
    const capture = ok(
      await t.gql(POST_PENDING, { id: hold.id, key: captureKey, amount: '50' }),
    ).postPendingTransaction;
    expect(capture.transaction).toMatchObject({
      kind: 'REDEEM',
      status: 'POSTED',
      entries: [{ amount: '50' }, { amount: '50' }],
      capturedHold: { id: hold.id, status: 'POSTED' },
    });
    expect(await balanceOf(t, customer.id)).toMatchObject({ posted: '50', available: '50', debitsPending: '0' });
    expect(
      ok(await t.gql(POST_PENDING, { id: hold.id, key: captureKey, amount: '50' })).postPendingTransaction,
    ).toMatchObject({ replayed: true, transaction: { id: capture.transaction.id } });
    expect(errorCode(await t.gql(POST_PENDING, { id: hold.id, key: key() }))).toBe('TRANSACTION_NOT_PENDING');
    expect(errorCode(await t.gql(VOID_PENDING, { id: hold.id, key: key() }))).toBe('TRANSACTION_NOT_PENDING');
    await expectClean(ledgerId);
  });

  it('voids a hold, releasing everything; refuses to capture more than held', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    await issue(customer.id, '30');
    const hold = ok(
      await t.gql(HOLD, { input: { accountId: customer.id, asset: 'PTS', amount: '30', idempotencyKey: key() } }),
    ).hold.transaction.id;
    expect(errorCode(await t.gql(POST_PENDING, { id: hold, key: key(), amount: '31' }))).toBe('BAD_USER_INPUT');
    expect(ok(await t.gql(VOID_PENDING, { id: hold, key: key() })).voidPendingTransaction.transaction.status).toBe(
      'VOIDED',
    );
    expect(await balanceOf(t, customer.id)).toMatchObject({ posted: '30', available: '30', debitsPending: '0' });
    const issued = ok(
      await t.gql(`query($l: ID!) { transactions(ledgerId: $l, filter: { kind: ISSUE }) { edges { node { id } } } }`, {
        l: ledgerId,
      }),
    ).transactions.edges[0].node.id;
    expect(errorCode(await t.gql(VOID_PENDING, { id: issued, key: key() }))).toBe('TRANSACTION_NOT_PENDING');
    await expectClean(ledgerId);
  });

  it('refuses to capture a hold on a frozen account, changing nothing, but releases it', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    await issue(customer.id, '30');
    const hold = ok(
      await t.gql(HOLD, { input: { accountId: customer.id, asset: 'PTS', amount: '20', idempotencyKey: key() } }),
    ).hold.transaction.id;
    ok(
      await t.gql(`mutation($id: ID!) { updateAccount(id: $id, input: { status: FROZEN }) { status } }`, {
        id: customer.id,
      }),
    );

    const before = await snapshotLedger(t.db);
    expect(errorCode(await t.gql(POST_PENDING, { id: hold, key: key(), amount: null }))).toBe('ACCOUNT_NOT_ACTIVE');
    expect(await snapshotLedger(t.db)).toEqual(before);

    expect(ok(await t.gql(VOID_PENDING, { id: hold, key: key() })).voidPendingTransaction.transaction.status).toBe(
      'VOIDED',
    );
    expect(await balanceOf(t, customer.id)).toMatchObject({ posted: '30', available: '30', debitsPending: '0' });
    await expectClean(ledgerId);
  });

  it('voids a hold when its timeout passes', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    await issue(customer.id, '10');
    const hold = ok(
      await t.gql(HOLD, {
        input: { accountId: customer.id, asset: 'PTS', amount: '10', idempotencyKey: key(), timeoutSeconds: 1 },
      }),
    ).hold.transaction.id;
    const tick = await t.server.scheduler.tick(new Date(Date.now() + 2000));
    expect(tick.holdsVoided).toBeGreaterThanOrEqual(1);
    expect(
      ok(await t.gql(`query($id: ID!) { transaction(id: $id) { status } }`, { id: hold })).transaction.status,
    ).toBe('VOIDED');
    expect((await balanceOf(t, customer.id)).available).toBe('10');
  });

  it('makes a pending postTransaction a hold too', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    await issue(customer.id, '10');
    const pending = ok(
      await t.gql(
        `mutation($input: PostTransactionInput!) { postTransaction(input: $input) { transaction { id status } } }`,
        {
          input: {
            ledgerId,
            idempotencyKey: key(),
            pending: true,
            timeoutSeconds: 60,
            entries: [
              { accountId: customer.id, asset: 'PTS', direction: 'DEBIT', amount: '4' },
              { accountCode: 'system:redemption', asset: 'PTS', direction: 'CREDIT', amount: '4' },
            ],
          },
        },
      ),
    ).postTransaction.transaction;
    expect(pending.status).toBe('PENDING');
    expect((await balanceOf(t, customer.id)).available).toBe('6');
    expect(
      errorCode(
        await t.gql(
          `mutation($input: PostTransactionInput!) { postTransaction(input: $input) { transaction { id } } }`,
          {
            input: {
              ledgerId,
              idempotencyKey: key(),
              timeoutSeconds: 60,
              entries: [
                { accountId: customer.id, asset: 'PTS', direction: 'DEBIT', amount: '1' },
                { accountCode: 'system:redemption', asset: 'PTS', direction: 'CREDIT', amount: '1' },
              ],
            },
          },
        ),
      ),
    ).toBe('BAD_USER_INPUT');
  });
});

describe('batches', () => {
  const BATCH = `mutation($input: PostTransactionsInput!) { postTransactions(input: $input) { transaction { id } replayed error { code message } } }`;
  const item = (ledgerId: string, accountId: string, amount: string, direction: 'issue' | 'redeem') => ({
    ledgerId,
    idempotencyKey: key(),
    kind: direction === 'issue' ? 'ISSUE' : 'REDEEM',
    entries:
      direction === 'issue'
        ? [
            { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount },
            { accountId, asset: 'PTS', direction: 'CREDIT', amount },
          ]
        : [
            { accountId, asset: 'PTS', direction: 'DEBIT', amount },
            { accountCode: 'system:redemption', asset: 'PTS', direction: 'CREDIT', amount },
          ],
  });

  it('commits an atomic batch all together, or nothing when one item fails', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    const good = [item(ledgerId, customer.id, '10', 'issue'), item(ledgerId, customer.id, '4', 'redeem')];
    const results = ok(await t.gql(BATCH, { input: { transactions: good } })).postTransactions;
    expect(results.map((result: any) => [Boolean(result.transaction), result.error])).toEqual([
      [true, null],
      [true, null],
    ]);
    expect((await balanceOf(t, customer.id)).posted).toBe('6');

    const before = await snapshotLedger(t.db);
    const failing = await t.gql(BATCH, {
      input: {
        atomic: true,
        transactions: [item(ledgerId, customer.id, '10', 'issue'), item(ledgerId, customer.id, '100', 'redeem')],
      },
    });
    expect(errorCode(failing)).toBe('INSUFFICIENT_FUNDS');
    expect(failing.errors![0]!.message).toMatch(/^transactions\[1\]/);
    expect(await snapshotLedger(t.db)).toEqual(before);
  });

  it('reports each item of a non-atomic batch on its own, keeping each item idempotent', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    const issue10 = item(ledgerId, customer.id, '10', 'issue');
    const results = ok(
      await t.gql(BATCH, {
        input: {
          atomic: false,
          transactions: [
            issue10,
            item(ledgerId, customer.id, '500', 'redeem'),
            { ...item(ledgerId, customer.id, '1', 'issue'), ledgerId: '01a1fc9e-0000-7000-8000-000000000000' },
          ],
        },
      }),
    ).postTransactions;
    expect(results[0].error).toBeNull();
    expect(results[1].error.code).toBe('INSUFFICIENT_FUNDS');
    expect(results[2].error.code).toBe('NOT_FOUND');
    const again = ok(await t.gql(BATCH, { input: { atomic: false, transactions: [issue10] } })).postTransactions;
    expect(again[0]).toMatchObject({ replayed: true, transaction: { id: results[0].transaction.id } });
    expect((await balanceOf(t, customer.id)).posted).toBe('10');
  });

  it('refuses more than 1000 items', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    const many = Array.from({ length: 1001 }, () => item(ledgerId, customer.id, '1', 'issue'));
    expect(errorCode(await t.gql(BATCH, { input: { transactions: many } }))).toBe('BAD_USER_INPUT');
  });
});

describe('point in time and dry runs', () => {
  it('answers balances as of an instant from entries effective by then', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    const POST = `mutation($input: PostTransactionInput!) { postTransaction(input: $input) { transaction { id } } }`;
    const credit = (amount: string, effectiveAt: string) =>
      t.gql(POST, {
        input: {
          ledgerId,
          idempotencyKey: key(),
          effectiveAt,
          entries: [
            { accountCode: 'system:issuance', asset: 'USD', direction: 'DEBIT', amount },
            { accountId: customer.id, asset: 'USD', direction: 'CREDIT', amount },
          ],
        },
      });
    ok(await credit('100', '2026-01-01T00:00:00Z'));
    ok(await credit('20', '2026-02-01T00:00:00Z'));
    ok(await credit('3', '2026-03-01T00:00:00Z'));
    const AS_OF = `query($id: ID!, $at: DateTime) { account(id: $id) { balance(asset: "USD", asOf: $at) { posted version } } }`;
    expect(ok(await t.gql(AS_OF, { id: customer.id, at: '2025-12-31T23:59:59Z' })).account.balance.posted).toBe('0');
    expect(ok(await t.gql(AS_OF, { id: customer.id, at: '2026-02-01T00:00:00Z' })).account.balance.posted).toBe('120');
    expect(ok(await t.gql(AS_OF, { id: customer.id, at: '2026-02-15T00:00:00Z' })).account.balance).toEqual({
      posted: '120',
      version: 0,
    });
    expect(ok(await t.gql(AS_OF, { id: customer.id })).account.balance).toEqual({ posted: '123', version: 3 });
  });

  it('runs every check in a dry run and commits nothing, not even the idempotency key', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId);
    await issue(customer.id, '50', inDays(9));
    const before = await snapshotLedger(t.db);
    const input = { accountId: customer.id, asset: 'PTS', amount: '20', idempotencyKey: key(), dryRun: true };
    const dry = ok(await t.gql(REDEEM, { input })).redeem;
    expect(dry).toMatchObject({
      dryRun: true,
      replayed: false,
      transaction: { entries: [{ amount: '20' }, { amount: '20' }] },
    });
    expect(errorCode(await t.gql(REDEEM, { input: { ...input, amount: '51' } }))).toBe('INSUFFICIENT_FUNDS');
    expect(await snapshotLedger(t.db)).toEqual(before);
    const real = ok(await t.gql(REDEEM, { input: { ...input, dryRun: false } })).redeem;
    expect(real.dryRun).toBe(false);
    expect(errorCode(await t.gql(REDEEM, { input: { ...input, amount: '21' } }))).toBe('IDEMPOTENCY_CONFLICT');
    expect((await lots(customer.id)).map((lot) => lot.remaining)).toEqual(['30']);
  });
});

describe('integrity report', () => {
  it('finds nothing wrong in a busy ledger, and names a tampered balance in plain words', async () => {
    const { ledgerId } = await expiringProgram();
    const customer = await createAccount(t, ledgerId, { code: 'tampered' });
    await issue(customer.id, '10', inDays(5));
    const report = ok(await t.gql(INTEGRITY, { l: ledgerId })).ledgerIntegrity;
    expect(report).toMatchObject({ ok: true, problems: [] });
    expect(report.transactionsChecked).toBeGreaterThanOrEqual(1);

    await t.db.pool.query(`UPDATE balances SET credits_posted = credits_posted + 1 WHERE account_id = $1`, [
      customer.id,
    ]);
    const broken = ok(await t.gql(INTEGRITY, { l: ledgerId })).ledgerIntegrity;
    expect(broken.ok).toBe(false);
    expect(broken.problems).toEqual(
      expect.arrayContaining([
        'account tampered PTS: stored creditsPosted 11 but its entries add up to 10',
        'account tampered PTS: open lots hold 10 but the posted balance is 11',
        'PTS: posted debits 10 differ from posted credits 11 across the tree',
      ]),
    );
    await t.db.pool.query(`UPDATE balances SET credits_posted = credits_posted - 1 WHERE account_id = $1`, [
      customer.id,
    ]);
  });
});
