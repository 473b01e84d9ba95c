import {
  balanceOf,
  BALANCE,
  createAccount,
  createLedger,
  createProgram,
  createAsset,
  ISSUE,
  issue,
  key,
  REDEEM,
  TRANSFER,
} from './support/builders';
import { errorCode, ok, startTestServer, type TestServer } from './support/server';
import { balancesDisagreeingWithEntries, snapshotLedger, unbalancedAssets } from './support/snapshot';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});
afterEach(async () => {
  expect(await unbalancedAssets(t.db)).toEqual([]);
  expect(await balancesDisagreeingWithEntries(t.db)).toEqual([]);
});

const POST = `mutation($input: PostTransactionInput!) { postTransaction(input: $input) { replayed transaction { id kind entries { direction amount account { code } asset { code } } } } }`;
const ADJUST = `mutation($input: AdjustInput!) { adjust(input: $input) { replayed transaction { id kind description } } }`;
const REVERSE = `mutation($id: ID!, $key: String!, $reason: String) { reverseTransaction(id: $id, idempotencyKey: $key, reason: $reason) { replayed transaction { id kind reversalOf { id } } } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateAccountInput!) { updateAccount(id: $id, input: $input) { id status name metadata } }`;

/** Runs a mutation that must fail, and proves it changed nothing. */
async function expectRefused(query: string, variables: Record<string, unknown>, code: string): Promise<void> {
  const before = await snapshotLedger(t.db);
  const response = await t.gql(query, variables);
  expect(errorCode(response)).toBe(code);
  expect(await snapshotLedger(t.db)).toEqual(before);
}

describe('issue, redeem and transfer', () => {
  it('issues points from system:issuance and reads them back as the balance', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const result = ok(
      await t.gql(ISSUE, { input: { accountId: customer.id, asset: 'PTS', amount: '500', idempotencyKey: key() } }),
    );
    expect(result.issue.replayed).toBe(false);
    expect(result.issue.transaction.kind).toBe('ISSUE');
    expect(result.issue.transaction.entries).toEqual([
      { direction: 'DEBIT', amount: '500', account: { code: 'system:issuance' } },
      { direction: 'CREDIT', amount: '500', account: { code: customer.code } },
    ]);
    expect(await balanceOf(t, customer.id)).toEqual({
      posted: '500',
      pending: '0',
      available: '500',
      debitsPosted: '0',
      creditsPosted: '500',
      debitsPending: '0',
      creditsPending: '0',
      version: 1,
    });
  });

  it('redeems within the balance and refuses a redemption above it with INSUFFICIENT_FUNDS, changing nothing', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    await issue(t, customer.id, '300');
    ok(await t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '120', idempotencyKey: key() } }));
    await expectRefused(
      REDEEM,
      { input: { accountId: customer.id, asset: 'PTS', amount: '181', idempotencyKey: key() } },
      'INSUFFICIENT_FUNDS',
    );
    ok(await t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '180', idempotencyKey: key() } }));
    expect(await balanceOf(t, customer.id)).toMatchObject({ posted: '0', available: '0', version: 3 });
  });

  it('refuses the first-ever debit of an empty account, which has no balance row yet', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    await expectRefused(
      REDEEM,
      { input: { accountId: customer.id, asset: 'PTS', amount: '1', idempotencyKey: key() } },
      'INSUFFICIENT_FUNDS',
    );
    expect(await balanceOf(t, customer.id)).toMatchObject({ posted: '0', version: 0 });
  });

  it('transfers between customers and refuses a transfer to the same account', async () => {
    const { ledgerId } = await createProgram(t);
    const [alice, bob] = [await createAccount(t, ledgerId), await createAccount(t, ledgerId)];
    await issue(t, alice.id, '100');
    ok(
      await t.gql(TRANSFER, {
        input: { fromAccountId: alice.id, toAccountId: bob.id, asset: 'PTS', amount: '40', idempotencyKey: key() },
      }),
    );
    expect((await balanceOf(t, alice.id)).posted).toBe('60');
    expect((await balanceOf(t, bob.id)).posted).toBe('40');
    await expectRefused(
      TRANSFER,
      { input: { fromAccountId: alice.id, toAccountId: alice.id, asset: 'PTS', amount: '1', idempotencyKey: key() } },
      'BAD_USER_INPUT',
    );
  });

  it('lets an account with an overdraft limit go exactly to minus the limit and no further', async () => {
    const { ledgerId } = await createProgram(t);
    const [credit, other] = [
      await createAccount(t, ledgerId, { allowOverdraft: true, overdraftLimit: '100' }),
      await createAccount(t, ledgerId),
    ];
    ok(
      await t.gql(TRANSFER, {
        input: { fromAccountId: credit.id, toAccountId: other.id, asset: 'PTS', amount: '100', idempotencyKey: key() },
      }),
    );
    expect((await balanceOf(t, credit.id)).available).toBe('-100');
    await expectRefused(
      TRANSFER,
      { input: { fromAccountId: credit.id, toAccountId: other.id, asset: 'PTS', amount: '1', idempotencyKey: key() } },
      'INSUFFICIENT_FUNDS',
    );
  });

  it('names exactly the accounts a refused posting would overdraw, and changes nothing', async () => {
    const { ledgerId } = await createProgram(t);
    const [rich, poor, payee] = [
      await createAccount(t, ledgerId),
      await createAccount(t, ledgerId),
      await createAccount(t, ledgerId),
    ];
    await issue(t, rich.id, '100');
    await issue(t, poor.id, '10');
    const input = {
      ledgerId,
      idempotencyKey: key(),
      entries: [
        { accountId: rich.id, asset: 'PTS', direction: 'DEBIT', amount: '50' },
        { accountId: poor.id, asset: 'PTS', direction: 'DEBIT', amount: '50' },
        { accountId: payee.id, asset: 'PTS', direction: 'CREDIT', amount: '100' },
      ],
    };
    await expectRefused(POST, { input }, 'INSUFFICIENT_FUNDS');
    const { errors } = await t.gql(POST, { input });
    expect(errors![0]!.message).toBe(
      `insufficient funds: the posting would take ${poor.code} below its allowed balance`,
    );
    expect((await balanceOf(t, rich.id)).posted).toBe('100');
  });

  it('keeps its database connections when Postgres refuses a posting', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    await issue(t, customer.id, '5');
    const refuse = async () =>
      expect(
        errorCode(
          await t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '6', idempotencyKey: key() } }),
        ),
      ).toBe('INSUFFICIENT_FUNDS');
    // The first refusal may still open a connection the pool did not have yet.
    await refuse();
    let opened = 0;
    const count = () => (opened += 1);
    t.db.pool.on('connect', count);
    try {
      for (let attempt = 0; attempt < 10; attempt += 1) await refuse();
      expect(opened).toBe(0);
    } finally {
      t.db.pool.off('connect', count);
    }
  });

  it('lets an account with unlimited overdraft go as negative as needed', async () => {
    const { ledgerId } = await createProgram(t);
    const [open, other] = [
      await createAccount(t, ledgerId, { allowOverdraft: true }),
      await createAccount(t, ledgerId),
    ];
    ok(
      await t.gql(TRANSFER, {
        input: {
          fromAccountId: open.id,
          toAccountId: other.id,
          asset: 'PTS',
          amount: '1000000000000',
          idempotencyKey: key(),
        },
      }),
    );
    expect((await balanceOf(t, open.id)).posted).toBe('-1000000000000');
  });

  it('reads a debit-normal account in its own direction', async () => {
    const { ledgerId } = await createProgram(t);
    const receivable = await createAccount(t, ledgerId, { normalBalance: 'DEBIT', allowOverdraft: true });
    const customer = await createAccount(t, ledgerId);
    ok(
      await t.gql(TRANSFER, {
        input: {
          fromAccountId: receivable.id,
          toAccountId: customer.id,
          asset: 'PTS',
          amount: '70',
          idempotencyKey: key(),
        },
      }),
    );
    expect(await balanceOf(t, receivable.id)).toMatchObject({ posted: '70', debitsPosted: '70', creditsPosted: '0' });
  });
});

describe('idempotency', () => {
  it('answers a repeated request with the original transaction and replayed: true', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const input = { accountId: customer.id, asset: 'PTS', amount: '10', idempotencyKey: key() };
    const first = ok(await t.gql(ISSUE, { input }));
    const before = await snapshotLedger(t.db);
    const second = ok(await t.gql(ISSUE, { input }));
    expect(second.issue).toMatchObject({ replayed: true, transaction: { id: first.issue.transaction.id } });
    expect(await snapshotLedger(t.db)).toEqual(before);
  });

  it('refuses the same key with a different request as IDEMPOTENCY_CONFLICT', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const idempotencyKey = key();
    ok(await t.gql(ISSUE, { input: { accountId: customer.id, asset: 'PTS', amount: '10', idempotencyKey } }));
    await expectRefused(
      ISSUE,
      { input: { accountId: customer.id, asset: 'PTS', amount: '11', idempotencyKey } },
      'IDEMPOTENCY_CONFLICT',
    );
    await expectRefused(
      REDEEM,
      { input: { accountId: customer.id, asset: 'PTS', amount: '10', idempotencyKey } },
      'IDEMPOTENCY_CONFLICT',
    );
  });

  it('replays the original even after the account has been frozen', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const input = { accountId: customer.id, asset: 'PTS', amount: '10', idempotencyKey: key() };
    ok(await t.gql(ISSUE, { input }));
    ok(await t.gql(UPDATE, { id: customer.id, input: { status: 'FROZEN' } }));
    expect(ok(await t.gql(ISSUE, { input })).issue.replayed).toBe(true);
  });

  it('refuses keys that are empty or longer than 255 characters', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    for (const idempotencyKey of ['', 'x'.repeat(256)]) {
      await expectRefused(
        ISSUE,
        { input: { accountId: customer.id, asset: 'PTS', amount: '1', idempotencyKey } },
        'BAD_USER_INPUT',
      );
    }
  });
});

describe('postTransaction', () => {
  it('posts a multi-asset transaction addressed by account ids and codes', async () => {
    const { ledgerId } = await createProgram(t);
    await createAsset(t, ledgerId, 'USD', 2);
    const shop = await createAccount(t, ledgerId, { code: 'merchant:7', allowOverdraft: true });
    const customer = await createAccount(t, ledgerId);
    const result = ok(
      await t.gql(POST, {
        input: {
          ledgerId,
          idempotencyKey: key(),
          kind: 'TRANSFER',
          description: 'cashback and points',
          metadata: { orderId: 'o-1' },
          entries: [
            { accountCode: 'merchant:7', asset: 'PTS', direction: 'DEBIT', amount: '50' },
            { accountId: customer.id, asset: 'PTS', direction: 'CREDIT', amount: 50 },
            { accountCode: 'system:issuance', asset: 'USD', direction: 'DEBIT', amount: '125' },
            { accountId: customer.id, asset: 'USD', direction: 'CREDIT', amount: '125' },
          ],
        },
      }),
    );
    expect(result.postTransaction.transaction.entries).toHaveLength(4);
    expect((await balanceOf(t, customer.id, 'USD')).posted).toBe('125');
    expect((await balanceOf(t, shop.id, 'PTS')).posted).toBe('-50');
  });

  it('refuses single-entry and unbalanced transactions with UNBALANCED_TRANSACTION', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    await expectRefused(
      POST,
      {
        input: {
          ledgerId,
          idempotencyKey: key(),
          entries: [{ accountId: customer.id, asset: 'PTS', direction: 'CREDIT', amount: '5' }],
        },
      },
      'UNBALANCED_TRANSACTION',
    );
    await expectRefused(
      POST,
      {
        input: {
          ledgerId,
          idempotencyKey: key(),
          entries: [
            { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount: '5' },
            { accountId: customer.id, asset: 'PTS', direction: 'CREDIT', amount: '6' },
          ],
        },
      },
      'UNBALANCED_TRANSACTION',
    );
  });

  it('refuses entries across two root ledgers', async () => {
    const one = await createProgram(t);
    const two = await createProgram(t);
    const [a, b] = [
      await createAccount(t, one.ledgerId, { allowOverdraft: true }),
      await createAccount(t, two.ledgerId),
    ];
    await expectRefused(
      TRANSFER,
      { input: { fromAccountId: a.id, toAccountId: b.id, asset: 'PTS', amount: '1', idempotencyKey: key() } },
      'BAD_USER_INPUT',
    );
  });

  it('answers an unknown account with NOT_FOUND and an unknown asset with ASSET_NOT_FOUND', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    await expectRefused(
      ISSUE,
      {
        input: { accountId: '01a1fc9e-0000-7000-8000-000000000000', asset: 'PTS', amount: '1', idempotencyKey: key() },
      },
      'NOT_FOUND',
    );
    await expectRefused(
      ISSUE,
      { input: { accountId: customer.id, asset: 'GEMS', amount: '1', idempotencyKey: key() } },
      'ASSET_NOT_FOUND',
    );
    await expectRefused(
      POST,
      {
        input: {
          ledgerId,
          idempotencyKey: key(),
          entries: [
            { accountCode: 'no-such-account', asset: 'PTS', direction: 'DEBIT', amount: '1' },
            { accountId: customer.id, asset: 'PTS', direction: 'CREDIT', amount: '1' },
          ],
        },
      },
      'NOT_FOUND',
    );
  });

  it('reserves the REVERSAL and EXPIRE kinds for their own operations', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    for (const kind of ['REVERSAL', 'EXPIRE']) {
      await expectRefused(
        POST,
        {
          input: {
            ledgerId,
            idempotencyKey: key(),
            kind,
            entries: [
              { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount: '1' },
              { accountId: customer.id, asset: 'PTS', direction: 'CREDIT', amount: '1' },
            ],
          },
        },
        'BAD_USER_INPUT',
      );
    }
  });

  it('refuses an effectiveAt more than five minutes ahead but accepts a backdated one', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const entries = [
      { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount: '1' },
      { accountId: customer.id, asset: 'PTS', direction: 'CREDIT', amount: '1' },
    ];
    await expectRefused(
      POST,
      {
        input: {
          ledgerId,
          idempotencyKey: key(),
          effectiveAt: new Date(Date.now() + 3_600_000).toISOString(),
          entries,
        },
      },
      'BAD_USER_INPUT',
    );
    ok(await t.gql(POST, { input: { ledgerId, idempotencyKey: key(), effectiveAt: '2026-01-01T00:00:00Z', entries } }));
  });
});

describe('adjust and reverseTransaction', () => {
  it('adjusts against system:adjustment with the reason as description', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const result = ok(
      await t.gql(ADJUST, {
        input: {
          accountId: customer.id,
          asset: 'PTS',
          amount: '25',
          direction: 'CREDIT',
          idempotencyKey: key(),
          reason: 'goodwill',
        },
      }),
    );
    expect(result.adjust.transaction).toMatchObject({ kind: 'ADJUST', description: 'goodwill' });
    expect((await balanceOf(t, customer.id)).posted).toBe('25');
  });

  it('reverses a redemption once, restoring the balance, and refuses a second reversal with ALREADY_REVERSED', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    await issue(t, customer.id, '100');
    const redemption = ok(
      await t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '60', idempotencyKey: key() } }),
    ).redeem.transaction.id;
    const reversal = ok(await t.gql(REVERSE, { id: redemption, key: key(), reason: 'order cancelled' }));
    expect(reversal.reverseTransaction.transaction).toMatchObject({ kind: 'REVERSAL', reversalOf: { id: redemption } });
    expect((await balanceOf(t, customer.id)).posted).toBe('100');
    await expectRefused(REVERSE, { id: redemption, key: key() }, 'ALREADY_REVERSED');
    await expectRefused(REVERSE, { id: reversal.reverseTransaction.transaction.id, key: key() }, 'BAD_USER_INPUT');
    const linked = ok(
      await t.gql(`query($id: ID!) { transaction(id: $id) { reversedBy { id } } }`, { id: redemption }),
    );
    expect(linked.transaction.reversedBy.id).toBe(reversal.reverseTransaction.transaction.id);
  });

  it('refuses to reverse an issuance whose points were already spent', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const issuance = await issue(t, customer.id, '100');
    ok(await t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '30', idempotencyKey: key() } }));
    await expectRefused(REVERSE, { id: issuance, key: key() }, 'INSUFFICIENT_FUNDS');
  });
});

describe('account status', () => {
  it('refuses postings to FROZEN and CLOSED accounts with ACCOUNT_NOT_ACTIVE', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    await issue(t, customer.id, '10');
    ok(await t.gql(UPDATE, { id: customer.id, input: { status: 'FROZEN' } }));
    await expectRefused(
      ISSUE,
      { input: { accountId: customer.id, asset: 'PTS', amount: '1', idempotencyKey: key() } },
      'ACCOUNT_NOT_ACTIVE',
    );
    const { errors } = await t.gql(ISSUE, {
      input: { accountId: customer.id, asset: 'PTS', amount: '1', idempotencyKey: key() },
    });
    expect(errors![0]!.message).toBe(`account ${customer.code} is FROZEN`);
    ok(await t.gql(UPDATE, { id: customer.id, input: { status: 'ACTIVE' } }));
    await issue(t, customer.id, '1');
  });

  it('closes only an account whose balances are zero, and never reopens it', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    await issue(t, customer.id, '10');
    await expectRefused(UPDATE, { id: customer.id, input: { status: 'CLOSED' } }, 'BAD_USER_INPUT');
    ok(await t.gql(REDEEM, { input: { accountId: customer.id, asset: 'PTS', amount: '10', idempotencyKey: key() } }));
    expect(
      ok(
        await t.gql(UPDATE, {
          id: customer.id,
          input: { status: 'CLOSED', name: 'Gone', metadata: { reason: 'left' } },
        }),
      ).updateAccount,
    ).toMatchObject({
      status: 'CLOSED',
      name: 'Gone',
      metadata: { reason: 'left' },
    });
    await expectRefused(
      ISSUE,
      { input: { accountId: customer.id, asset: 'PTS', amount: '1', idempotencyKey: key() } },
      'ACCOUNT_NOT_ACTIVE',
    );
    await expectRefused(UPDATE, { id: customer.id, input: { status: 'ACTIVE' } }, 'BAD_USER_INPUT');
  });

  it('refuses changes to system accounts', async () => {
    const { ledgerId } = await createProgram(t);
    const system = ok(
      await t.gql(`query($l: ID!) { account(ledgerId: $l, code: "system:issuance") { id } }`, { l: ledgerId }),
    ).account;
    await expectRefused(UPDATE, { id: system.id, input: { status: 'FROZEN' } }, 'BAD_USER_INPUT');
  });
});

describe('ledgers, assets and accounts', () => {
  it('creates every root ledger with its five system accounts', async () => {
    const ledger = await createLedger(t);
    const data = ok(
      await t.gql(
        `query($id: ID!) { accounts(ledgerId: $id, filter: { codePrefix: "system:" }) { edges { node { code allowOverdraft } } } }`,
        { id: ledger.id },
      ),
    );
    expect(data.accounts.edges.map((edge: any) => edge.node.code).sort()).toEqual([
      'system:adjustment',
      'system:conversion',
      'system:expiry',
      'system:issuance',
      'system:redemption',
    ]);
  });

  it('refuses duplicate codes, bad codes, reserved prefixes and out-of-range scales with BAD_USER_INPUT', async () => {
    const ledger = await createLedger(t);
    await createAsset(t, ledger.id, 'PTS');
    const ASSET = `mutation($input: CreateAssetInput!) { createAsset(input: $input) { id } }`;
    const ACCOUNT = `mutation($input: CreateAccountInput!) { createAccount(input: $input) { id } }`;
    await expectRefused(
      ASSET,
      { input: { ledgerId: ledger.id, code: 'PTS', name: 'again', kind: 'POINTS', scale: 0 } },
      'BAD_USER_INPUT',
    );
    await expectRefused(
      ASSET,
      { input: { ledgerId: ledger.id, code: 'USD', name: 'dollars', kind: 'CURRENCY', scale: 19 } },
      'BAD_USER_INPUT',
    );
    await expectRefused(
      ASSET,
      { input: { ledgerId: ledger.id, code: 'bad code', name: 'x', kind: 'OTHER', scale: 0 } },
      'BAD_USER_INPUT',
    );
    await expectRefused(ACCOUNT, { input: { ledgerId: ledger.id, code: 'system:mine' } }, 'BAD_USER_INPUT');
    await expectRefused(ACCOUNT, { input: { ledgerId: ledger.id, code: 'c1', overdraftLimit: '5' } }, 'BAD_USER_INPUT');
    await createAccount(t, ledger.id, { code: 'c1' });
    await expectRefused(ACCOUNT, { input: { ledgerId: ledger.id, code: 'c1' } }, 'BAD_USER_INPUT');
    await expectRefused(
      `mutation { createLedger(input: { code: "${ledger.code}", name: "dup" }) { id } }`,
      {},
      'BAD_USER_INPUT',
    );
  });

  it('rolls balances up a ledger tree and lists subtree history newest first', async () => {
    const root = await createLedger(t);
    await createAsset(t, root.id, 'PTS');
    const region = await createLedger(t, { parentId: root.id, code: 'region-eu' });
    const store = await createLedger(t, { parentId: region.id, code: 'store-1' });
    const other = await createLedger(t, { parentId: root.id, code: 'region-us' });
    const [inStore, inRegion, inOther] = [
      await createAccount(t, store.id),
      await createAccount(t, region.id),
      await createAccount(t, other.id),
    ];
    await issue(t, inStore.id, '10');
    await issue(t, inRegion.id, '20');
    await issue(t, inOther.id, '40');

    const query = `query($id: ID!) { ledger(id: $id) { code parent { code } root { id } balances { asset { code } creditsPosted debitsPosted }
      children { edges { node { code } } } transactions(first: 10) { edges { node { id entries { account { id } } } } } } }`;
    const regionView = ok(await t.gql(query, { id: region.id })).ledger;
    expect(regionView.balances).toEqual([{ asset: { code: 'PTS' }, creditsPosted: '30', debitsPosted: '0' }]);
    expect(regionView.children.edges.map((edge: any) => edge.node.code)).toEqual(['store-1']);
    expect(regionView.root.id).toBe(root.id);
    expect(regionView.transactions.edges).toHaveLength(2);
    const rootView = ok(await t.gql(query, { id: root.id })).ledger;
    expect(rootView.balances).toEqual([{ asset: { code: 'PTS' }, creditsPosted: '70', debitsPosted: '70' }]);
    const ids = rootView.transactions.edges.map((edge: any) => edge.node.id);
    expect(ids).toEqual([...ids].sort().reverse());
  });

  it('pages through accounts and transactions with cursors and filters', async () => {
    const { ledgerId } = await createProgram(t);
    const customers: Array<{ id: string }> = [];
    for (let index = 0; index < 5; index += 1)
      customers.push(
        await createAccount(t, ledgerId, { code: `vip:${index}`, metadata: { tier: index % 2 ? 'gold' : 'silver' } }),
      );
    for (const customer of customers) await issue(t, customer.id, '5');

    const page1 = ok(
      await t.gql(
        `query($l: ID!) { accounts(ledgerId: $l, first: 2, filter: { codePrefix: "vip:" }) { edges { node { code } } pageInfo { hasNextPage endCursor } } }`,
        { l: ledgerId },
      ),
    ).accounts;
    expect(page1.edges.map((edge: any) => edge.node.code)).toEqual(['vip:0', 'vip:1']);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const rest = ok(
      await t.gql(
        `query($l: ID!, $after: String) { accounts(ledgerId: $l, first: 10, after: $after, filter: { codePrefix: "vip:" }) { edges { node { code } } pageInfo { hasNextPage } } }`,
        { l: ledgerId, after: page1.pageInfo.endCursor },
      ),
    ).accounts;
    expect(rest.edges.map((edge: any) => edge.node.code)).toEqual(['vip:2', 'vip:3', 'vip:4']);
    expect(rest.pageInfo.hasNextPage).toBe(false);

    const gold = ok(
      await t.gql(
        `query($l: ID!) { accounts(ledgerId: $l, filter: { metadata: { tier: "gold" } }) { edges { node { code } } } }`,
        { l: ledgerId },
      ),
    ).accounts;
    expect(gold.edges.map((edge: any) => edge.node.code)).toEqual(['vip:1', 'vip:3']);

    const history = ok(
      await t.gql(
        `query($l: ID!, $a: ID!) { transactions(ledgerId: $l, filter: { accountId: $a, kind: ISSUE }) { edges { node { kind } } } }`,
        { l: ledgerId, a: customers[2]!.id },
      ),
    ).transactions;
    expect(history.edges).toHaveLength(1);
    const none = ok(
      await t.gql(`query($l: ID!) { transactions(ledgerId: $l, filter: { kind: REDEEM }) { edges { node { id } } } }`, {
        l: ledgerId,
      }),
    ).transactions;
    expect(none.edges).toHaveLength(0);

    expect(
      errorCode(
        await t.gql(`query($l: ID!) { accounts(ledgerId: $l, first: 501) { edges { cursor } } }`, { l: ledgerId }),
      ),
    ).toBe('BAD_USER_INPUT');
    expect(
      errorCode(
        await t.gql(`query($l: ID!) { accounts(ledgerId: $l, after: "garbage") { edges { cursor } } }`, {
          l: ledgerId,
        }),
      ),
    ).toBe('BAD_USER_INPUT');
  });

  it('answers a balance of an asset never held with zero and version 0', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    expect(await balanceOf(t, customer.id)).toMatchObject({ posted: '0', available: '0', version: 0 });
    expect(errorCode(await t.gql(BALANCE, { id: customer.id, asset: 'NOPE' }))).toBe('ASSET_NOT_FOUND');
  });
});

/**
 * The guards' refusals, matched by SQLSTATE (restrict_violation, check_violation) and wording but never by
 * table name: on Citus the trigger runs on a shard and names it (entries_102037).
 */
const APPEND_ONLY = { code: '23001', message: expect.stringMatching(/rows are append-only/) };
const IMMUTABLE = { code: '23001', message: expect.stringMatching(/immutable/) };

describe('the journal is append-only in the database itself', () => {
  it('rejects UPDATE and DELETE of entries and any change to a posted transaction', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const transactionId = await issue(t, customer.id, '10');
    await expect(
      t.db.pool.query('UPDATE entries SET amount = 1 WHERE transaction_id = $1', [transactionId]),
    ).rejects.toMatchObject(APPEND_ONLY);
    await expect(
      t.db.pool.query('DELETE FROM entries WHERE transaction_id = $1', [transactionId]),
    ).rejects.toMatchObject(APPEND_ONLY);
    await expect(
      t.db.pool.query("UPDATE transactions SET description = 'edited' WHERE id = $1", [transactionId]),
    ).rejects.toMatchObject(IMMUTABLE);
    await expect(t.db.pool.query('DELETE FROM transactions WHERE id = $1', [transactionId])).rejects.toMatchObject(
      APPEND_ONLY,
    );
    await expect(t.db.pool.query('UPDATE audit_events SET operation = $1', ['x'])).rejects.toMatchObject(APPEND_ONLY);
  });

  it('rejects a non-positive entry amount and unbalanced entries even from raw SQL', async () => {
    const { ledgerId } = await createProgram(t);
    const customer = await createAccount(t, ledgerId);
    const transactionId = await issue(t, customer.id, '10');
    const {
      rows: [entry],
    } = await t.db.pool.query('SELECT * FROM entries WHERE transaction_id = $1 LIMIT 1', [transactionId]);
    const insert = (amount: number) =>
      t.db.pool.query(
        `INSERT INTO entries (id, root_ledger_id, transaction_id, account_id, ledger_id, asset_id, direction, amount, effective_at)
       VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, 'DEBIT', $6, now())`,
        [entry.root_ledger_id, transactionId, entry.account_id, entry.ledger_id, entry.asset_id, amount],
      );
    await expect(insert(0)).rejects.toMatchObject({
      code: '23514',
      message: expect.stringMatching(/entries_amount_positive/),
    });
    await expect(insert(5)).rejects.toMatchObject({ code: '23514', message: 'unbalanced journal entries' });
  });
});
