import { readFileSync } from 'node:fs';
import path from 'node:path';
import { at, readmeSteps, substitute } from '../src/scripts/readme-steps';
import { createAccount, createProgram, issue, key } from './support/builders';
import { ADMIN_URL_VAR, withAdminClient } from './support/databases';
import { createSource, httpImport, recordsOf } from './support/reconciliation';
import { normalise, unroutedStatements } from './support/routability';
import { ok, startTestServer, type TestServer } from './support/server';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';
import { ALLOWED_UNROUTED_STATEMENTS } from './routability.allow-list';

/**
 * Every statement the server sends to a tenant table (one with a root_ledger_id column) names its root,
 * so that on Citus it is routed to one shard (docs/citus-routing.md). The server runs the README's two
 * walk-throughs and a tour of what they leave out (holds, batches, reversals, reads by id across two roots,
 * keys, audit, integrity, expiry) on a cluster of its own with pg_stat_statements, nested statements
 * included; then every statement it recorded for this database is read back and checked.
 */
let t: TestServer;
let receiver: WebhookReceiver;
/** Global tables with a root_ledger_id column that is data, not a distribution key (Citus reference tables). */
const GLOBAL_TABLES = new Set(['api_keys', 'root_ledger_codes']);
const adminUrl = () => process.env[ADMIN_URL_VAR]!;

beforeAll(async () => {
  await withAdminClient(adminUrl(), async (client) => {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await client.query('SELECT pg_stat_statements_reset()');
  });
  receiver = await startWebhookReceiver();
  // Webhooks dispatched and delivered while the tour runs, so their statements are recorded too.
  t = await startTestServer({ webhooks: { pollIntervalMs: 50, retryScale: 0.001, timeoutMs: 3_000 } });
});
afterAll(async () => {
  await t.stop();
  await receiver.close();
});

async function walkThrough(tag?: string): Promise<Map<string, unknown>> {
  const steps = readmeSteps(readFileSync(path.resolve(__dirname, '../README.md'), 'utf8'), tag);
  const captured = new Map<string, unknown>();
  for (const step of steps) {
    const data = ok(await t.gql(step.query, substitute(step.variables, captured) as Record<string, unknown>));
    if (step.directive?.verb === 'capture') captured.set(step.directive.name, at(data, step.directive.path));
  }
  return captured;
}

async function tour(): Promise<void> {
  const first = await createProgram(t);
  const second = await createProgram(t);
  const [a, b] = [await createAccount(t, first.ledgerId), await createAccount(t, first.ledgerId)];
  const other = await createAccount(t, second.ledgerId);
  const issued = await issue(t, a.id, '500');
  const otherIssued = await issue(t, other.id, '70');
  const HOLD = 'mutation($i: HoldInput!) { hold(input: $i) { transaction { id } } }';
  const holdOf = async (amount: string) =>
    ok(await t.gql(HOLD, { i: { accountId: a.id, asset: 'PTS', amount, idempotencyKey: key('hold') } })).hold
      .transaction.id;
  const captured = await holdOf('20');
  ok(
    await t.gql(
      'mutation($id: ID!, $k: String!) { postPendingTransaction(id: $id, idempotencyKey: $k) { replayed } }',
      {
        id: captured,
        k: key('capture'),
      },
    ),
  );
  ok(
    await t.gql(
      'mutation($id: ID!, $k: String!) { voidPendingTransaction(id: $id, idempotencyKey: $k) { replayed } }',
      {
        id: await holdOf('5'),
        k: key('void'),
      },
    ),
  );
  const move = (amount: string) => ({
    ledgerId: first.ledgerId,
    idempotencyKey: key('move'),
    kind: 'TRANSFER',
    entries: [
      { accountId: a.id, asset: 'PTS', amount, direction: 'DEBIT' },
      { accountId: b.id, asset: 'PTS', amount, direction: 'CREDIT' },
    ],
  });
  ok(
    await t.gql('mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { transaction { id } } }', {
      i: { atomic: true, transactions: [move('10'), move('15')] },
    }),
  );
  ok(
    await t.gql('mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { transaction { id } } }', {
      i: { atomic: false, transactions: [move('1'), move('2')] },
    }),
  );
  ok(
    await t.gql('mutation($id: ID!) { reverseTransaction(id: $id, idempotencyKey: "undo") { transaction { id } } }', {
      id: otherIssued,
    }),
  );
  // Reads by id, several roots in one request: the loaders' batches.
  ok(
    await t.gql(
      `query($a: ID!, $o: ID!, $tx: ID!, $l1: ID!, $l2: ID!) {
        x: account(id: $a) { code balance(asset: "PTS") { available } entries(first: 5) { edges { node { amount transaction { id kind } } } } }
        y: account(id: $o) { code balance(asset: "PTS") { available } entries(first: 5) { edges { node { amount } } } }
        transaction(id: $tx) { id status entries { amount account { code } } }
        l1: ledger(id: $l1) { code balances { creditsPosted } }
        l2: ledger(id: $l2) { code }
        transactions(ledgerId: $l1, first: 5) { edges { node { id } } }
      }`,
      { a: a.id, o: other.id, tx: issued, l1: first.ledgerId, l2: second.ledgerId },
    ),
  );
  ok(
    await t.gql('mutation($id: ID!, $i: UpdateAccountInput!) { updateAccount(id: $id, input: $i) { id } }', {
      id: b.id,
      i: { metadata: { tier: 'gold' } },
    }),
  );
  const created = ok(
    await t.gql(
      'mutation($l: ID!) { createApiKey(input: { name: "reader", role: READER, ledgerId: $l }) { apiKey { id } secret } }',
      { l: first.ledgerId },
    ),
  ).createApiKey;
  ok(await t.gql('query($id: ID!) { account(id: $id) { code } }', { id: a.id }, created.secret));
  ok(await t.gql('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: created.apiKey.id }));
  ok(await t.gql('mutation { createApiKey(input: { name: "global", role: READER }) { secret } }'));
  ok(
    await t.gql('query($l: ID!) { auditEvents(ledgerId: $l, first: 5) { edges { node { operation } } } }', {
      l: first.ledgerId,
    }),
  );
  ok(await t.gql('query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok } }', { l: first.ledgerId }));
  ok(await t.gql('mutation($l: ID!) { runExpiry(ledgerId: $l) { transactionsPosted } }', { l: first.ledgerId }));
  ok(await t.gql('query($l: ID!) { events(ledgerId: $l, first: 5) { edges { cursor } } }', { l: first.ledgerId }));

  // Limits, gift cards and webhooks: created, read and changed by id.
  const limit = ok(
    await t.gql('mutation($i: CreateLimitInput!) { createLimit(input: $i) { id } }', {
      i: { ledgerId: first.ledgerId, asset: 'PTS', kind: 'EARN_PER_PERIOD', period: 'DAY', amount: '100000' },
    }),
  ).createLimit;
  await issue(t, b.id, '3');
  ok(await t.gql('mutation($id: ID!) { deleteLimit(id: $id) { id } }', { id: limit.id }));
  const card = ok(
    await t.gql(
      'mutation($l: ID!, $k: String!) { issueGiftCard(input: { ledgerId: $l, asset: "PTS", amount: "40", idempotencyKey: $k }) { code pin card { id } } }',
      { l: first.ledgerId, k: key('card') },
    ),
  ).issueGiftCard;
  ok(await t.gql('query($id: ID!) { giftCard(id: $id) { status } }', { id: card.card.id }));
  ok(
    await t.gql('query($c: String!, $p: String!) { giftCardBalance(code: $c, pin: $p) { posted } }', {
      c: card.code,
      p: card.pin,
    }),
  );
  const hook = ok(
    await t.gql('mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id } } }', {
      i: { ledgerId: first.ledgerId, url: receiver.url('/tour'), eventTypes: [] },
    }),
  ).createWebhookEndpoint.endpoint;
  await issue(t, b.id, '4');
  await receiver.waitFor((requests) => requests.length > 0, 10_000);
  ok(await t.gql('mutation($id: ID!) { sendTestWebhook(endpointId: $id) { status } }', { id: hook.id }));
  ok(
    await t.gql('query($id: ID!) { webhookEndpoint(id: $id) { id deliveries(first: 5) { edges { node { id } } } } }', {
      id: hook.id,
    }),
  );
  ok(await t.gql('mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }', { id: hook.id }));
  ok(await t.gql('mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }', { id: hook.id }));

  // A streamed import over HTTP, its records read back, a continuous source; a balance as of a past moment.
  const source = await createSource(t, first.ledgerId);
  const csv =
    'externalId,asset,amount,direction,occurredAt,reference,accountCode\n' +
    `r1,PTS,4,CREDIT,${new Date().toISOString()},ref-1,${b.code}\n`;
  expect((await httpImport(t, source.id, csv)).status).toBe(201);
  await recordsOf(t, source.id);
  const continuous = await createSource(t, first.ledgerId, { continuous: true });
  expect((await httpImport(t, continuous.id, csv)).status).toBe(201);
  ok(
    await t.gql('query($id: ID!, $at: DateTime) { account(id: $id) { balance(asset: "PTS", asOf: $at) { posted } } }', {
      id: a.id,
      at: new Date(Date.now() - 1000).toISOString(),
    }),
  );

  // The scheduler's pass (hold timeouts, lot expiry), two days on.
  ok(
    await t.gql(HOLD, {
      i: { accountId: a.id, asset: 'PTS', amount: '1', idempotencyKey: key('short'), timeoutSeconds: 1 },
    }),
  );
  await t.server.scheduler.tick(new Date(Date.now() + 2 * 86_400_000));
}

it('runs the README walk-throughs and the tour', async () => {
  await walkThrough();
  await walkThrough('recon-step');
  await tour();
});

it('sends no statement on a tenant table without its root, but the allow-listed ones', async () => {
  const database = new URL(t.databaseUrl).pathname.slice(1);
  const queries = await withAdminClient(adminUrl(), async (client) => {
    const statements = await client.query<{ query: string }>(
      'SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)',
      [database],
    );
    return statements.rows.map((row) => row.query);
  });
  const tenant = await t.db.pool.query<{ table_name: string }>(
    `SELECT DISTINCT c.table_name FROM information_schema.columns c
       JOIN information_schema.tables s ON s.table_schema = c.table_schema AND s.table_name = c.table_name
      WHERE c.table_schema = 'public' AND c.column_name = 'root_ledger_id' AND s.table_type = 'BASE TABLE'`,
  );
  const tenantTables = new Set(tenant.rows.map((row) => row.table_name).filter((table) => !GLOBAL_TABLES.has(table)));
  expect(tenantTables.has('entries')).toBe(true);
  expect(queries.length).toBeGreaterThan(100);
  const unrouted = unroutedStatements(queries, tenantTables, ALLOWED_UNROUTED_STATEMENTS);
  expect(unrouted.map(normalise)).toEqual([]);
});
