import { createAccount, createProgram, issue, key } from './support/builders';
import { ADMIN_KEY, errorCode, ok, startTestServer, type TestServer } from './support/server';

const lines: string[] = [];
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ logLines: lines });
});
afterAll(async () => {
  await t.stop();
});

const METRICS = [
  'reward_ledger_graphql_request_duration_seconds',
  'reward_ledger_postings_total',
  'reward_ledger_posting_retries_total',
  'reward_ledger_db_pool_connections',
  'reward_ledger_websocket_connections',
  'reward_ledger_subscriptions',
  'reward_ledger_event_delivery_lag_seconds',
  'reward_ledger_scheduler_runs_total',
  'reward_ledger_scheduler_work_total',
  'reward_ledger_rate_limited_total',
  'reward_ledger_webhook_deliveries_total',
  'reward_ledger_webhook_attempts_total',
  'reward_ledger_process_resident_memory_bytes',
];

it('logs one JSON line per request with request id, operation, duration, actor and outcome', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  await fetch(t.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}`, 'x-request-id': 'obs-1' },
    body: JSON.stringify({
      query: 'mutation Earn($i: IssueInput!) { issue(input: $i) { replayed } }',
      variables: { i: { accountId: account.id, asset: 'PTS', amount: '3', idempotencyKey: key() } },
    }),
  });
  expect(
    errorCode(
      await t.gql('mutation($i: RedeemInput!) { redeem(input: $i) { replayed } }', {
        i: { accountId: account.id, asset: 'PTS', amount: '99', idempotencyKey: key() },
      }),
    ),
  ).toBe('INSUFFICIENT_FUNDS');

  const records = lines.map((line) => JSON.parse(line)).filter((record) => record.message === 'graphql request');
  const earn = records.find((record) => record.requestId === 'obs-1');
  expect(earn).toMatchObject({
    level: 'info',
    operation: 'mutation.issue',
    operationName: 'Earn',
    actorId: 'bootstrap-admin',
    outcome: 'OK',
  });
  expect(typeof earn.durationMs).toBe('number');
  expect(
    records.some((record) => record.operation === 'mutation.redeem' && record.outcome === 'INSUFFICIENT_FUNDS'),
  ).toBe(true);
});

it('serves every documented metric at /metrics, counting postings by kind and outcome', async () => {
  const { ledgerId } = await createProgram(t);
  await issue(t, (await createAccount(t, ledgerId)).id, '5');
  await t.server.scheduler.tick();
  const text = await (await fetch(t.url.replace('/graphql', '/metrics'))).text();
  for (const name of METRICS) expect([name, text.includes(name)]).toEqual([name, true]);
  expect(text).toMatch(/reward_ledger_postings_total\{kind="ISSUE",outcome="OK"\} [1-9]/);
  expect(text).toMatch(
    /reward_ledger_graphql_request_duration_seconds_count\{operation="mutation.issue",outcome="OK"\} [1-9]/,
  );
  expect(text).toMatch(/reward_ledger_scheduler_runs_total\{outcome="ok"\} [1-9]/);
});

it('never writes a secret or token into the logs', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const secret = ok(
    await t.gql(
      `mutation($l: ID!) { createApiKey(input: { name: "logged", role: READER, ledgerId: $l }) { secret } }`,
      { l: ledgerId },
    ),
  ).createApiKey.secret;
  const token = ok(await t.gql(`mutation($a: ID!) { createCustomerToken(accountId: $a) { token } }`, { a: account.id }))
    .createCustomerToken.token;
  await t.gql('{ viewer { role } }', {}, secret);
  await t.gql('{ viewer { role } }', {}, token);
  await t.gql('{ viewer { role } }', {}, 'wrong-secret-that-is-long-enough-00000');
  const all = lines.join('\n');
  for (const value of [secret, token, ADMIN_KEY]) expect(all).not.toContain(value);
});

describe('rate limiting', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ rateLimitPerSecond: 1, rateLimitBurst: 3 });
  });
  afterAll(async () => {
    await limited.stop();
  });

  it('refuses a key past its burst with RATE_LIMITED, retryable, HTTP 429 and a retry-after hint', async () => {
    for (let index = 0; index < 3; index += 1) ok(await limited.gql('{ viewer { role } }'));
    const response = await fetch(limited.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ query: '{ viewer { role } }' }),
    });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await response.json()) as any;
    expect(body.errors[0].extensions).toMatchObject({
      code: 'RATE_LIMITED',
      retryable: true,
      retryAfterSeconds: expect.any(Number),
    });
  });

  it('refuses the reconciliation HTTP routes past the burst the same way, reading no body', async () => {
    // One request a burst, refilled every 100 s: the second request of the test is always over.
    const strict = await startTestServer({ rateLimitPerSecond: 0.01, rateLimitBurst: 1 });
    const base = strict.url.replace(/\/graphql$/, '');
    const headers = { authorization: `Bearer ${ADMIN_KEY}` };
    ok(await strict.gql('{ viewer { role } }'));
    const answers = [
      await fetch(`${base}/reconciliation/runs/0190d8c1-0000-7000-8000-000000000000/report.csv`, { headers }),
      await fetch(`${base}/reconciliation/sources/0190d8c1-0000-7000-8000-000000000000/records`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'text/csv', 'idempotency-key': 'k' },
        body: 'externalId,asset,amount,direction,occurredAt\n',
      }),
    ];
    for (const response of answers) {
      expect(response.status).toBe(429);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await response.json()) as any).errors[0].extensions).toMatchObject({
        code: 'RATE_LIMITED',
        retryable: true,
        retryAfterSeconds: expect.any(Number),
      });
    }
    await strict.stop();
  });
});
