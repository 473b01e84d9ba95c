import { createAccount, createLedger, createProgram, issue } from './support/builders';
import { errorCode, ok, startTestServer, type TestServer } from './support/server';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from './support/webhook-receiver';

/**
 * Webhooks end to end: a real server delivering to a real receiver on 127.0.0.1, signatures checked with
 * `standardwebhooks` (the reference implementation) inside the receiver. Retries run on the published
 * schedule scaled down a thousandfold (5 s becomes 5 ms).
 */
let t: TestServer;
let receiver: WebhookReceiver;
beforeAll(async () => {
  t = await startTestServer({ webhooks: { pollIntervalMs: 50, retryScale: 0.001, timeoutMs: 3_000 } });
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await t.stop();
  await receiver.close();
});

const WAIT_MS = 20_000;

const CREATE = `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  secret endpoint { id url eventTypes status ledger { id } } } }`;
const ENDPOINT = `query($id: ID!, $s: WebhookDeliveryStatus) { webhookEndpoint(id: $id) { id status disabledReason
  deliveries(first: 100, status: $s) { edges { node { id status attempts lastResponseStatus lastError nextAttemptAt
  lastAttemptAt event { id type data } } } } } }`;

async function createEndpoint(
  ledgerId: string,
  path: string,
  eventTypes?: string[],
): Promise<{ id: string; secret: string }> {
  const created = ok(
    await t.gql(CREATE, { i: { ledgerId, url: receiver.url(path), eventTypes, description: `test ${path}` } }),
  ).createWebhookEndpoint;
  receiver.trust(path, created.secret);
  return { id: created.endpoint.id, secret: created.secret };
}

async function endpoint(id: string, status?: string): Promise<any> {
  return ok(await t.gql(ENDPOINT, { id, s: status ?? null })).webhookEndpoint;
}

/** Waits until the endpoint's deliveries satisfy `done`, asking the API (no timing is asserted). */
async function untilDeliveries(id: string, done: (deliveries: any[]) => boolean): Promise<any[]> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const deliveries = (await endpoint(id)).deliveries.edges.map((edge: any) => edge.node);
    if (done(deliveries)) return deliveries;
    if (Date.now() > deadline) throw new Error(`deliveries never matched: ${JSON.stringify(deliveries)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const to = (path: string) => (requests: readonly ReceivedWebhook[]) => requests.filter((r) => r.path === path);
const bodyOf = (request: ReceivedWebhook) => JSON.parse(request.body);

it('delivers a posting signed per Standard Webhooks, carrying the feed event as it is', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const hook = await createEndpoint(ledgerId, '/signed', ['transaction.posted']);
  const transactionId = await issue(t, account.id, '25');

  const [request] = to('/signed')(await receiver.waitFor((all) => to('/signed')(all).length >= 1, WAIT_MS));
  expect(request!.verifiedWith).toEqual([hook.secret]);
  const payload = receiver.verify(request!, hook.secret) as any;
  expect(request!.headers['content-type']).toBe('application/json');
  expect(request!.headers['user-agent']).toMatch(/RewardLedger/);
  expect(Math.abs(Number(request!.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(300);

  const feed = ok(
    await t.gql(
      `query($l: ID!) { events(ledgerId: $l, types: ["transaction.posted"]) { edges { node { id type occurredAt data } } } }`,
      { l: ledgerId },
    ),
  ).events.edges.map((edge: any) => edge.node);
  expect(feed).toHaveLength(1);
  expect(payload).toEqual({
    id: feed[0].id,
    type: 'transaction.posted',
    timestamp: feed[0].occurredAt,
    data: feed[0].data,
  });
  expect(request!.id).toBe(feed[0].id);
  expect(payload.data.transaction.id).toBe(transactionId);
  expect(payload.data.transaction.entries.map((entry: any) => entry.amount)).toEqual(['25', '25']);

  const deliveries = await untilDeliveries(hook.id, (all) => all.every((d) => d.status === 'SUCCEEDED'));
  expect(deliveries).toHaveLength(1);
  expect(deliveries[0]).toMatchObject({ status: 'SUCCEEDED', attempts: 1, lastResponseStatus: 200, lastError: null });
  expect(deliveries[0].event.id).toBe(feed[0].id);

  const metrics = await (await fetch(t.url.replace(/\/graphql$/, '/metrics'))).text();
  expect(metrics).toMatch(/^reward_ledger_webhook_attempts_total\{outcome="succeeded"\} [1-9]/m);
  expect(metrics).toMatch(/^reward_ledger_webhook_deliveries_total [1-9]/m);
});

it('signs with both secrets during a rotation, each verifying on its own', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const hook = await createEndpoint(ledgerId, '/rotating', ['transaction.posted']);
  const rotated = ok(
    await t.gql(`mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { id } } }`, { id: hook.id }),
  ).rotateWebhookSecret;
  expect(rotated.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  expect(rotated.secret).not.toBe(hook.secret);
  receiver.trust('/rotating', rotated.secret);
  await issue(t, account.id, '3');

  const [request] = to('/rotating')(await receiver.waitFor((all) => to('/rotating')(all).length >= 1, WAIT_MS));
  expect(request!.verifiedWith).toEqual([hook.secret, rotated.secret]);
  expect(String(request!.headers['webhook-signature']).split(' ')).toHaveLength(2);
  expect(() => receiver.verify(request!, rotated.secret)).not.toThrow();
  expect(() => receiver.verify(request!, hook.secret)).not.toThrow();
});

it('stops signing with the old secret once the rotation overlap is over', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const hook = await createEndpoint(ledgerId, '/overlap-over', ['transaction.posted']);
  const rotated = ok(await t.gql(`mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, { id: hook.id }))
    .rotateWebhookSecret.secret;
  receiver.trust('/overlap-over', rotated);
  // The overlap (a day by default) has passed.
  await t.db.pool.query(
    `UPDATE webhook_endpoints SET previous_expires_at = now() - interval '1 second' WHERE id = $1`,
    [hook.id],
  );
  await issue(t, account.id, '1');
  const [request] = to('/overlap-over')(await receiver.waitFor((all) => to('/overlap-over')(all).length >= 1, WAIT_MS));
  expect(request!.verifiedWith).toEqual([rotated]);
  expect(String(request!.headers['webhook-signature']).split(' ')).toHaveLength(1);
});

it('sends an endpoint only the types it asked for, and only from its own subtree', async () => {
  const root = await createLedger(t);
  const a = await createLedger(t, { parentId: root.id, code: 'region-a' });
  const b = await createLedger(t, { parentId: root.id, code: 'region-b' });
  const other = await createLedger(t);
  const onA = await createEndpoint(a.id, '/scope-a', ['account.created']);
  const onRoot = await createEndpoint(root.id, '/scope-root');
  const onOther = await createEndpoint(other.id, '/scope-other');

  const inA = await createAccount(t, a.id);
  const inB = await createAccount(t, b.id);
  ok(await t.gql(`mutation($id: ID!) { updateAccount(id: $id, input: { name: "renamed" }) { id } }`, { id: inA.id }));
  const last = await createAccount(t, b.id);

  // Exactly what committed after each endpoint was made: not the trees' own system accounts, made before.
  const seen = (deliveries: any[]) => [...deliveries].reverse().map((d) => [d.event.type, d.event.data.account.id]);
  // The root's endpoint receives all four; once it has the last, every later pass has seen them all.
  await untilDeliveries(onRoot.id, (all) => seen(all).length === 4 && all.every((d) => d.status === 'SUCCEEDED'));
  await t.server.webhooks!.dispatcher.pass();
  expect(seen((await endpoint(onRoot.id)).deliveries.edges.map((edge: any) => edge.node))).toEqual([
    ['account.created', inA.id],
    ['account.created', inB.id],
    ['account.updated', inA.id],
    ['account.created', last.id],
  ]);
  const aDeliveries = await untilDeliveries(onA.id, (all) => all.every((d) => d.status === 'SUCCEEDED'));
  expect(aDeliveries.map((d) => [d.event.type, d.event.data.account.id])).toEqual([['account.created', inA.id]]);
  expect((await endpoint(onOther.id)).deliveries.edges).toEqual([]);
  expect(to('/scope-other')(receiver.requests)).toEqual([]);
  expect(to('/scope-a')(receiver.requests).map((request) => bodyOf(request).data.account.id)).toEqual([inA.id]);
});

it('disables the endpoint when the receiver answers 410 Gone, and audits it', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const hook = await createEndpoint(ledgerId, '/gone', ['transaction.posted']);
  receiver.respond((request) => (request.path === '/gone' ? { status: 410, body: 'gone' } : { status: 200 }));
  try {
    await issue(t, account.id, '1');
    const [delivery] = await untilDeliveries(hook.id, (all) => all.length === 1 && all[0].status !== 'PENDING');
    expect(delivery).toMatchObject({ status: 'FAILED', attempts: 1, lastResponseStatus: 410, nextAttemptAt: null });
    const after = await endpoint(hook.id);
    expect(after.status).toBe('DISABLED');
    expect(after.disabledReason).toMatch(/410/);
    const audit = ok(
      await t.gql(
        `query($l: ID!) { auditEvents(ledgerId: $l, filter: { operation: "disableWebhookEndpoint" }) { edges { node { actorType targetIds } } } }`,
        { l: ledgerId },
      ),
    ).auditEvents.edges.map((edge: any) => edge.node);
    expect(audit).toEqual([{ actorType: 'system', targetIds: [hook.id] }]);

    // Disabled: a later posting is not sent, until the endpoint is enabled again.
    await issue(t, account.id, '2');
    await t.server.webhooks!.dispatcher.pass();
    expect(to('/gone')(receiver.requests)).toHaveLength(1);
    receiver.respond(() => ({ status: 200 }));
    const enabled = ok(
      await t.gql(`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { status: ENABLED }) { status } }`, {
        id: hook.id,
      }),
    ).updateWebhookEndpoint;
    expect(enabled.status).toBe('ENABLED');
    const deliveries = await untilDeliveries(hook.id, (all) => all.length === 2 && all[0].status === 'SUCCEEDED');
    expect(deliveries.map((d) => d.status)).toEqual(['SUCCEEDED', 'FAILED']);
  } finally {
    receiver.respond(() => ({ status: 200 }));
  }
});

it('fails a delivery for good on a 400, and retries a 500 with the same webhook-id until a 200', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const bad = await createEndpoint(ledgerId, '/bad', ['transaction.posted']);
  const flaky = await createEndpoint(ledgerId, '/flaky', ['transaction.posted']);
  receiver.respond((request) => {
    if (request.path === '/bad') return { status: 400, body: 'no thanks' };
    if (request.path === '/flaky' && request.pathIndex <= 2) return { status: 500, body: 'try later' };
    return { status: 200 };
  });
  try {
    await issue(t, account.id, '1');
    const [failed] = await untilDeliveries(bad.id, (all) => all.length === 1 && all[0].status !== 'PENDING');
    expect(failed).toMatchObject({ status: 'FAILED', attempts: 1, lastResponseStatus: 400, nextAttemptAt: null });
    expect(failed.lastError).toBe('HTTP 400: no thanks');
    expect((await endpoint(bad.id)).status).toBe('ENABLED');

    const [retried] = await untilDeliveries(flaky.id, (all) => all.length === 1 && all[0].status === 'SUCCEEDED');
    expect(retried).toMatchObject({ attempts: 3, lastResponseStatus: 200, lastError: null });
    const attempts = to('/flaky')(receiver.requests);
    expect(attempts.map((request) => request.answer)).toEqual([500, 500, 200]);
    expect(new Set(attempts.map((request) => request.id))).toEqual(new Set([retried.event.id]));
    expect(attempts.every((request) => request.verifiedWith.length === 1)).toBe(true);
  } finally {
    receiver.respond(() => ({ status: 200 }));
  }
});

it('retries an attempt that timed out, with the same webhook-id', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const hook = await createEndpoint(ledgerId, '/sleepy', ['transaction.posted']);
  // Longer than this server's WEBHOOK_TIMEOUT_MS (3 s), once.
  receiver.respond((request) =>
    request.path === '/sleepy' && request.pathIndex === 1 ? { status: 200, delayMs: 4_000 } : { status: 200 },
  );
  try {
    await issue(t, account.id, '1');
    const [delivery] = await untilDeliveries(hook.id, (all) => all.length === 1 && all[0].status === 'SUCCEEDED');
    expect(delivery).toMatchObject({ attempts: 2, lastResponseStatus: 200, lastError: null });
    const requests = await receiver.waitFor((all) => to('/sleepy')(all).length >= 2, WAIT_MS);
    expect(new Set(to('/sleepy')(requests).map((request) => request.id))).toEqual(new Set([delivery.event.id]));
  } finally {
    receiver.respond(() => ({ status: 200 }));
  }
});

it('disables an endpoint whose every attempt has failed for five days (scaled), and audits it', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const hook = await createEndpoint(ledgerId, '/down', ['transaction.posted']);
  receiver.respond((request) => (request.path === '/down' ? { status: 503 } : { status: 200 }));
  try {
    await issue(t, account.id, '1');
    await untilDeliveries(
      hook.id,
      (all) => all.length === 1 && all[0].attempts >= 1 && all[0].lastResponseStatus === 503,
    );
    expect((await endpoint(hook.id)).status).toBe('ENABLED');
    // Five days at WEBHOOK_RETRY_SCALE=0.001 are 7.2 minutes; the streak began ten minutes ago.
    await t.db.pool.query(`UPDATE webhook_endpoints SET failing_since = now() - interval '10 minutes' WHERE id = $1`, [
      hook.id,
    ]);
    const deadline = Date.now() + WAIT_MS;
    let after = await endpoint(hook.id);
    while (after.status !== 'DISABLED' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await endpoint(hook.id);
    }
    expect(after.status).toBe('DISABLED');
    expect(after.disabledReason).toMatch(/^every attempt failed since /);
    const audit = ok(
      await t.gql(
        `query($l: ID!) { auditEvents(ledgerId: $l, filter: { operation: "disableWebhookEndpoint" }) { edges { node { targetIds } } } }`,
        { l: ledgerId },
      ),
    ).auditEvents.edges;
    expect(audit.map((edge: any) => edge.node.targetIds)).toEqual([[hook.id]]);
  } finally {
    receiver.respond(() => ({ status: 200 }));
  }
});

it('redelivers a window of events with their original webhook-ids', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const hook = await createEndpoint(ledgerId, '/replay', ['transaction.posted']);
  const from = new Date(Date.now() - 1000).toISOString();
  await issue(t, account.id, '1');
  await issue(t, account.id, '2');
  const first = await untilDeliveries(hook.id, (all) => all.length === 2 && all.every((d) => d.status === 'SUCCEEDED'));
  const ids = first.map((d) => d.event.id).sort();

  const count = ok(
    await t.gql(`mutation($id: ID!, $from: DateTime!) { redeliverWebhooks(endpointId: $id, from: $from) }`, {
      id: hook.id,
      from,
    }),
  ).redeliverWebhooks;
  expect(count).toBe(2);
  await receiver.waitFor((all) => to('/replay')(all).length >= 4, WAIT_MS);
  const received = to('/replay')(receiver.requests).map((request) => request.id!);
  expect(received.slice(2).sort()).toEqual(ids);
  expect(received.slice(0, 2).sort()).toEqual(ids);

  // A window in the future holds nothing.
  const none = ok(
    await t.gql(`mutation($id: ID!, $from: DateTime!) { redeliverWebhooks(endpointId: $id, from: $from) }`, {
      id: hook.id,
      from: new Date(Date.now() + 3_600_000).toISOString(),
    }),
  ).redeliverWebhooks;
  expect(none).toBe(0);
});

it('sends a test webhook now and answers with its delivery, newest first in the listing', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const hook = await createEndpoint(ledgerId, '/test-send', ['transaction.posted']);
  await issue(t, account.id, '1');
  await untilDeliveries(hook.id, (all) => all.length === 1 && all[0].status === 'SUCCEEDED');

  const delivery = ok(
    await t.gql(
      `mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id status attempts lastResponseStatus event { id type data ledger { id } transaction { id } } } }`,
      { id: hook.id },
    ),
  ).sendTestWebhook;
  expect(delivery).toMatchObject({ status: 'SUCCEEDED', attempts: 1, lastResponseStatus: 200 });
  expect(delivery.event).toMatchObject({ type: 'webhook.test', ledger: { id: ledgerId }, transaction: null });
  const sent = to('/test-send')(receiver.requests).find((request) => request.id === delivery.event.id)!;
  expect(sent.verifiedWith).toEqual([hook.secret]);
  expect(bodyOf(sent)).toMatchObject({ type: 'webhook.test', data: { test: true, endpointId: hook.id } });

  const listed = (await endpoint(hook.id)).deliveries.edges.map((edge: any) => edge.node);
  expect(listed.map((d: any) => d.event.type)).toEqual(['webhook.test', 'transaction.posted']);
  expect((await endpoint(hook.id, 'FAILED')).deliveries.edges).toEqual([]);
  expect((await endpoint(hook.id, 'SUCCEEDED')).deliveries.edges).toHaveLength(2);
});

it('refuses bad input with a code and changes nothing', async () => {
  const { ledgerId } = await createProgram(t);
  const hook = await createEndpoint(ledgerId, '/strict');
  const list = async () =>
    ok(
      await t.gql(`query($l: ID!) { webhookEndpoints(ledgerId: $l) { edges { node { id url eventTypes } } } }`, {
        l: ledgerId,
      }),
    ).webhookEndpoints.edges.map((edge: any) => edge.node);
  const before = await list();
  expect(before).toEqual([{ id: hook.id, url: receiver.url('/strict'), eventTypes: [] }]);
  const audited = async () =>
    ok(await t.gql(`query($l: ID!) { auditEvents(ledgerId: $l, first: 500) { edges { cursor } } }`, { l: ledgerId }))
      .auditEvents.edges.length;
  const auditBefore = await audited();

  for (const url of ['ftp://example.com/hook', 'not a url', 'http://user:pass@127.0.0.1/x']) {
    expect(errorCode(await t.gql(CREATE, { i: { ledgerId, url } }))).toBe('BAD_USER_INPUT');
  }
  expect(
    errorCode(await t.gql(CREATE, { i: { ledgerId, url: receiver.url('/x'), eventTypes: ['transaction.exploded'] } })),
  ).toBe('BAD_USER_INPUT');
  expect(
    errorCode(
      await t.gql(`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { eventTypes: ["nope"] }) { id } }`, {
        id: hook.id,
      }),
    ),
  ).toBe('BAD_USER_INPUT');
  const unknown = '0190aaaa-0000-7000-8000-000000000000';
  for (const mutation of [
    `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`,
    `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }`,
    `mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }`,
  ]) {
    expect(errorCode(await t.gql(mutation, { id: unknown }))).toBe('NOT_FOUND');
  }
  expect(
    errorCode(
      await t.gql(`mutation($id: ID!, $from: DateTime!) { redeliverWebhooks(endpointId: $id, from: $from) }`, {
        id: unknown,
        from: new Date().toISOString(),
      }),
    ),
  ).toBe('NOT_FOUND');
  expect(await list()).toEqual(before);
  expect(await audited()).toBe(auditBefore);

  // Reconciliation types are valid names before anything emits them.
  const recon = ok(
    await t.gql(CREATE, {
      i: { ledgerId, url: receiver.url('/recon'), eventTypes: ['reconciliation.run.completed'] },
    }),
  ).createWebhookEndpoint.endpoint;
  expect(recon.eventTypes).toEqual(['reconciliation.run.completed']);
  const deleted = ok(
    await t.gql(`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id status } }`, { id: recon.id }),
  ).deleteWebhookEndpoint;
  expect(deleted.id).toBe(recon.id);
  expect(await list()).toEqual(before);
});

it('prunes finished deliveries past their retention, never pending ones', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const hook = await createEndpoint(ledgerId, '/pruned', ['transaction.posted']);
  await issue(t, account.id, '1');
  await untilDeliveries(hook.id, (all) => all.length === 1 && all[0].status === 'SUCCEEDED');
  const count = async (finished: boolean) =>
    Number(
      (
        await t.db.pool.query(`SELECT count(*) AS n FROM webhook_deliveries WHERE (status <> 'PENDING') = $1`, [
          finished,
        ])
      ).rows[0].n,
    );
  const pending = await count(false);
  expect(await count(true)).toBeGreaterThan(0);

  // Nothing is old enough yet; then, with the clock a minute ahead, everything finished is.
  expect(await t.server.webhooks!.dispatcher.prune(new Date(Date.now() - 86_400_000))).toBe(0);
  const deleted = await t.server.webhooks!.dispatcher.prune(new Date(Date.now() + 60_000));
  expect(deleted).toBeGreaterThan(0);
  expect(await count(true)).toBe(0);
  expect(await count(false)).toBe(pending);
  expect((await endpoint(hook.id)).deliveries.edges).toEqual([]);
});

describe('with a partner that hangs', () => {
  let small: TestServer;
  let hanging: WebhookReceiver;
  let slowArrivals = 0;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let stuckArrivals = 0;
  let unstick: () => void = () => undefined;
  const stuckGate = new Promise<void>((resolve) => {
    unstick = resolve;
  });
  beforeAll(async () => {
    // Two deliveries in flight per instance, one per endpoint: the tightest bounds there are.
    small = await startTestServer({
      webhooks: { pollIntervalMs: 50, retryScale: 0.001, timeoutMs: 60_000, concurrency: 2, endpointConcurrency: 1 },
    });
    hanging = await startWebhookReceiver(async (request) => {
      if (request.path === '/slow') {
        slowArrivals += 1;
        await gate;
      }
      if (request.path === '/stuck') {
        stuckArrivals += 1;
        await stuckGate;
      }
      return { status: 200 };
    });
  });
  afterAll(async () => {
    release();
    unstick();
    await small.stop();
    await hanging.close();
  });

  const deliveriesOf = async (id: string, status: string) =>
    ok(await small.gql(ENDPOINT, { id, s: status })).webhookEndpoint.deliveries.edges;

  async function until(condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error('condition never held');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('keeps delivering to other endpoints while one holds its slot with a backlog due', async () => {
    const { ledgerId } = await createProgram(small);
    const account = await createAccount(small, ledgerId);
    const create = async (path: string) =>
      ok(await small.gql(CREATE, { i: { ledgerId, url: hanging.url(path), eventTypes: ['transaction.posted'] } }))
        .createWebhookEndpoint.endpoint.id as string;
    const slow = await create('/slow');
    for (let n = 0; n < 12; n += 1) await issue(small, account.id, '1');
    await until(async () => slowArrivals >= 1 && (await deliveriesOf(slow, 'PENDING')).length === 12);

    // Eleven deliveries are due behind the hanging one, all older than anything of the next endpoint.
    const fast = await create('/fast');
    for (let n = 0; n < 3; n += 1) await issue(small, account.id, '1');
    await until(async () => (await deliveriesOf(fast, 'SUCCEEDED')).length === 3);
    expect(hanging.requestsTo('/fast')).toHaveLength(3);
    expect(slowArrivals).toBe(1);
    expect(await deliveriesOf(slow, 'PENDING')).toHaveLength(15);

    release();
    await until(async () => (await deliveriesOf(slow, 'SUCCEEDED')).length === 15);
    expect(new Set(hanging.requestsTo('/slow').map((request) => request.id)).size).toBe(15);
  });

  it('keeps delivering to another tree while an endpoint of one holds its slot with a backlog due', async () => {
    // Claims go tree by tree (one statement per root); a tree whose only endpoint is at its bound leaves the
    // free slot to the next tree in the same fill.
    const one = await createProgram(small);
    const other = await createProgram(small);
    const inOne = await createAccount(small, one.ledgerId);
    const inOther = await createAccount(small, other.ledgerId);
    const create = async (ledgerId: string, path: string) =>
      ok(await small.gql(CREATE, { i: { ledgerId, url: hanging.url(path), eventTypes: ['transaction.posted'] } }))
        .createWebhookEndpoint.endpoint.id as string;
    const stuck = await create(one.ledgerId, '/stuck');
    for (let n = 0; n < 6; n += 1) await issue(small, inOne.id, '1');
    await until(async () => stuckArrivals >= 1 && (await deliveriesOf(stuck, 'PENDING')).length === 6);

    const elsewhere = await create(other.ledgerId, '/other-tree');
    for (let n = 0; n < 3; n += 1) await issue(small, inOther.id, '1');
    await until(async () => (await deliveriesOf(elsewhere, 'SUCCEEDED')).length === 3);
    expect(hanging.requestsTo('/other-tree')).toHaveLength(3);
    expect(stuckArrivals).toBe(1);
    expect(await deliveriesOf(stuck, 'PENDING')).toHaveLength(6);

    unstick();
    await until(async () => (await deliveriesOf(stuck, 'SUCCEEDED')).length === 6);
    expect(new Set(hanging.requestsTo('/stuck').map((request) => request.id)).size).toBe(6);
  });
});
