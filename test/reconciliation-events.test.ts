import { key } from './support/builders';
import {
  aroundNow,
  createPartner,
  earn,
  importRecords,
  partnerRecord,
  runReconciliation,
} from './support/reconciliation-runs';
import { ok, startTestServer, type TestServer } from './support/server';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';

/**
 * Reconciliation in the durable feed and over webhooks: `reconciliation.run.completed` for every completed
 * run, `reconciliation.exception.opened` for each exception a COMMIT run declares (a DRY_RUN's are a report).
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

const TYPES = ['reconciliation.run.completed', 'reconciliation.exception.opened'];
const EVENTS = `query($l: ID!, $types: [String!]) { events(ledgerId: $l, types: $types, first: 100) {
  edges { node { id type data } } } }`;

it('announces completed runs and the exceptions a COMMIT run opens, in the feed and signed to a webhook', async () => {
  const partner = await createPartner(t);
  const created = ok(
    await t.gql(
      `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id } } }`,
      { i: { ledgerId: partner.ledgerId, url: receiver.url('/recon'), eventTypes: TYPES } },
    ),
  ).createWebhookEndpoint;
  receiver.trust('/recon', created.secret);
  const order = key('order');
  await earn(t, partner.alice.id, '10', order);
  await importRecords(t, partner.sourceId, [
    partnerRecord('sale-1', order, '10', partner.alice.code),
    partnerRecord('sale-2', key('lost'), '7', partner.bob.code),
  ]);

  const window = aroundNow();
  const commitKey = key('run');
  const dry = await runReconciliation(t, partner.sourceId, 'DRY_RUN', window);
  const commit = await runReconciliation(t, partner.sourceId, 'COMMIT', window, commitKey);
  expect(commit.summary).toMatchObject({ matched: 1, missingInLedger: 1 });

  const events = ok(await t.gql(EVENTS, { l: partner.ledgerId, types: TYPES })).events.edges.map((e: any) => e.node);
  expect(events.map((event: any) => [event.type, event.data.run?.id ?? event.data.exception?.runId])).toEqual([
    ['reconciliation.run.completed', dry.id],
    ['reconciliation.exception.opened', commit.id],
    ['reconciliation.run.completed', commit.id],
  ]);
  const [, opened, completed] = events;
  const exceptionId = ok(
    await t.gql(`query($id: ID!) { reconciliationRun(id: $id) { exceptions { edges { node { id } } } } }`, {
      id: commit.id,
    }),
  ).reconciliationRun.exceptions.edges[0].node.id;
  expect(opened.data.exception).toMatchObject({
    id: exceptionId,
    runId: commit.id,
    sourceId: partner.sourceId,
    ledgerId: partner.ledgerId,
    kind: 'MISSING_IN_LEDGER',
    status: 'OPEN',
    asset: 'PTS',
    expectedAmount: '7',
    ledgerAmount: null,
    difference: '7',
    transactionId: null,
  });
  expect(completed.data.run).toMatchObject({
    id: commit.id,
    sourceId: partner.sourceId,
    ledgerId: partner.ledgerId,
    mode: 'COMMIT',
    status: 'COMPLETED',
    summary: { externalRecords: 2, matched: 1, missingInLedger: 1, missingExternally: 0 },
  });
  expect(completed.data.run.finishedAt).toBe(new Date(completed.data.run.finishedAt).toISOString());

  // The same events reach the endpoint, signed, each once.
  const requests = await receiver.waitFor((all) => all.filter((r) => r.path === '/recon').length >= 3, 20_000);
  const delivered = requests.filter((r) => r.path === '/recon').map((r) => receiver.verify(r, created.secret) as any);
  expect(delivered.map((body) => body.id)).toEqual(events.map((event: any) => event.id));
  expect(delivered[2]).toMatchObject({ type: 'reconciliation.run.completed', data: completed.data });

  // A replayed run writes nothing, so it announces nothing.
  expect((await runReconciliation(t, partner.sourceId, 'COMMIT', window, commitKey)).id).toBe(commit.id);
  const again = ok(await t.gql(EVENTS, { l: partner.ledgerId, types: TYPES })).events.edges;
  expect(again).toHaveLength(3);
});

it('does not show a source’s events outside its subtree', async () => {
  const partner = await createPartner(t);
  await importRecords(t, partner.sourceId, [partnerRecord('x', key('x'), '1', partner.alice.code)]);
  await runReconciliation(t, partner.sourceId, 'COMMIT');
  const elsewhere = await createPartner(t);
  expect(ok(await t.gql(EVENTS, { l: elsewhere.ledgerId, types: TYPES })).events.edges).toEqual([]);
  expect(ok(await t.gql(EVENTS, { l: partner.ledgerId, types: TYPES })).events.edges).toHaveLength(2);
});
