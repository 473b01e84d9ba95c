import { periodBoundary } from '../src/platform/calendar.core';
import { createAccount, createLedger, key } from './support/builders';
import { errorCode, ok, startTestServer, type TestServer } from './support/server';

/**
 * Expiry policies through the API: what a lot's expiry is under ROLLING, END_OF_PERIOD and INACTIVITY,
 * that the expiry run, `expiring` and lots follow it, and that PostgreSQL's calendar agrees with the
 * server's at the boundaries the server computes.
 */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const DAY = 86_400_000;
const CREATE_ASSET = `mutation($input: CreateAssetInput!) { createAsset(input: $input) { id code expiresAfterDays expiryPolicy { kind days period periods timeZone } } }`;
const POST = `mutation($input: PostTransactionInput!) { postTransaction(input: $input) { transaction { id } } }`;
const LOTS = `query($id: ID!) { account(id: $id) { lots(asset: "PTS", includeClosed: true) { amount remaining expiresAt } } }`;
const RUN_EXPIRY = `mutation($l: ID!, $asOf: DateTime) { runExpiry(ledgerId: $l, asOf: $asOf) { transactionsPosted } }`;
const INTEGRITY = `query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok problems } }`;
const BALANCE = `query($id: ID!) { account(id: $id) { balance(asset: "PTS") { posted } } }`;

async function program(expiryPolicy: Record<string, unknown>) {
  const ledger = await createLedger(t);
  const asset = ok(
    await t.gql(CREATE_ASSET, {
      input: { ledgerId: ledger.id, code: 'PTS', name: 'Points', kind: 'POINTS', scale: 0, expiryPolicy },
    }),
  ).createAsset;
  const customer = await createAccount(t, ledger.id);
  return { ledgerId: ledger.id, asset, customer };
}

/** A posting of `kind` between a system account and the customer, effective at `at`. */
function move(ledgerId: string, customerId: string, kind: 'ISSUE' | 'REDEEM', amount: string, at: Date) {
  const system = kind === 'ISSUE' ? 'system:issuance' : 'system:redemption';
  const [from, to] =
    kind === 'ISSUE'
      ? [{ accountCode: system }, { accountId: customerId }]
      : [{ accountId: customerId }, { accountCode: system }];
  return t.gql(POST, {
    input: {
      ledgerId,
      kind,
      idempotencyKey: key(kind),
      effectiveAt: at.toISOString(),
      entries: [
        { ...from, asset: 'PTS', direction: 'DEBIT', amount },
        { ...to, asset: 'PTS', direction: 'CREDIT', amount },
      ],
    },
  });
}

async function lots(accountId: string): Promise<Array<{ amount: string; remaining: string; expiresAt: string }>> {
  return ok(await t.gql(LOTS, { id: accountId })).account.lots;
}

async function expectClean(ledgerId: string): Promise<void> {
  expect(ok(await t.gql(INTEGRITY, { l: ledgerId })).ledgerIntegrity).toEqual({ ok: true, problems: [] });
}

describe('END_OF_PERIOD', () => {
  it('lapses points earned in 2025 at the end of 2026, Manila time, and not a millisecond before', async () => {
    const { ledgerId, asset, customer } = await program({
      kind: 'END_OF_PERIOD',
      period: 'YEAR',
      periods: 1,
      timeZone: 'asia/manila',
    });
    expect(asset.expiryPolicy).toEqual({
      kind: 'END_OF_PERIOD',
      days: null,
      period: 'YEAR',
      periods: 1,
      timeZone: 'Asia/Manila',
    });
    expect(asset.expiresAfterDays).toBeNull();

    // 15:59:59.999 UTC on 31 December 2025 is the last instant of 2025 in Manila; a millisecond later is 2026.
    ok(await move(ledgerId, customer.id, 'ISSUE', '100', new Date('2025-12-31T15:59:59.999Z')));
    ok(await move(ledgerId, customer.id, 'ISSUE', '40', new Date('2025-12-31T16:00:00.000Z')));
    expect(await lots(customer.id)).toEqual([
      { amount: '100', remaining: '100', expiresAt: '2026-12-31T16:00:00.000Z' },
      { amount: '40', remaining: '40', expiresAt: '2027-12-31T16:00:00.000Z' },
    ]);

    expect(
      ok(await t.gql(RUN_EXPIRY, { l: ledgerId, asOf: '2026-12-31T15:59:59.999Z' })).runExpiry.transactionsPosted,
    ).toBe(0);
    expect(ok(await t.gql(RUN_EXPIRY, { l: ledgerId, asOf: '2026-12-31T16:00:00.000Z' })).runExpiry).toEqual({
      transactionsPosted: 1,
    });
    expect(ok(await t.gql(BALANCE, { id: customer.id })).account.balance.posted).toBe('40');
    await expectClean(ledgerId);
  });

  it('counts months from the one of the earn, through a leap day, and periods 0 ends that one', async () => {
    const { ledgerId, customer } = await program({ kind: 'END_OF_PERIOD', period: 'MONTH', periods: 0 });
    ok(await move(ledgerId, customer.id, 'ISSUE', '5', new Date('2024-02-29T23:59:59.999Z')));
    expect((await lots(customer.id))[0]!.expiresAt).toBe('2024-03-01T00:00:00.000Z');
  });

  it('shows what lapses in `expiring` at the policy instant', async () => {
    const { ledgerId, customer } = await program({
      kind: 'END_OF_PERIOD',
      period: 'WEEK',
      periods: 1,
      timeZone: 'America/New_York',
    });
    ok(await move(ledgerId, customer.id, 'ISSUE', '9', new Date(Date.now() - 60_000)));
    const [lot] = await lots(customer.id);
    const expiring = ok(
      await t.gql(
        `query($id: ID!) { account(id: $id) { expiring(asset: "PTS", withinDays: 15) { expiresAt amount } } }`,
        {
          id: customer.id,
        },
      ),
    ).account.expiring;
    expect(expiring).toEqual([{ expiresAt: lot!.expiresAt, amount: '9' }]);
    // The end of next week in New York: a Monday at local midnight, between 7 and 14 days away.
    const expiresAt = new Date(lot!.expiresAt);
    expect(expiresAt.getTime() - Date.now()).toBeGreaterThan(7 * DAY - 3_600_000);
    expect(expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(14 * DAY + 3_600_000);
    const local = new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/New_York',
      weekday: 'short',
      hour: 'numeric',
      minute: 'numeric',
      hourCycle: 'h23',
    }).format(expiresAt);
    expect(local).toBe('Mon 00:00');
  });
});

describe('INACTIVITY', () => {
  it('moves every lot to 30 days after the last earn or redemption, and lapses them all together', async () => {
    const { ledgerId, customer } = await program({ kind: 'INACTIVITY', days: 30 });
    const t0 = new Date('2026-01-10T08:00:00Z');
    const at = (days: number) => new Date(t0.getTime() + days * DAY);

    ok(await move(ledgerId, customer.id, 'ISSUE', '100', at(0)));
    expect((await lots(customer.id)).map((lot) => lot.expiresAt)).toEqual([at(30).toISOString()]);
    ok(await move(ledgerId, customer.id, 'ISSUE', '50', at(20)));
    expect((await lots(customer.id)).map((lot) => lot.expiresAt)).toEqual([at(50).toISOString(), at(50).toISOString()]);
    // A redemption is activity: the rest of both lots now lapses 30 days after it.
    ok(await move(ledgerId, customer.id, 'REDEEM', '120', at(40)));
    expect(await lots(customer.id)).toEqual([
      { amount: '100', remaining: '0', expiresAt: at(50).toISOString() },
      { amount: '50', remaining: '30', expiresAt: at(70).toISOString() },
    ]);
    // A backdated earn joins the others rather than pulling their expiry back.
    ok(await move(ledgerId, customer.id, 'ISSUE', '1', at(5)));
    expect((await lots(customer.id)).filter((lot) => lot.remaining !== '0').map((lot) => lot.expiresAt)).toEqual([
      at(70).toISOString(),
      at(70).toISOString(),
    ]);

    expect(ok(await t.gql(RUN_EXPIRY, { l: ledgerId, asOf: at(69).toISOString() })).runExpiry.transactionsPosted).toBe(
      0,
    );
    expect(ok(await t.gql(RUN_EXPIRY, { l: ledgerId, asOf: at(70).toISOString() })).runExpiry.transactionsPosted).toBe(
      1,
    );
    expect(ok(await t.gql(BALANCE, { id: customer.id })).account.balance.posted).toBe('0');
    await expectClean(ledgerId);
  });

  it('leaves value that had lapsed before an activity to the expiry run', async () => {
    const { ledgerId, customer } = await program({ kind: 'INACTIVITY', days: 10 });
    const t0 = new Date(Date.now() - 40 * DAY);
    const at = (days: number) => new Date(t0.getTime() + days * DAY);
    ok(await move(ledgerId, customer.id, 'ISSUE', '10', at(0)));
    // The run has not been yet when the customer comes back on day 15: the ten points lapsed on day 10.
    ok(await move(ledgerId, customer.id, 'ISSUE', '3', at(15)));
    expect((await lots(customer.id)).map((lot) => [lot.remaining, lot.expiresAt])).toEqual([
      ['10', at(10).toISOString()],
      ['3', at(25).toISOString()],
    ]);
    expect(ok(await t.gql(RUN_EXPIRY, { l: ledgerId, asOf: at(15).toISOString() })).runExpiry.transactionsPosted).toBe(
      1,
    );
    expect(ok(await t.gql(BALANCE, { id: customer.id })).account.balance.posted).toBe('3');
    await expectClean(ledgerId);
  });

  it('is not extended by a reversal or by the expiry itself, and takes no explicit expiresAt', async () => {
    const { ledgerId, customer } = await program({ kind: 'INACTIVITY', days: 10 });
    const t0 = new Date(Date.now() - 5 * DAY);
    ok(await move(ledgerId, customer.id, 'ISSUE', '10', t0));
    const second = ok(await move(ledgerId, customer.id, 'ISSUE', '4', new Date(t0.getTime() + DAY))).postTransaction
      .transaction.id;
    const before = await lots(customer.id);
    ok(
      await t.gql(
        `mutation($id: ID!, $k: String!) { reverseTransaction(id: $id, idempotencyKey: $k) { transaction { id } } }`,
        {
          id: second,
          k: key('undo'),
        },
      ),
    );
    const after = await lots(customer.id);
    expect(after[0]!.expiresAt).toBe(before[0]!.expiresAt);

    const refused = await t.gql(`mutation($input: IssueInput!) { issue(input: $input) { transaction { id } } }`, {
      input: {
        accountId: customer.id,
        asset: 'PTS',
        amount: '1',
        idempotencyKey: key(),
        expiresAt: new Date(Date.now() + DAY).toISOString(),
      },
    });
    expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors![0]!.message).toMatch(/inactivity/);
  });
});

describe('ROLLING and existing assets', () => {
  it('is what expiresAfterDays always meant, spelled either way', async () => {
    const ledger = await createLedger(t);
    const shorthand = ok(
      await t.gql(CREATE_ASSET, {
        input: { ledgerId: ledger.id, code: 'A', name: 'A', kind: 'POINTS', scale: 0, expiresAfterDays: 7 },
      }),
    ).createAsset;
    const spelled = ok(
      await t.gql(CREATE_ASSET, {
        input: {
          ledgerId: ledger.id,
          code: 'B',
          name: 'B',
          kind: 'POINTS',
          scale: 0,
          expiryPolicy: { kind: 'ROLLING', days: 7 },
        },
      }),
    ).createAsset;
    const rolling = { kind: 'ROLLING', days: 7, period: null, periods: null, timeZone: null };
    expect(shorthand).toMatchObject({ expiresAfterDays: 7, expiryPolicy: rolling });
    expect(spelled).toMatchObject({ expiresAfterDays: 7, expiryPolicy: rolling });
    const never = ok(
      await t.gql(CREATE_ASSET, { input: { ledgerId: ledger.id, code: 'C', name: 'C', kind: 'POINTS', scale: 0 } }),
    ).createAsset;
    expect(never).toMatchObject({ expiresAfterDays: null, expiryPolicy: null });
  });

  it('reads an asset written by the previous release (expires_after_days only) as ROLLING', async () => {
    const ledger = await createLedger(t);
    const { rows } = await t.db.pool.query<{ id: string }>(
      `INSERT INTO assets (id, root_ledger_id, ledger_id, code, name, kind, scale, expires_after_days)
       VALUES (gen_random_uuid(), $1, $1, 'OLD', 'Old points', 'POINTS', 0, 90) RETURNING id`,
      [ledger.id],
    );
    const read = ok(
      await t.gql(`query($l: ID!) { ledger(id: $l) { assets { id expiresAfterDays expiryPolicy { kind days } } } }`, {
        l: ledger.id,
      }),
    ).ledger.assets;
    expect(read).toEqual([{ id: rows[0]!.id, expiresAfterDays: 90, expiryPolicy: { kind: 'ROLLING', days: 90 } }]);
  });
});

describe('hostile policies', () => {
  it.each([
    [{ kind: 'END_OF_PERIOD', period: 'YEAR', timeZone: 'Mars/Olympus' }, /not an IANA time zone/],
    [{ kind: 'END_OF_PERIOD', period: 'YEAR', timeZone: '' }, /not an IANA time zone/],
    [{ kind: 'END_OF_PERIOD', period: 'YEAR', timeZone: 'Asia/Manila\u0000' }, /NUL byte/],
    [{ kind: 'END_OF_PERIOD' }, /period is required/],
    [{ kind: 'END_OF_PERIOD', period: 'YEAR', periods: -1 }, /periods must be an integer from 0 to 1200/],
    [{ kind: 'END_OF_PERIOD', period: 'YEAR', periods: 1201 }, /periods must be an integer from 0 to 1200/],
    [{ kind: 'END_OF_PERIOD', period: 'YEAR', days: 3 }, /days does not apply to END_OF_PERIOD/],
    [{ kind: 'INACTIVITY' }, /days is required/],
    [{ kind: 'INACTIVITY', days: 0 }, /from 1 to 36500/],
    [{ kind: 'ROLLING', days: 36_501 }, /from 1 to 36500/],
    [{ kind: 'ROLLING', days: 5, timeZone: 'UTC' }, /timeZone does not apply to ROLLING/],
  ])('refuses %j and creates nothing', async (policy, message) => {
    const ledger = await createLedger(t);
    const refused = await t.gql(CREATE_ASSET, {
      input: { ledgerId: ledger.id, code: 'PTS', name: 'Points', kind: 'POINTS', scale: 0, expiryPolicy: policy },
    });
    expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors![0]!.message).toMatch(message);
    const { rows } = await t.db.pool.query('SELECT 1 FROM assets WHERE root_ledger_id = $1', [ledger.id]);
    expect(rows).toEqual([]);
  });

  it('refuses a policy and expiresAfterDays together, and an unknown kind or period at the schema', async () => {
    const ledger = await createLedger(t);
    const base = { ledgerId: ledger.id, code: 'PTS', name: 'Points', kind: 'POINTS', scale: 0 };
    const both = await t.gql(CREATE_ASSET, {
      input: { ...base, expiresAfterDays: 3, expiryPolicy: { kind: 'ROLLING', days: 3 } },
    });
    expect(both.errors![0]!.message).toMatch(/not both/);
    for (const expiryPolicy of [
      { kind: 'SOMETIMES', days: 1 },
      { kind: 'END_OF_PERIOD', period: 'FORTNIGHT' },
    ]) {
      expect(errorCode(await t.gql(CREATE_ASSET, { input: { ...base, expiryPolicy } }))).toBe('BAD_USER_INPUT');
    }
  });
});

describe("the server's calendar", () => {
  it("agrees with PostgreSQL's date_trunc in zones with and without daylight saving, far from UTC", async () => {
    const zones = [
      'UTC',
      'America/New_York',
      'Europe/Berlin',
      'Asia/Manila',
      'Pacific/Kiritimati',
      'Pacific/Chatham',
      'Australia/Lord_Howe',
      'America/St_Johns',
      'Asia/Kathmandu',
      'America/Santiago',
    ];
    const periods = ['DAY', 'WEEK', 'MONTH', 'YEAR'] as const;
    // Instants around the year ends, leap days and the daylight-saving changes of 2024–2027, plus a spread.
    const instants: Date[] = [];
    for (const base of [
      '2024-02-28T23:30:00Z',
      '2024-02-29T12:00:00Z',
      '2024-12-31T10:00:00Z',
      '2025-03-09T06:30:00Z',
      '2025-11-02T05:30:00Z',
      '2026-03-29T00:30:00Z',
      '2026-09-06T03:30:00Z',
      '2026-10-25T01:30:00Z',
      '2026-12-31T15:59:59.999Z',
      '2027-04-04T12:00:00Z',
    ]) {
      for (const shift of [-36, -13, -1, 0, 1, 13, 36]) instants.push(new Date(Date.parse(base) + shift * 3_600_000));
    }
    for (let i = 0; i < 60; i++) instants.push(new Date(Date.UTC(2024, 0, 1) + i * 13 * DAY + i * 3_611_000));

    const cases = zones.flatMap((zone) =>
      periods.flatMap((period) =>
        instants.flatMap((instant) => [0, 1, 2].map((offset) => ({ zone, period, instant, offset }))),
      ),
    );
    const { rows } = await t.db.pool.query<{ boundary: Date }>(
      `SELECT (date_trunc(lower(c.period), c.instant AT TIME ZONE c.zone)
                + c.offset_by * ('1 ' || lower(c.period))::interval) AT TIME ZONE c.zone AS boundary
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[]) WITH ORDINALITY
              AS c(zone, period, instant, offset_by, n)
        ORDER BY c.n`,
      [cases.map((c) => c.zone), cases.map((c) => c.period), cases.map((c) => c.instant), cases.map((c) => c.offset)],
    );
    const disagreements = cases
      .map((c, index) => ({
        ...c,
        server: periodBoundary(c.instant, c.period, c.zone, c.offset).toISOString(),
        postgres: rows[index]!.boundary.toISOString(),
      }))
      .filter((c) => c.server !== c.postgres);
    expect(disagreements).toEqual([]);
  });
});
