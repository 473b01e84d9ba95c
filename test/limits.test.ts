import { createAccount, createLedger, createProgram, issue, ISSUE, key, REDEEM } from './support/builders';
import { errorCode, ok, startTestServer, type GraphQLResponse, type TestServer } from './support/server';

/**
 * Program limits (issue 13, API.md "Program rules"), through the running server: caps per calendar period and
 * balance ceilings, enforced inside each posting's database transaction.
 */

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const CREATE_LIMIT = `mutation($input: CreateLimitInput!) {
  createLimit(input: $input) { id kind amount period timeZone ledger { id } asset { code } }
}`;
const LIMITS = `query($id: ID!) { account(id: $id) { limits { limit { id kind } used remaining periodStart periodEnd } } }`;
const POST = `mutation($input: PostTransactionInput!) { postTransaction(input: $input) { transaction { id } } }`;
const REVERSE = `mutation($id: ID!, $key: String!) { reverseTransaction(id: $id, idempotencyKey: $key) { transaction { id } } }`;

async function createLimit(input: Record<string, unknown>): Promise<string> {
  return ok(await t.gql(CREATE_LIMIT, { input: { asset: 'PTS', ...input } })).createLimit.id;
}

function earn(accountId: string, amount: string) {
  return t.gql(ISSUE, { input: { accountId, asset: 'PTS', amount, idempotencyKey: key('earn') } });
}

/** An ISSUE dated `effectiveAt`, so a test can stand on either side of a period boundary. */
function earnAt(accountId: string, amount: string, effectiveAt: string) {
  return t.gql(POST, {
    input: {
      ledgerId: ledgerOf.get(accountId),
      kind: 'ISSUE',
      idempotencyKey: key('dated'),
      effectiveAt,
      entries: [
        { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount },
        { accountId, asset: 'PTS', direction: 'CREDIT', amount },
      ],
    },
  });
}
const ledgerOf = new Map<string, string>();

async function customer(ledgerId: string): Promise<string> {
  const { id } = await createAccount(t, ledgerId);
  ledgerOf.set(id, ledgerId);
  return id;
}

function refusal(response: GraphQLResponse): Record<string, unknown> {
  expect(response.errors).toHaveLength(1);
  return response.errors![0]!.extensions as Record<string, unknown>;
}

describe('createLimit and Account.limits', () => {
  it('creates a cap and shows what the account has used of it in the current period', async () => {
    const { ledgerId } = await createProgram(t);
    const created = ok(
      await t.gql(CREATE_LIMIT, {
        input: { ledgerId, asset: 'PTS', kind: 'EARN_PER_PERIOD', amount: '500', period: 'DAY' },
      }),
    ).createLimit;
    expect(created).toEqual({
      id: expect.any(String),
      kind: 'EARN_PER_PERIOD',
      amount: '500',
      period: 'DAY',
      timeZone: 'UTC',
      ledger: { id: ledgerId },
      asset: { code: 'PTS' },
    });
    const account = await customer(ledgerId);
    await issue(t, account, '120');
    const [usage] = ok(await t.gql(LIMITS, { id: account })).account.limits;
    const now = new Date();
    const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    expect(usage).toEqual({
      limit: { id: created.id, kind: 'EARN_PER_PERIOD' },
      used: '120',
      remaining: '380',
      periodStart: dayStart.toISOString(),
      periodEnd: new Date(dayStart.getTime() + 86_400_000).toISOString(),
    });
  });

  it('applies a limit to every customer account of the subtree and to no other', async () => {
    const { ledgerId } = await createProgram(t);
    const region = await createLedger(t, { parentId: ledgerId });
    const other = await createLedger(t, { parentId: ledgerId });
    await createLimit({ ledgerId: region.id, kind: 'MAX_BALANCE', amount: '100' });
    const inside = await customer(region.id);
    const outside = await customer(other.id);
    expect(refusal(await earn(inside, '101')).code).toBe('LIMIT_EXCEEDED');
    ok(await earn(outside, '101'));
    expect(ok(await t.gql(LIMITS, { id: outside })).account.limits).toEqual([]);
  });

  it('stops enforcing a deleted limit', async () => {
    const { ledgerId } = await createProgram(t);
    const limitId = await createLimit({ ledgerId, kind: 'MAX_BALANCE', amount: '10' });
    const account = await customer(ledgerId);
    expect(refusal(await earn(account, '11')).code).toBe('LIMIT_EXCEEDED');
    expect(ok(await t.gql('mutation($id: ID!) { deleteLimit(id: $id) { id } }', { id: limitId })).deleteLimit).toEqual({
      id: limitId,
    });
    ok(await earn(account, '11'));
    expect(errorCode(await t.gql('mutation($id: ID!) { deleteLimit(id: $id) { id } }', { id: limitId }))).toBe(
      'NOT_FOUND',
    );
  });

  it('refuses invalid kinds of period, zones and amounts as BAD_USER_INPUT', async () => {
    const { ledgerId } = await createProgram(t);
    const cases: Array<Record<string, unknown>> = [
      { kind: 'EARN_PER_PERIOD', amount: '1' },
      { kind: 'MAX_BALANCE', amount: '1', period: 'DAY' },
      { kind: 'EARN_PER_PERIOD', amount: '-1', period: 'DAY' },
      { kind: 'EARN_PER_PERIOD', amount: '1', period: 'DAY', timeZone: 'Mars/Olympus' },
      { kind: 'EARN_PER_PERIOD', amount: '1', period: 'DAY', timeZone: '+05:00' },
      { kind: 'EARN_PER_PERIOD', amount: '1', period: 'DAY', timeZone: '' },
      { kind: 'EARN_PER_PERIOD', amount: '1', period: 'FORTNIGHT' },
    ];
    for (const input of cases) {
      expect(errorCode(await t.gql(CREATE_LIMIT, { input: { ledgerId, asset: 'PTS', ...input } }))).toBe(
        'BAD_USER_INPUT',
      );
    }
    expect(
      errorCode(await t.gql(CREATE_LIMIT, { input: { ledgerId, asset: 'NOPE', kind: 'MAX_BALANCE', amount: '1' } })),
    ).toBe('ASSET_NOT_FOUND');
  });
});

describe('races: exactly the cap succeeds', () => {
  it('lets exactly 10 of 30 concurrent earns of 10 through a daily cap of 100', async () => {
    const { ledgerId } = await createProgram(t);
    const limitId = await createLimit({ ledgerId, kind: 'EARN_PER_PERIOD', amount: '100', period: 'DAY' });
    const account = await customer(ledgerId);
    const results = await Promise.all(Array.from({ length: 30 }, () => earn(account, '10')));
    const refused = results.filter((result) => result.errors !== undefined);
    expect(results.length - refused.length).toBe(10);
    for (const result of refused)
      expect(refusal(result)).toMatchObject({ code: 'LIMIT_EXCEEDED', limitId, remaining: '0' });
    expect(ok(await t.gql(LIMITS, { id: account })).account.limits[0]).toMatchObject({ used: '100', remaining: '0' });
  });

  it('lets exactly 10 of 30 concurrent redemptions of 10 through a daily redeem cap of 100', async () => {
    const { ledgerId } = await createProgram(t);
    const account = await customer(ledgerId);
    await issue(t, account, '1000');
    const limitId = await createLimit({ ledgerId, kind: 'REDEEM_PER_PERIOD', amount: '100', period: 'DAY' });
    const results = await Promise.all(
      Array.from({ length: 30 }, () =>
        t.gql(REDEEM, { input: { accountId: account, asset: 'PTS', amount: '10', idempotencyKey: key('r') } }),
      ),
    );
    const refused = results.filter((result) => result.errors !== undefined);
    expect(results.length - refused.length).toBe(10);
    for (const result of refused) expect(refusal(result)).toMatchObject({ code: 'LIMIT_EXCEEDED', limitId });
  });

  it('lets exactly 10 of 30 concurrent earns of 10 under a balance ceiling of 100', async () => {
    const { ledgerId } = await createProgram(t);
    const limitId = await createLimit({ ledgerId, kind: 'MAX_BALANCE', amount: '100' });
    const account = await customer(ledgerId);
    const results = await Promise.all(Array.from({ length: 30 }, () => earn(account, '10')));
    expect(results.filter((result) => result.errors === undefined)).toHaveLength(10);
    const [usage] = ok(await t.gql(LIMITS, { id: account })).account.limits;
    expect(usage).toMatchObject({ limit: { id: limitId }, used: '100', remaining: '0', periodStart: null });
  });
});

describe('what counts', () => {
  it('tells how much is left when it refuses, and counts nothing of a refused posting', async () => {
    const { ledgerId } = await createProgram(t);
    const limitId = await createLimit({ ledgerId, kind: 'EARN_PER_PERIOD', amount: '100', period: 'MONTH' });
    const account = await customer(ledgerId);
    ok(await earn(account, '70'));
    expect(refusal(await earn(account, '31'))).toMatchObject({ code: 'LIMIT_EXCEEDED', limitId, remaining: '30' });
    ok(await earn(account, '30'));
  });

  it('counts the credits of ADJUST postings as earning, and not their debits', async () => {
    const { ledgerId } = await createProgram(t);
    await createLimit({ ledgerId, kind: 'EARN_PER_PERIOD', amount: '100', period: 'DAY' });
    const account = await customer(ledgerId);
    const adjust = (direction: string, amount: string) =>
      t.gql('mutation($i: AdjustInput!) { adjust(input: $i) { transaction { id } } }', {
        i: { accountId: account, asset: 'PTS', amount, direction, idempotencyKey: key('adj'), reason: 'goodwill' },
      });
    ok(await adjust('CREDIT', '60'));
    ok(await adjust('DEBIT', '10'));
    expect(ok(await t.gql(LIMITS, { id: account })).account.limits[0]).toMatchObject({ used: '60', remaining: '40' });
    expect(refusal(await adjust('CREDIT', '41'))).toMatchObject({ code: 'LIMIT_EXCEEDED', remaining: '40' });
  });

  it('gives back, on reversal, what the original counted', async () => {
    const { ledgerId } = await createProgram(t);
    await createLimit({ ledgerId, kind: 'EARN_PER_PERIOD', amount: '100', period: 'WEEK' });
    const account = await customer(ledgerId);
    const first = await issue(t, account, '100');
    expect(errorCode(await earn(account, '1'))).toBe('LIMIT_EXCEEDED');
    ok(await t.gql(REVERSE, { id: first, key: key('undo') }));
    expect(ok(await t.gql(LIMITS, { id: account })).account.limits[0]).toMatchObject({ used: '0', remaining: '100' });
    ok(await earn(account, '100'));
  });

  it('counts a hold when it is captured, not when it is placed', async () => {
    const { ledgerId } = await createProgram(t);
    const account = await customer(ledgerId);
    await issue(t, account, '500');
    await createLimit({ ledgerId, kind: 'REDEEM_PER_PERIOD', amount: '100', period: 'DAY' });
    const hold = async (amount: string) =>
      ok(
        await t.gql('mutation($i: HoldInput!) { hold(input: $i) { transaction { id } } }', {
          i: { accountId: account, asset: 'PTS', amount, idempotencyKey: key('hold') },
        }),
      ).hold.transaction.id as string;
    const first = await hold('80');
    const second = await hold('80');
    expect(ok(await t.gql(LIMITS, { id: account })).account.limits[0]).toMatchObject({ used: '0' });
    const capture = (id: string) =>
      t.gql(
        'mutation($id: ID!, $k: String!) { postPendingTransaction(id: $id, idempotencyKey: $k) { transaction { id } } }',
        {
          id,
          k: key('capture'),
        },
      );
    ok(await capture(first));
    expect(refusal(await capture(second))).toMatchObject({ code: 'LIMIT_EXCEEDED', remaining: '20' });
    expect(ok(await t.gql(LIMITS, { id: account })).account.limits[0]).toMatchObject({ used: '80' });
  });

  it('holds an atomic batch to the cap item by item, and fails it whole', async () => {
    const { ledgerId } = await createProgram(t);
    await createLimit({ ledgerId, kind: 'EARN_PER_PERIOD', amount: '100', period: 'DAY' });
    const account = await customer(ledgerId);
    const item = (amount: string) => ({
      ledgerId,
      kind: 'ISSUE',
      idempotencyKey: key('item'),
      entries: [
        { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount },
        { accountId: account, asset: 'PTS', direction: 'CREDIT', amount },
      ],
    });
    const BATCH = `mutation($input: PostTransactionsInput!) { postTransactions(input: $input) { transaction { id } error { code } } }`;
    const refused = await t.gql(BATCH, { input: { atomic: true, transactions: [item('60'), item('60')] } });
    expect(refusal(refused)).toMatchObject({ code: 'LIMIT_EXCEEDED', remaining: '40' });
    expect(refused.errors![0]!.message).toMatch(/transactions\[1\]/);
    expect(ok(await t.gql(LIMITS, { id: account })).account.limits[0]).toMatchObject({ used: '0' });
    ok(await t.gql(BATCH, { input: { atomic: true, transactions: [item('60'), item('40')] } }));
    const separate = ok(await t.gql(BATCH, { input: { atomic: false, transactions: [item('1')] } }));
    expect(separate.postTransactions[0].error).toEqual({ code: 'LIMIT_EXCEEDED' });
  });

  it('does not bound a redemption by a ceiling, nor count it as earning', async () => {
    const { ledgerId } = await createProgram(t);
    const account = await customer(ledgerId);
    await issue(t, account, '300');
    await createLimit({ ledgerId, kind: 'MAX_BALANCE', amount: '100' });
    await createLimit({ ledgerId, kind: 'EARN_PER_PERIOD', amount: '1000', period: 'DAY' });
    ok(await t.gql(REDEEM, { input: { accountId: account, asset: 'PTS', amount: '150', idempotencyKey: key() } }));
    expect(errorCode(await earn(account, '1'))).toBe('LIMIT_EXCEEDED');
  });
});

describe('period boundaries, at the instant', () => {
  function outcome(response: GraphQLResponse): string {
    return response.errors === undefined ? 'OK' : errorCode(response);
  }

  it('starts each day at local midnight in New York, on both sides of the spring clock change', async () => {
    const { ledgerId } = await createProgram(t);
    await createLimit({
      ledgerId,
      kind: 'EARN_PER_PERIOD',
      amount: '100',
      period: 'DAY',
      timeZone: 'America/New_York',
    });
    const account = await customer(ledgerId);
    // 8 March 2026, the day clocks go forward, runs from 05:00Z (EST) to 04:00Z on the 9th (EDT): 23 hours.
    ok(await earnAt(account, '100', '2026-03-08T05:00:00.000Z'));
    expect(outcome(await earnAt(account, '1', '2026-03-09T03:59:59.999Z'))).toBe('LIMIT_EXCEEDED');
    expect(outcome(await earnAt(account, '100', '2026-03-08T04:59:59.999Z'))).toBe('OK');
    expect(outcome(await earnAt(account, '100', '2026-03-09T04:00:00.000Z'))).toBe('OK');
    expect(outcome(await earnAt(account, '1', '2026-03-09T04:00:00.000Z'))).toBe('LIMIT_EXCEEDED');
  });

  it('starts each week on Monday at midnight on Kiritimati, fourteen hours ahead of UTC', async () => {
    const { ledgerId } = await createProgram(t);
    await createLimit({
      ledgerId,
      kind: 'EARN_PER_PERIOD',
      amount: '100',
      period: 'WEEK',
      timeZone: 'Pacific/Kiritimati',
    });
    const account = await customer(ledgerId);
    // Monday 30 November 2026, 00:00 at UTC+14, is Sunday 29 November 10:00Z.
    ok(await earnAt(account, '100', '2026-11-29T09:59:59.999Z'));
    expect(outcome(await earnAt(account, '1', '2026-11-23T10:00:00.000Z'))).toBe('LIMIT_EXCEEDED');
    expect(outcome(await earnAt(account, '100', '2026-11-29T10:00:00.000Z'))).toBe('OK');
    expect(outcome(await earnAt(account, '1', '2026-11-30T12:00:00.000Z'))).toBe('LIMIT_EXCEEDED');
  });

  it('starts each month and year at local midnight in the limit’s zone', async () => {
    const { ledgerId } = await createProgram(t);
    await createLimit({ ledgerId, kind: 'EARN_PER_PERIOD', amount: '50', period: 'YEAR', timeZone: 'Asia/Manila' });
    await createLimit({ ledgerId, kind: 'EARN_PER_PERIOD', amount: '30', period: 'MONTH', timeZone: 'Asia/Manila' });
    const account = await customer(ledgerId);
    // 1 January 2026, 00:00 in Manila (UTC+8), is 31 December 2025 16:00Z.
    ok(await earnAt(account, '30', '2025-12-31T15:59:59.999Z'));
    expect(outcome(await earnAt(account, '30', '2025-12-31T16:00:00.000Z'))).toBe('OK');
    expect(outcome(await earnAt(account, '1', '2026-01-31T15:59:59.999Z'))).toBe('LIMIT_EXCEEDED');
    expect(outcome(await earnAt(account, '20', '2026-01-31T16:00:00.000Z'))).toBe('OK');
    expect(outcome(await earnAt(account, '1', '2026-02-28T16:00:00.000Z'))).toBe('LIMIT_EXCEEDED');
  });
});

describe('the previous release’s apply_posting signature', () => {
  it('still applies a posting, and is bound by the limits too', async () => {
    const { ledgerId } = await createProgram(t);
    const account = await customer(ledgerId);
    await createLimit({ ledgerId, kind: 'MAX_BALANCE', amount: '50' });
    const { rows: facts } = await t.db.pool.query<{ issuance: string; asset: string }>(
      `SELECT (SELECT id FROM accounts WHERE root_ledger_id = $1 AND code = 'system:issuance') AS issuance,
              (SELECT id FROM assets WHERE root_ledger_id = $1 AND code = 'PTS') AS asset`,
      [ledgerId],
    );
    const { issuance, asset } = facts[0]!;
    const { randomUUID } = await import('node:crypto');
    // The 40 arguments a server of the previous release sends (migration 20261122000000's signature).
    const oldCall = (amount: number) => {
      const sorted = [account, issuance].sort();
      const debit = (id: string) => (id === issuance ? String(amount) : '0');
      const credit = (id: string) => (id === account ? String(amount) : '0');
      return t.db.pool.query(
        `SELECT o_outcome FROM apply_posting(${Array.from({ length: 40 }, (_, index) => `$${index + 1}`).join(', ')})`,
        [
          ledgerId,
          [account],
          true,
          randomUUID(),
          ledgerId,
          'ISSUE',
          'POSTED',
          key('old'),
          'hash',
          null,
          '{}',
          new Date(),
          new Date(),
          null,
          false,
          null,
          sorted,
          [asset, asset],
          [0, 0],
          [ledgerId, ledgerId],
          sorted.map((id) => (id === issuance ? 'DEBIT' : 'CREDIT')),
          sorted.map((id) => (id === issuance ? null : '0')),
          sorted.map(debit),
          sorted.map(credit),
          ['0', '0'],
          ['0', '0'],
          [randomUUID(), randomUUID()],
          [issuance, account],
          [ledgerId, ledgerId],
          [asset, asset],
          ['DEBIT', 'CREDIT'],
          [String(amount), String(amount)],
          randomUUID(),
          'API_KEY',
          'old-release',
          'issue',
          [],
          null,
          null,
          null,
        ],
      );
    };
    expect((await oldCall(40)).rows).toEqual([{ o_outcome: 'APPLIED' }, { o_outcome: 'APPLIED' }]);
    await expect(oldCall(11)).rejects.toMatchObject({ code: 'RLLE1' });
    expect(ok(await t.gql(LIMITS, { id: account })).account.limits[0]).toMatchObject({ used: '40', remaining: '10' });
  });
});

describe('the integrity report', () => {
  it('agrees with the counters after counting and giving back, and names a counter that disagrees', async () => {
    const { ledgerId } = await createProgram(t);
    const limitId = await createLimit({ ledgerId, kind: 'EARN_PER_PERIOD', amount: '100', period: 'DAY' });
    const account = await customer(ledgerId);
    const first = await issue(t, account, '30');
    await issue(t, account, '50');
    ok(await t.gql(REVERSE, { id: first, key: key('undo') }));
    const INTEGRITY = `query($id: ID!) { ledgerIntegrity(ledgerId: $id) { ok problems } }`;
    expect(ok(await t.gql(INTEGRITY, { id: ledgerId })).ledgerIntegrity).toEqual({ ok: true, problems: [] });

    await t.db.pool.query('UPDATE limit_usage SET used = used + 1 WHERE limit_id = $1', [limitId]);
    const report = ok(await t.gql(INTEGRITY, { id: ledgerId })).ledgerIntegrity;
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      expect.stringMatching(new RegExp(`^limit ${limitId} .*used 51 but its charges less reversals add up to 50$`)),
    ]);
  });
});
