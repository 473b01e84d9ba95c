import { createAccount, createAsset, createLedger, createProgram, issue, key, REDEEM } from './support/builders';
import { errorCode, ok, startTestServer, type TestServer } from './support/server';

/**
 * Clawback debt (issue 13, API.md "Program rules"): reversing an issuance whose points were spent, with
 * allowDebt, leaves the spent part as Balance.debt; later credits repay it before anything is spendable.
 */

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const REVERSE = `mutation($id: ID!, $key: String!, $allowDebt: Boolean) {
  reverseTransaction(id: $id, idempotencyKey: $key, allowDebt: $allowDebt) { replayed transaction { id kind } }
}`;
const BALANCE = `query($id: ID!, $asset: String!) { account(id: $id) { balance(asset: $asset) { posted available debt } } }`;
const LOTS = `query($id: ID!) { account(id: $id) { lots(asset: "PTS") { amount remaining } } }`;
const INTEGRITY = `query($id: ID!) { ledgerIntegrity(ledgerId: $id) { ok problems } }`;

async function balance(accountId: string, asset = 'PTS') {
  return ok(await t.gql(BALANCE, { id: accountId, asset })).account.balance;
}

function redeem(accountId: string, amount: string, asset = 'PTS') {
  return t.gql(REDEEM, { input: { accountId, asset, amount, idempotencyKey: key('redeem') } });
}

describe('reverseTransaction(allowDebt)', () => {
  it('refuses, without allowDebt, to reverse an issuance whose points were spent, exactly as before', async () => {
    const { ledgerId } = await createProgram(t);
    const { id: account } = await createAccount(t, ledgerId);
    const purchase = await issue(t, account, '100');
    ok(await redeem(account, '70'));
    for (const allowDebt of [undefined, null, false]) {
      const refused = await t.gql(REVERSE, { id: purchase, key: key('undo'), allowDebt });
      expect(errorCode(refused)).toBe('INSUFFICIENT_FUNDS');
      expect(refused.errors![0]!.extensions).toMatchObject({ accountId: account, available: '30', requested: '100' });
    }
    expect(await balance(account)).toEqual({ posted: '30', available: '30', debt: '0' });
  });

  it('leaves the spent part as debt, spendable nothing, and repays it from later credits first', async () => {
    const { ledgerId } = await createProgram(t);
    const { id: account } = await createAccount(t, ledgerId);
    const purchase = await issue(t, account, '100');
    ok(await redeem(account, '70'));
    const reversed = ok(await t.gql(REVERSE, { id: purchase, key: key('refund'), allowDebt: true }));
    expect(reversed.reverseTransaction.transaction.kind).toBe('REVERSAL');
    expect(await balance(account)).toEqual({ posted: '-70', available: '-70', debt: '70' });

    expect(errorCode(await redeem(account, '1'))).toBe('INSUFFICIENT_FUNDS');
    await issue(t, account, '30');
    expect(await balance(account)).toEqual({ posted: '-40', available: '-40', debt: '40' });
    await issue(t, account, '25');
    expect(await balance(account)).toEqual({ posted: '-15', available: '-15', debt: '15' });
    expect(errorCode(await redeem(account, '1'))).toBe('INSUFFICIENT_FUNDS');
    await issue(t, account, '50');
    expect(await balance(account)).toEqual({ posted: '35', available: '35', debt: '0' });
    ok(await redeem(account, '35'));
    expect(ok(await t.gql(INTEGRITY, { id: ledgerId })).ledgerIntegrity).toEqual({ ok: true, problems: [] });
  });

  it('takes debt below an overdraft limit, not below zero, on an account that may overdraw', async () => {
    const { ledgerId } = await createProgram(t);
    const { id: account } = await createAccount(t, ledgerId, { allowOverdraft: true, overdraftLimit: '20' });
    const purchase = await issue(t, account, '100');
    ok(await redeem(account, '110'));
    ok(await t.gql(REVERSE, { id: purchase, key: key('refund'), allowDebt: true }));
    expect(await balance(account)).toEqual({ posted: '-110', available: '-110', debt: '90' });
    await issue(t, account, '100');
    expect(await balance(account)).toEqual({ posted: '-10', available: '-10', debt: '0' });
    ok(await redeem(account, '10'));
  });

  it('answers a replay of the reversal with the original and leaves no further debt', async () => {
    const { ledgerId } = await createProgram(t);
    const { id: account } = await createAccount(t, ledgerId);
    const purchase = await issue(t, account, '100');
    ok(await redeem(account, '60'));
    const idempotencyKey = key('refund');
    const first = ok(await t.gql(REVERSE, { id: purchase, key: idempotencyKey, allowDebt: true }));
    const again = ok(await t.gql(REVERSE, { id: purchase, key: idempotencyKey, allowDebt: true }));
    expect(again.reverseTransaction).toEqual({ replayed: true, transaction: first.reverseTransaction.transaction });
    expect(await balance(account)).toMatchObject({ debt: '60' });
  });
});

describe('debt with expiring points', () => {
  it('closes what is left of the lots and lets new lots pay the debt down before they become spendable', async () => {
    const ledger = await createLedger(t);
    ok(
      await t.gql(`mutation($input: CreateAssetInput!) { createAsset(input: $input) { id } }`, {
        input: { ledgerId: ledger.id, code: 'PTS', name: 'Points', kind: 'POINTS', scale: 0, expiresAfterDays: 30 },
      }),
    );
    await createAsset(t, ledger.id, 'CASH');
    const { id: account } = await createAccount(t, ledger.id);
    const purchase = await issue(t, account, '100');
    await issue(t, account, '50');
    ok(await redeem(account, '120'));
    // The purchase's lot was spent first (FIFO by expiry, then age): 100 of it and 20 of the second lot.
    ok(await t.gql(REVERSE, { id: purchase, key: key('refund'), allowDebt: true }));
    expect(await balance(account)).toEqual({ posted: '-70', available: '-70', debt: '70' });
    expect(ok(await t.gql(LOTS, { id: account })).account.lots).toEqual([]);

    await issue(t, account, '50');
    expect(ok(await t.gql(LOTS, { id: account })).account.lots).toEqual([]);
    await issue(t, account, '45');
    expect(await balance(account)).toEqual({ posted: '25', available: '25', debt: '0' });
    expect(ok(await t.gql(LOTS, { id: account })).account.lots).toEqual([{ amount: '25', remaining: '25' }]);
    expect(ok(await t.gql(INTEGRITY, { id: ledger.id })).ledgerIntegrity).toEqual({ ok: true, problems: [] });
  });
});

describe('the integrity report', () => {
  it('names a balance whose stored debt is not what it lacks to reach its floor', async () => {
    const { ledgerId } = await createProgram(t);
    const { id: account } = await createAccount(t, ledgerId);
    const purchase = await issue(t, account, '100');
    ok(await redeem(account, '70'));
    ok(await t.gql(REVERSE, { id: purchase, key: key('refund'), allowDebt: true }));
    await t.db.pool.query('UPDATE balances SET debt = debt + 5 WHERE account_id = $1', [account]);
    const report = ok(await t.gql(INTEGRITY, { id: ledgerId })).ledgerIntegrity;
    expect(report).toEqual({
      ok: false,
      problems: [expect.stringMatching(/: debt 75 but it lacks 70 to reach its floor$/)],
    });
  });
});
