import { ERROR_CATALOG } from '../src/platform/graphql-errors';
import { createAccount, createAsset, createProgram, issue, key, REDEEM, TRANSFER } from './support/builders';
import { startTestServer, type TestServer } from './support/server';
import { snapshotLedger } from './support/snapshot';

/** Errors a UI can act on: what a refused posting lacked, and the closed list of codes in the schema. */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

describe('INSUFFICIENT_FUNDS', () => {
  it('says which account and asset fell short, what was available and what was requested', async () => {
    const { ledgerId } = await createProgram(t);
    const account = await createAccount(t, ledgerId);
    await issue(t, account.id, '500');
    const before = await snapshotLedger(t.db);
    const refused = await t.gql(REDEEM, {
      input: { accountId: account.id, asset: 'PTS', amount: '600', idempotencyKey: key() },
    });
    expect(refused.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining(account.code),
        extensions: {
          code: 'INSUFFICIENT_FUNDS',
          retryable: false,
          accountId: account.id,
          asset: 'PTS',
          available: '500',
          requested: '600',
        },
      }),
    ]);
    expect(await snapshotLedger(t.db)).toEqual(before);
  });

  it('counts what a hold reserves, names the source of a transfer, and explains a dry run too', async () => {
    const { ledgerId } = await createProgram(t);
    const from = await createAccount(t, ledgerId);
    const to = await createAccount(t, ledgerId);
    await issue(t, from.id, '500');
    const held = await t.gql('mutation($i: HoldInput!) { hold(input: $i) { transaction { id } } }', {
      i: { accountId: from.id, asset: 'PTS', amount: '200', idempotencyKey: key() },
    });
    expect(held.errors).toBeUndefined();
    for (const dryRun of [false, true]) {
      const refused = await t.gql(TRANSFER, {
        input: {
          fromAccountId: from.id,
          toAccountId: to.id,
          asset: 'PTS',
          amount: '301',
          idempotencyKey: key(),
          dryRun,
        },
      });
      expect(refused.errors![0]!.extensions).toEqual({
        code: 'INSUFFICIENT_FUNDS',
        retryable: false,
        accountId: from.id,
        asset: 'PTS',
        available: '300',
        requested: '301',
      });
    }
  });

  it('picks the asset that fell short in a posting of several, on an account with an overdraft limit', async () => {
    const { ledgerId } = await createProgram(t);
    await createAsset(t, ledgerId, 'CASH', 2);
    const account = await createAccount(t, ledgerId, { allowOverdraft: true, overdraftLimit: '100' });
    await issue(t, account.id, '1000');
    await issue(t, account.id, '50', 'CASH');
    const refused = await t.gql(
      'mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }',
      {
        i: {
          ledgerId,
          idempotencyKey: key(),
          entries: [
            { accountId: account.id, asset: 'PTS', direction: 'DEBIT', amount: '10' },
            { accountCode: 'system:redemption', asset: 'PTS', direction: 'CREDIT', amount: '10' },
            { accountId: account.id, asset: 'CASH', direction: 'DEBIT', amount: '151' },
            { accountCode: 'system:redemption', asset: 'CASH', direction: 'CREDIT', amount: '151' },
          ],
        },
      },
    );
    expect(refused.errors![0]!.extensions).toEqual({
      code: 'INSUFFICIENT_FUNDS',
      retryable: false,
      accountId: account.id,
      asset: 'CASH',
      available: '50',
      requested: '151',
    });
  });

  it('in an atomic batch, counts what the items before the refused one took', async () => {
    const { ledgerId } = await createProgram(t);
    const account = await createAccount(t, ledgerId);
    await issue(t, account.id, '500');
    const redeem = (amount: string) => ({
      ledgerId,
      idempotencyKey: key(),
      entries: [
        { accountId: account.id, asset: 'PTS', direction: 'DEBIT', amount },
        { accountCode: 'system:redemption', asset: 'PTS', direction: 'CREDIT', amount },
      ],
    });
    const before = await snapshotLedger(t.db);
    const refused = await t.gql(
      'mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { transaction { id } error { code } } }',
      { i: { atomic: true, transactions: [redeem('300'), redeem('100'), redeem('150')] } },
    );
    expect(refused.errors).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/^transactions\[2\]: /),
        extensions: {
          code: 'INSUFFICIENT_FUNDS',
          retryable: false,
          accountId: account.id,
          asset: 'PTS',
          available: '100',
          requested: '150',
        },
      }),
    ]);
    expect(await snapshotLedger(t.db)).toEqual(before);
  });
});

describe('IDEMPOTENCY_CONFLICT', () => {
  const ISSUE_KEYED = 'mutation($i: IssueInput!) { issue(input: $i) { replayed transaction { id } } }';

  it('names the transaction holding the key and the fields the retry changed', async () => {
    const { ledgerId } = await createProgram(t);
    const account = await createAccount(t, ledgerId);
    const other = await createAccount(t, ledgerId);
    const idempotencyKey = key();
    const first = { accountId: account.id, asset: 'PTS', amount: '100', idempotencyKey, description: 'welcome' };
    const original = await t.gql(ISSUE_KEYED, { i: first });
    const transactionId = original.data!.issue.transaction.id as string;
    expect((await t.gql(ISSUE_KEYED, { i: first })).data!.issue.replayed).toBe(true);

    const conflict = async (changes: Record<string, unknown>) => {
      const response = await t.gql(ISSUE_KEYED, { i: { ...first, ...changes } });
      expect(response.errors![0]!.extensions.code).toBe('IDEMPOTENCY_CONFLICT');
      return {
        message: response.errors![0]!.message,
        extensions: response.errors![0]!.extensions as Record<string, unknown>,
      };
    };
    expect(await conflict({ amount: '150' })).toEqual({
      message: expect.stringMatching(/differs in amount$/),
      extensions: { code: 'IDEMPOTENCY_CONFLICT', retryable: false, transactionId, differingFields: ['amount'] },
    });
    expect((await conflict({ amount: '150', description: 'hello' })).extensions.differingFields).toEqual([
      'amount',
      'description',
    ]);
    expect((await conflict({ accountId: other.id })).extensions.differingFields).toEqual(['entries']);
    expect((await conflict({ metadata: { campaign: 'x' } })).extensions.differingFields).toEqual(['metadata']);
  });
});

it('hints at upper case when an asset code is sent in lower case, wherever a code is taken', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const hint = 'asset pts is not defined in this ledger tree (asset codes are upper case: PTS, not pts)';
  const read = await t.gql('query($id: ID!) { account(id: $id) { balance(asset: "pts") { available } } }', {
    id: account.id,
  });
  expect(read.errors![0]).toMatchObject({ message: hint, extensions: { code: 'ASSET_NOT_FOUND' } });
  const redeem = await t.gql(REDEEM, {
    input: { accountId: account.id, asset: 'pts', amount: '1', idempotencyKey: key() },
  });
  expect(redeem.errors![0]).toMatchObject({ message: hint, extensions: { code: 'ASSET_NOT_FOUND' } });
  // A code that is unknown in any case gets no hint.
  const unknown = await t.gql('query($id: ID!) { account(id: $id) { balance(asset: "NOPE") { available } } }', {
    id: account.id,
  });
  expect(unknown.errors![0]!.message).toBe('asset NOPE is not defined in this ledger tree');
});

it('lists every error code in the schema as the ErrorCode enum', async () => {
  const response = await t.gql<{ __type: { kind: string; enumValues: Array<{ name: string; description: string }> } }>(
    '{ __type(name: "ErrorCode") { kind enumValues { name description } } }',
  );
  expect(response.data!.__type.kind).toBe('ENUM');
  expect(response.data!.__type.enumValues.map((value) => value.name).sort()).toEqual(Object.keys(ERROR_CATALOG).sort());
  for (const value of response.data!.__type.enumValues) expect(value.description.length).toBeGreaterThan(10);
});
