import { createAccount, createAsset, createLedger, ISSUE, key } from './builders';
import { createSource, IMPORT_RECORDS } from './reconciliation';
import { ok, type TestServer } from './server';

/** Builders for reconciliation runs and resolutions, through the public API. */

export const RUN_FIELDS = `id mode status from to startedAt finishedAt rulesVersion ruleIds journalHighWater error
  source { id code }
  summary { externalRecords ledgerTransactions matched missingInLedger missingExternally amountMismatch duplicates ambiguous }`;

export const EXCEPTION_FIELDS = `id kind status expectedAmount ledgerAmount difference resolution note resolvedAt
  run { id } externalRecord { id externalId status } transaction { id idempotencyKey } account { code }
  resolutionTransaction { id kind entries { direction amount account { code } } }`;

export const RUN = `mutation($i: RunReconciliationInput!) { runReconciliation(input: $i) { ${RUN_FIELDS} } }`;
export const RESOLVE = `mutation($id: ID!, $i: ResolveReconciliationExceptionInput!) {
  resolveReconciliationException(id: $id, input: $i) { ${EXCEPTION_FIELDS} } }`;
export const EXCEPTIONS = `query($id: ID!, $kind: ReconciliationExceptionKind, $status: ReconciliationExceptionStatus, $first: Int, $after: String) {
  reconciliationRun(id: $id) { exceptions(kind: $kind, status: $status, first: $first, after: $after) {
    edges { cursor node { ${EXCEPTION_FIELDS} } } pageInfo { hasNextPage endCursor } } } }`;

/** A program with two customers and a source watching it, with one rule (idempotencyKey, exact, a day). */
export interface Partner {
  ledgerId: string;
  sourceId: string;
  alice: { id: string; code: string };
  bob: { id: string; code: string };
}

export async function createPartner(
  t: TestServer,
  options: { continuous?: boolean; rule?: Record<string, unknown> } = {},
): Promise<Partner> {
  const ledger = await createLedger(t);
  await createAsset(t, ledger.id, 'PTS');
  const alice = await createAccount(t, ledger.id, { code: key('alice') });
  const bob = await createAccount(t, ledger.id, { code: key('bob') });
  const source = await createSource(t, ledger.id, { continuous: options.continuous });
  ok(
    await t.gql('mutation($i: CreateMatchRuleInput!) { createMatchRule(input: $i) { id } }', {
      i: { sourceId: source.id, priority: 1, referenceField: 'idempotencyKey', ...options.rule },
    }),
  );
  return { ledgerId: ledger.id, sourceId: source.id, alice, bob };
}

/** Issues points with a chosen idempotency key (the reference a partner's record carries); the transaction id. */
export async function earn(t: TestServer, accountId: string, amount: string, reference: string): Promise<string> {
  return ok(await t.gql(ISSUE, { input: { accountId, asset: 'PTS', amount, idempotencyKey: reference } })).issue
    .transaction.id;
}

export function partnerRecord(
  externalId: string,
  reference: string | null,
  amount: string,
  accountCode: string,
  extra: Record<string, unknown> = {},
) {
  return {
    externalId,
    asset: 'PTS',
    amount,
    direction: 'CREDIT',
    occurredAt: new Date().toISOString(),
    reference,
    accountCode,
    ...extra,
  };
}

export async function importRecords(t: TestServer, sourceId: string, records: unknown[]): Promise<void> {
  const result = ok(
    await t.gql(IMPORT_RECORDS, { i: { sourceId, idempotencyKey: key('import'), records } }),
  ).importExternalRecords;
  if (result.rejected.length > 0) throw new Error(`import rejected ${JSON.stringify(result.rejected)}`);
}

/** A window around now: the postings and records of a test are all made within it. */
export function aroundNow(): { from: string; to: string } {
  const now = Date.now();
  return { from: new Date(now - 3_600_000).toISOString(), to: new Date(now + 3_600_000).toISOString() };
}

export async function runReconciliation(
  t: TestServer,
  sourceId: string,
  mode: 'DRY_RUN' | 'COMMIT',
  window = aroundNow(),
  idempotencyKey = key('run'),
  secret?: string,
): Promise<any> {
  return ok(await t.gql(RUN, { i: { sourceId, mode, ...window, idempotencyKey } }, secret)).runReconciliation;
}

export async function exceptionsOf(t: TestServer, runId: string, kind?: string): Promise<any[]> {
  const data = ok(await t.gql(EXCEPTIONS, { id: runId, kind, first: 500 }));
  return data.reconciliationRun.exceptions.edges.map((edge: any) => edge.node);
}

/** An API key scoped to a ledger with a role; its secret. */
export async function createApiKey(t: TestServer, input: { ledgerId: string; role: string }): Promise<string> {
  return ok(
    await t.gql('mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }', {
      i: { name: key('key'), role: input.role, ledgerId: input.ledgerId },
    }),
  ).createApiKey.secret;
}
