import { randomUUID } from 'node:crypto';
import { createAccount, createProgram, issue } from './support/builders';
import { ok, startTestServer, type TestServer } from './support/server';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

/**
 * schema.prisma and the hand-written SQL must describe one database. Reading every model through Prisma,
 * with every relation, after the API has written real rows proves the names, types and keys agree.
 */
it('reads every model and relation through Prisma after real postings', async () => {
  const { ledgerId } = await createProgram(t);
  const customer = await createAccount(t, ledgerId, { metadata: { tier: 'gold' } });
  const transactionId = await issue(t, customer.id, '42');
  const reversal = ok(
    await t.gql(`mutation($id: ID!) { reverseTransaction(id: $id, idempotencyKey: "undo") { transaction { id } } }`, {
      id: transactionId,
    }),
  );
  ok(
    await t.gql(
      `mutation($l: ID!) { createApiKey(input: { name: "reader", role: READER, ledgerId: $l }) { secret } }`,
      { l: ledgerId },
    ),
  );

  const { prisma } = t.db;
  const ledger = await prisma.ledger.findFirstOrThrow({
    where: { id: ledgerId },
    include: {
      children: true,
      assets: true,
      accounts: true,
      transactions: true,
      entries: true,
      parent: true,
    },
  });
  expect(ledger.path).toEqual([ledgerId]);
  expect(ledger.accounts.map((account) => account.code).sort()).toContain('system:issuance');
  // api_keys is global, with no relation to ledgers (migration 20261207040000_citus_routable_keys).
  expect(await prisma.apiKey.count({ where: { ledgerId } })).toBe(1);
  expect(await prisma.rootLedgerCode.findUniqueOrThrow({ where: { code: ledger.code } })).toEqual({
    code: ledger.code,
    rootLedgerId: ledgerId,
  });
  expect(ledger.parent).toBeNull();

  const account = await prisma.account.findFirstOrThrow({
    where: { id: customer.id },
    include: { balances: { include: { asset: true } }, entries: true, ledger: true },
  });
  expect(account.metadata).toEqual({ tier: 'gold' });
  expect(account.balances[0]!.creditsPosted).toBe(42n);
  expect(account.balances[0]!.debitsPosted).toBe(42n);
  expect(account.balances[0]!.asset.code).toBe('PTS');
  expect(account.entries).toHaveLength(2);

  const original = await prisma.transaction.findFirstOrThrow({
    where: { id: transactionId },
    include: { entries: { include: { asset: true, account: true } }, reversedBy: true },
  });
  expect(original.entries.map((entry) => entry.amount)).toEqual([42n, 42n]);
  expect(original.reversedBy.map((row) => row.id)).toEqual([reversal.reverseTransaction.transaction.id]);
  const reversed = await prisma.transaction.findFirstOrThrow({
    where: { id: reversal.reverseTransaction.transaction.id },
    include: { reversalOf: true },
  });
  expect(reversed.reversalOf?.id).toBe(transactionId);

  const asset = await prisma.asset.findFirstOrThrow({
    where: { rootLedgerId: ledgerId },
    include: { balances: true, entries: true, ledger: true },
  });
  expect(asset.scale).toBe(0);
  expect(asset.entries.length).toBeGreaterThanOrEqual(4);

  const events = await prisma.auditEvent.findMany({ where: { rootLedgerId: ledgerId }, orderBy: { id: 'asc' } });
  expect(events.map((event) => event.operation)).toEqual([
    'createLedger',
    'createAsset',
    'createAccount',
    'issue',
    'reverseTransaction',
    'createApiKey',
  ]);
  expect(events.every((event) => event.actorId === 'bootstrap-admin' && event.requestId)).toBe(true);

  const key = await prisma.apiKey.findFirstOrThrow({ where: { ledgerId } });
  expect(key.rootLedgerId).toBe(ledgerId);

  // The lifecycle tables: a hold captured, lots opened and spent, a checkpoint written through Prisma.
  ok(
    await t.gql(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "STARS", name: "Stars", kind: POINTS, scale: 0, expiresAfterDays: 30 }) { id } }`,
      { l: ledgerId },
    ),
  );
  ok(
    await t.gql(
      `mutation($a: ID!) { issue(input: { accountId: $a, asset: "STARS", amount: "9", idempotencyKey: "stars" }) { replayed } }`,
      { a: customer.id },
    ),
  );
  const hold = ok(
    await t.gql(
      `mutation($a: ID!) { hold(input: { accountId: $a, asset: "STARS", amount: "4", idempotencyKey: "hold" }) { transaction { id } } }`,
      { a: customer.id },
    ),
  ).hold.transaction.id;
  const capture = ok(
    await t.gql(
      `mutation($h: ID!) { postPendingTransaction(id: $h, idempotencyKey: "capture") { transaction { id } } }`,
      { h: hold },
    ),
  ).postPendingTransaction.transaction.id;
  const settlement = await prisma.holdSettlement.findFirstOrThrow({
    where: { pendingTransactionId: hold },
    include: { pending: true, settlement: true },
  });
  expect(settlement).toMatchObject({
    action: 'POST',
    capturedAmount: 4n,
    pending: { status: 'POSTED', isHold: true },
    settlement: { id: capture },
  });
  const lot = await prisma.lot.findFirstOrThrow({
    where: { accountId: customer.id },
    include: { consumptions: { include: { transaction: true } }, sourceTransaction: true, asset: true, account: true },
  });
  expect(lot).toMatchObject({
    amount: 9n,
    remaining: 5n,
    asset: { code: 'STARS' },
    sourceTransaction: { kind: 'ISSUE' },
  });
  expect(lot.consumptions.map((consumption) => [consumption.amount, consumption.transaction.id])).toEqual([
    [4n, capture],
  ]);
  const entry = await prisma.entry.findFirstOrThrow({ where: { transactionId: hold } });
  expect(entry.pending).toBe(true);
  const checkpoint = await prisma.balanceCheckpoint.create({
    data: {
      rootLedgerId: ledgerId,
      accountId: customer.id,
      assetId: lot.assetId,
      asOf: new Date('2026-01-01T00:00:00Z'),
      debitsPosted: 0n,
      creditsPosted: 0n,
    },
    include: { account: true, asset: true },
  });
  expect(checkpoint.asset.code).toBe('STARS');

  // Webhooks: an endpoint and its test delivery (the receiver at port 9 refuses; the row is what counts).
  const hook = ok(
    await t.gql(
      `mutation($l: ID!) { createWebhookEndpoint(input: { ledgerId: $l, url: "http://127.0.0.1:9/x" }) { endpoint { id } } }`,
      { l: ledgerId },
    ),
  ).createWebhookEndpoint.endpoint.id;
  ok(await t.gql(`mutation($id: ID!) { sendTestWebhook(endpointId: $id) { id } }`, { id: hook }));
  const endpointRow = await prisma.webhookEndpoint.findFirstOrThrow({
    where: { id: hook },
    include: { ledger: true, deliveries: { include: { event: true, endpoint: true } } },
  });
  expect(endpointRow).toMatchObject({ status: 'ENABLED', eventTypes: [], ledger: { id: ledgerId } });
  expect(endpointRow.secretEncrypted.length).toBeGreaterThan(28);
  expect(endpointRow.deliveries.map((delivery) => [delivery.origin, delivery.status, delivery.event])).toEqual([
    ['TEST', 'FAILED', null],
  ]);
  const feedEvent = await prisma.ledgerEvent.findFirstOrThrow({
    where: { rootLedgerId: ledgerId },
    include: { webhookDeliveries: true },
  });
  expect(feedEvent.webhookDeliveries).toEqual([]);

  // A write through Prisma satisfies the same constraints as the SQL.
  const child = await prisma.ledger
    .create({
      data: {
        id: randomUUID(),
        rootLedgerId: ledgerId,
        parentId: ledgerId,
        code: 'via-prisma',
        name: 'Via Prisma',
        path: [ledgerId],
      },
    })
    .catch((error: Error) => error);
  expect(child).toBeInstanceOf(Error);
});
