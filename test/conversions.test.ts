import { balanceOf, createAccount, createAsset, createLedger, issue, key } from './support/builders';
import { errorCode, ok, startTestServer, type TestServer } from './support/server';

const MAX = 9223372036854775807n;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const SET_RATE = `mutation($input: SetExchangeRateInput!) { setExchangeRate(input: $input) { id numerator denominator validFrom fromAsset { code } toAsset { code } } }`;
const CONVERT = `mutation($input: ConvertInput!) { convert(input: $input) {
  replayed debited credited
  rate { id numerator denominator validFrom fromAsset { code } toAsset { code } }
  transaction { id kind metadata entries { direction amount asset { code } account { id code } } }
} }`;

async function program(): Promise<{ ledgerId: string; customer: string }> {
  const ledger = await createLedger(t);
  await createAsset(t, ledger.id, 'PTS');
  await createAsset(t, ledger.id, 'CASH', 2);
  const customer = await createAccount(t, ledger.id);
  return { ledgerId: ledger.id, customer: customer.id };
}

async function setRate(
  ledgerId: string,
  numerator: string,
  denominator: string,
  validFrom?: string,
  from = 'PTS',
  to = 'CASH',
): Promise<{ id: string }> {
  return ok(
    await t.gql(SET_RATE, { input: { ledgerId, fromAsset: from, toAsset: to, numerator, denominator, validFrom } }),
  ).setExchangeRate;
}

function convert(accountId: string, amount: string, idempotencyKey = key('convert'), from = 'PTS', to = 'CASH') {
  return t.gql(CONVERT, { input: { accountId, fromAsset: from, toAsset: to, amount, idempotencyKey } });
}

describe('convert', () => {
  it('debits the amount, credits the floor of amount × n ÷ d through system:conversion, and pins the rate', async () => {
    const { ledgerId, customer } = await program();
    const rate = await setRate(ledgerId, '7', '3', '2026-01-01T00:00:00Z');
    await issue(t, customer, '100');
    const { convert: result } = ok(await convert(customer, '10'));
    expect(result).toMatchObject({ replayed: false, debited: '10', credited: '23' });
    expect(result.rate).toMatchObject({ id: rate.id, numerator: '7', denominator: '3' });
    expect(result.transaction.kind).toBe('TRANSFER');
    expect(result.transaction.metadata.conversion).toMatchObject({
      rateId: rate.id,
      numerator: '7',
      denominator: '3',
      debited: '10',
      credited: '23',
    });
    const lines = result.transaction.entries.map(
      (entry: any) =>
        `${entry.direction} ${entry.amount} ${entry.asset.code} ${entry.account.code.startsWith('system:') ? entry.account.code : 'customer'}`,
    );
    expect(lines.sort()).toEqual(
      [
        'CREDIT 10 PTS system:conversion',
        'CREDIT 23 CASH customer',
        'DEBIT 10 PTS customer',
        'DEBIT 23 CASH system:conversion',
      ].sort(),
    );
    expect(await balanceOf(t, customer, 'PTS')).toMatchObject({ posted: '90' });
    expect(await balanceOf(t, customer, 'CASH')).toMatchObject({ posted: '23' });
  });

  it('floors a rate of one in a million and refuses an amount that converts to nothing', async () => {
    const { ledgerId, customer } = await program();
    await setRate(ledgerId, '1', '1000000', '2026-01-01T00:00:00Z');
    await issue(t, customer, '5000000');
    expect(ok(await convert(customer, '2999999')).convert).toMatchObject({ debited: '2999999', credited: '2' });
    const refused = await convert(customer, '999999');
    expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors![0]!.message).toMatch(/converts to nothing.*at least 1000000/);
    expect(await balanceOf(t, customer, 'PTS')).toMatchObject({ posted: '2000001', version: 2 });
  });

  it('is exact for amounts near the 64-bit bound', async () => {
    const { ledgerId, customer } = await program();
    await setRate(ledgerId, '1', '3', '2026-01-01T00:00:00Z');
    await issue(t, customer, MAX.toString());
    const { convert: result } = ok(await convert(customer, MAX.toString()));
    expect(result.credited).toBe((MAX / 3n).toString());
    expect(await balanceOf(t, customer, 'PTS')).toMatchObject({ posted: '0', debitsPosted: MAX.toString() });
    expect(await balanceOf(t, customer, 'CASH')).toMatchObject({ posted: '3074457345618258602' });
  });

  it('takes a large numerator exactly and refuses a result beyond the 64-bit range, changing nothing', async () => {
    const { ledgerId, customer } = await program();
    await setRate(ledgerId, '1000000000000000000', '7', '2026-01-01T00:00:00Z');
    await issue(t, customer, '100');
    expect(ok(await convert(customer, '63')).convert.credited).toBe('9000000000000000000');
    expect(errorCode(await convert(customer, '65'))).toBe('BAD_USER_INPUT');
    expect(await balanceOf(t, customer, 'PTS')).toMatchObject({ posted: '37' });
    expect(await balanceOf(t, customer, 'CASH')).toMatchObject({ posted: '9000000000000000000' });
  });

  it('answers a repeated key with the original, at the original rate, even after a new rate', async () => {
    const { ledgerId, customer } = await program();
    await setRate(ledgerId, '2', '1', '2026-01-01T00:00:00Z');
    await issue(t, customer, '100');
    const idempotencyKey = key('convert');
    const first = ok(await convert(customer, '10', idempotencyKey)).convert;
    await setRate(ledgerId, '5', '1', new Date(Date.now() - 1000).toISOString());
    const again = ok(await convert(customer, '10', idempotencyKey)).convert;
    expect(again).toMatchObject({ replayed: true, debited: '10', credited: '20' });
    expect(again.transaction.id).toBe(first.transaction.id);
    expect(again.rate.numerator).toBe('2');
    expect(errorCode(await convert(customer, '11', idempotencyKey))).toBe('IDEMPOTENCY_CONFLICT');
    expect(await balanceOf(t, customer, 'CASH')).toMatchObject({ posted: '20' });
    // The new rate is the one in force for a new conversion.
    expect(ok(await convert(customer, '10')).convert.credited).toBe('50');
  });

  it('answers concurrent requests with one key with one conversion', async () => {
    const { ledgerId, customer } = await program();
    await setRate(ledgerId, '3', '1', '2026-01-01T00:00:00Z');
    await issue(t, customer, '100');
    const idempotencyKey = key('convert');
    const results = await Promise.all(Array.from({ length: 6 }, () => convert(customer, '10', idempotencyKey)));
    const ids = new Set(results.map((response) => ok(response).convert.transaction.id));
    expect(ids.size).toBe(1);
    expect(results.filter((response) => !ok(response).convert.replayed)).toHaveLength(1);
    expect(await balanceOf(t, customer, 'CASH')).toMatchObject({ posted: '30' });
  });

  it('uses the rate in force: the newest validFrom at or before now, never a later one', async () => {
    const { ledgerId, customer } = await program();
    await setRate(ledgerId, '1', '1', '2026-01-01T00:00:00Z');
    await setRate(ledgerId, '4', '1', new Date(Date.now() - 60_000).toISOString());
    await setRate(ledgerId, '9', '1', new Date(Date.now() + 3_600_000).toISOString());
    await issue(t, customer, '100');
    expect(ok(await convert(customer, '10')).convert).toMatchObject({ credited: '40', rate: { numerator: '4' } });
    const history = ok(
      await t.gql(
        `query($l: ID!) { exchangeRates(ledgerId: $l, fromAsset: "PTS", toAsset: "CASH") { numerator validFrom } }`,
        { l: ledgerId },
      ),
    ).exchangeRates;
    expect(history.map((rate: any) => rate.numerator)).toEqual(['9', '4', '1']);
  });

  it('refuses a missing rate, or one that starts later, with EXCHANGE_RATE_NOT_FOUND', async () => {
    const { ledgerId, customer } = await program();
    await issue(t, customer, '100');
    expect(errorCode(await convert(customer, '10'))).toBe('EXCHANGE_RATE_NOT_FOUND');
    await setRate(ledgerId, '2', '1', new Date(Date.now() + 3_600_000).toISOString());
    expect(errorCode(await convert(customer, '10'))).toBe('EXCHANGE_RATE_NOT_FOUND');
    // A rate is one way: PTS -> CASH says nothing of CASH -> PTS.
    await setRate(ledgerId, '2', '1', '2026-01-01T00:00:00Z');
    expect(errorCode(await convert(customer, '10', key(), 'CASH', 'PTS'))).toBe('EXCHANGE_RATE_NOT_FOUND');
    expect(await balanceOf(t, customer, 'PTS')).toMatchObject({ posted: '100', version: 1 });
  });

  it('refuses more than the balance with INSUFFICIENT_FUNDS and leaves both balances alone', async () => {
    const { ledgerId, customer } = await program();
    await setRate(ledgerId, '2', '1', '2026-01-01T00:00:00Z');
    await issue(t, customer, '5');
    expect(errorCode(await convert(customer, '6'))).toBe('INSUFFICIENT_FUNDS');
    expect(await balanceOf(t, customer, 'PTS')).toMatchObject({ posted: '5' });
    expect(await balanceOf(t, customer, 'CASH')).toMatchObject({ posted: '0', version: 0 });
  });

  it('refuses a system account, one asset on both sides and unknown assets', async () => {
    const { ledgerId, customer } = await program();
    await setRate(ledgerId, '2', '1', '2026-01-01T00:00:00Z');
    const system = ok(
      await t.gql(
        `query($id: ID!) { accounts(ledgerId: $id, filter: { codePrefix: "system:conversion" }) { edges { node { id } } } }`,
        { id: ledgerId },
      ),
    ).accounts.edges[0].node.id;
    expect(errorCode(await convert(system, '1'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await convert(customer, '1', key(), 'PTS', 'PTS'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await convert(customer, '1', key(), 'PTS', 'NOPE'))).toBe('ASSET_NOT_FOUND');
  });
});

describe('setExchangeRate', () => {
  it('refuses a zero or negative part, a sub-ledger and a second rate with the same validFrom', async () => {
    const { ledgerId } = await program();
    const input = { ledgerId, fromAsset: 'PTS', toAsset: 'CASH', validFrom: '2026-02-01T00:00:00Z' };
    expect(errorCode(await t.gql(SET_RATE, { input: { ...input, numerator: '0', denominator: '1' } }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await t.gql(SET_RATE, { input: { ...input, numerator: '1', denominator: '0' } }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(errorCode(await t.gql(SET_RATE, { input: { ...input, numerator: '-3', denominator: '1' } }))).toBe(
      'BAD_USER_INPUT',
    );
    const child = await createLedger(t, { parentId: ledgerId });
    expect(
      errorCode(await t.gql(SET_RATE, { input: { ...input, ledgerId: child.id, numerator: '1', denominator: '1' } })),
    ).toBe('BAD_USER_INPUT');
    ok(await t.gql(SET_RATE, { input: { ...input, numerator: '1', denominator: '1' } }));
    const again = await t.gql(SET_RATE, { input: { ...input, numerator: '2', denominator: '1' } });
    expect(errorCode(again)).toBe('BAD_USER_INPUT');
    expect(again.errors![0]!.message).toMatch(/already exists/);
  });

  it('keeps every rate: the table refuses an edit or a delete', async () => {
    const { ledgerId } = await program();
    const rate = await setRate(ledgerId, '3', '2', '2026-03-01T00:00:00Z');
    await expect(
      t.db.pool.query('UPDATE exchange_rates SET numerator = 9 WHERE id = $1', [rate.id]),
    ).rejects.toMatchObject({ code: '23001', message: expect.stringMatching(/rows are append-only/) });
    await expect(t.db.pool.query('DELETE FROM exchange_rates WHERE id = $1', [rate.id])).rejects.toMatchObject({
      code: '23001',
      message: expect.stringMatching(/rows are append-only/),
    });
  });
});

describe('system:conversion', () => {
  it('is created on first use for a root that lacks it (made by an older server during a rolling upgrade)', async () => {
    const { ledgerId, customer } = await program();
    await setRate(ledgerId, '2', '1', '2026-01-01T00:00:00Z');
    await issue(t, customer, '10');
    // What a root created by a server older than exchange rates looks like, after the migration ran.
    await t.db.pool.query(`DELETE FROM accounts WHERE root_ledger_id = $1 AND code = 'system:conversion'`, [ledgerId]);
    const { convert: result } = ok(await convert(customer, '5'));
    expect(result.credited).toBe('10');
    const codes = result.transaction.entries.map((entry: any) => entry.account.code);
    expect(codes.filter((code: string) => code === 'system:conversion')).toHaveLength(2);
    const { rows } = await t.db.pool.query(
      `SELECT count(*)::int AS n FROM accounts WHERE root_ledger_id = $1 AND code = 'system:conversion'`,
      [ledgerId],
    );
    expect(rows[0].n).toBe(1);
  });
});

describe('convert and keys of other operations', () => {
  it('refuses a key already used by another kind of posting with IDEMPOTENCY_CONFLICT', async () => {
    const { ledgerId, customer } = await program();
    await setRate(ledgerId, '2', '1', '2026-01-01T00:00:00Z');
    const idempotencyKey = key('shared');
    ok(
      await t.gql(`mutation($i: IssueInput!) { issue(input: $i) { replayed } }`, {
        i: { accountId: customer, asset: 'PTS', amount: '10', idempotencyKey },
      }),
    );
    const refused = await convert(customer, '5', idempotencyKey);
    expect(errorCode(refused)).toBe('IDEMPOTENCY_CONFLICT');
    expect(await balanceOf(t, customer, 'PTS')).toMatchObject({ posted: '10' });
  });
});
