import { randomBytes } from 'node:crypto';
import { ok, type TestServer } from './server';

/** Builders for the objects most tests need, created through the public API. */

export function key(prefix = 'k'): string {
  return `${prefix}-${randomBytes(8).toString('hex')}`;
}

export async function createLedger(
  t: TestServer,
  input: { code?: string; name?: string; parentId?: string } = {},
): Promise<{ id: string; code: string }> {
  const data = ok(
    await t.gql(`mutation($input: CreateLedgerInput!) { createLedger(input: $input) { id code } }`, {
      input: { code: input.code ?? key('ledger'), name: input.name ?? 'Test ledger', parentId: input.parentId },
    }),
  );
  return data.createLedger;
}

export async function createAsset(
  t: TestServer,
  ledgerId: string,
  code = 'PTS',
  scale = 0,
): Promise<{ id: string; code: string }> {
  const data = ok(
    await t.gql(`mutation($input: CreateAssetInput!) { createAsset(input: $input) { id code } }`, {
      input: { ledgerId, code, name: `${code} asset`, kind: 'POINTS', scale },
    }),
  );
  return data.createAsset;
}

export async function createAccount(
  t: TestServer,
  ledgerId: string,
  input: {
    code?: string;
    allowOverdraft?: boolean;
    overdraftLimit?: string;
    normalBalance?: 'CREDIT' | 'DEBIT';
    metadata?: Record<string, unknown>;
  } = {},
): Promise<{ id: string; code: string }> {
  const data = ok(
    await t.gql(`mutation($input: CreateAccountInput!) { createAccount(input: $input) { id code } }`, {
      input: { ledgerId, code: input.code ?? key('customer'), ...input },
    }),
  );
  return data.createAccount;
}

/** A root ledger with a PTS asset: the setting of most tests. */
export async function createProgram(t: TestServer): Promise<{ ledgerId: string; asset: string }> {
  const ledger = await createLedger(t);
  await createAsset(t, ledger.id, 'PTS');
  return { ledgerId: ledger.id, asset: 'PTS' };
}

export const ISSUE = `mutation($input: IssueInput!) { issue(input: $input) { replayed transaction { id kind status entries { direction amount account { code } } } } }`;
export const REDEEM = `mutation($input: RedeemInput!) { redeem(input: $input) { replayed transaction { id kind } } }`;
export const TRANSFER = `mutation($input: TransferInput!) { transfer(input: $input) { replayed transaction { id kind } } }`;
export const BALANCE = `query($id: ID!, $asset: String!) { account(id: $id) { balance(asset: $asset) { posted pending available debitsPosted creditsPosted debitsPending creditsPending version } } }`;

export async function issue(t: TestServer, accountId: string, amount: string, asset = 'PTS'): Promise<string> {
  const data = ok(await t.gql(ISSUE, { input: { accountId, asset, amount, idempotencyKey: key('issue') } }));
  return data.issue.transaction.id;
}

export async function balanceOf(
  t: TestServer,
  accountId: string,
  asset = 'PTS',
): Promise<Record<string, string | number>> {
  return ok(await t.gql(BALANCE, { id: accountId, asset })).account.balance;
}
