import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSchema } from 'graphql';
import { SignJWT } from 'jose';
import { createAccount, createLedger, key } from './support/builders';
import { ok, startTestServer, TOKEN_SECRET, type TestServer } from './support/server';
import { connect, wsUrl } from './support/ws';

/**
 * Every query, mutation and subscription of the schema, asked by twelve kinds of credential. The
 * operations come from schema.graphql itself: one without a row below fails this suite.
 *
 * The world: root R with sub-ledgers A and B. Keys scoped to A (READER, OPERATOR, ADMIN), to B (the
 * sibling) and to R (the parent); customer tokens of account X in A (own) and of Y in A (another).
 * Every target lives in A, and every target of an account is X.
 */
type Credential =
  | 'none'
  | 'malformed'
  | 'wrong'
  | 'revoked'
  | 'expiredToken'
  | 'reader'
  | 'operator'
  | 'admin'
  | 'sibling'
  | 'parent'
  | 'tokenOwn'
  | 'tokenOther';
const CREDENTIALS: Credential[] = [
  'none',
  'malformed',
  'wrong',
  'revoked',
  'expiredToken',
  'reader',
  'operator',
  'admin',
  'sibling',
  'parent',
  'tokenOwn',
  'tokenOther',
];
const UNAUTHENTICATED: Credential[] = ['none', 'malformed', 'wrong', 'revoked', 'expiredToken'];

type Outcome = 'ok' | 'FORBIDDEN' | 'NOT_FOUND';
/** Who is allowed, among the authenticated credentials; everyone else gets FORBIDDEN. */
const READ_IN_SCOPE: Credential[] = ['reader', 'operator', 'admin', 'parent'];
const OPERATE_IN_SCOPE: Credential[] = ['operator', 'admin', 'parent'];
const ADMIN_IN_SCOPE: Credential[] = ['admin', 'parent'];
const ROOT_ADMIN: Credential[] = ['parent'];
const EVERYONE: Credential[] = ['reader', 'operator', 'admin', 'sibling', 'parent', 'tokenOwn', 'tokenOther'];

interface World {
  rootId: string;
  aId: string;
  x: string;
  y: string;
  z: string;
}

interface Row {
  allowed: Credential[];
  /** A refusal other than FORBIDDEN for some credentials (a gift card out of reach is answered as unknown). */
  refusedAs?: Partial<Record<Credential, Outcome>>;
  /** Builds the request (fresh keys, fresh holds) for one credential. */
  request(
    world: World,
  ):
    | Promise<{ query: string; variables?: Record<string, unknown> }>
    | { query: string; variables?: Record<string, unknown> };
  /** For a subscription: what makes it emit (by default, a posting to X). */
  trigger?(): Promise<unknown>;
}

let t: TestServer;
let world: World;
const secrets = {} as Record<Credential, string | null>;

async function issueTo(accountId: string, amount = '5'): Promise<string> {
  return ok(
    await t.gql(`mutation($i: IssueInput!) { issue(input: $i) { transaction { id } } }`, {
      i: { accountId, asset: 'PTS', amount, idempotencyKey: key() },
    }),
  ).issue.transaction.id;
}

async function holdOn(accountId: string): Promise<string> {
  return ok(
    await t.gql(`mutation($i: HoldInput!) { hold(input: $i) { transaction { id } } }`, {
      i: { accountId, asset: 'PTS', amount: '1', idempotencyKey: key() },
    }),
  ).hold.transaction.id;
}

/** A webhook endpoint in A, made by the bootstrap admin; nothing listens at its URL (port 9, discard). */
async function webhookIn(ledgerId: string): Promise<string> {
  return ok(
    await t.gql(
      'mutation($l: ID!) { createWebhookEndpoint(input: { ledgerId: $l, url: "http://127.0.0.1:9/matrix" }) { endpoint { id } } }',
      { l: ledgerId },
    ),
  ).createWebhookEndpoint.endpoint.id;
}

/** One gift card in A, issued by the bootstrap admin on first use, with value for every redemption. */
let giftCard: Promise<{ id: string; code: string; pin: string }> | undefined;
function giftCardInA(w: World): Promise<{ id: string; code: string; pin: string }> {
  giftCard ??= t
    .gql(
      'mutation($l: ID!, $k: String!) { issueGiftCard(input: { ledgerId: $l, asset: "PTS", amount: "100000", idempotencyKey: $k }) { code pin card { id } } }',
      { l: w.aId, k: key('card') },
    )
    .then((response) => {
      const issued = ok(response).issueGiftCard;
      return { id: issued.card.id, code: issued.code, pin: issued.pin };
    });
  return giftCard;
}

let rateDay = 0;
/** A reconciliation source in A, made by the bootstrap admin. */
async function sourceIn(ledgerId: string): Promise<string> {
  return ok(
    await t.gql(
      'mutation($l: ID!, $c: String!) { createExternalSource(input: { ledgerId: $l, code: $c, name: "m" }) { id } }',
      {
        l: ledgerId,
        c: key('src'),
      },
    ),
  ).createExternalSource.id;
}

const RECORD = {
  externalId: 'm-1',
  asset: 'PTS',
  amount: '1',
  direction: 'CREDIT',
  occurredAt: '2026-11-21T09:30:00Z',
};

/** A source in A with one rule, for runs. */
async function ruledSourceIn(ledgerId: string): Promise<string> {
  const sourceId = await sourceIn(ledgerId);
  ok(
    await t.gql('mutation($s: ID!) { createMatchRule(input: { sourceId: $s, priority: 1 }) { id } }', { s: sourceId }),
  );
  return sourceId;
}

const RUN_WINDOW = { from: '2026-11-21T00:00:00Z', to: '2026-11-22T00:00:00Z' };

async function runOf(sourceId: string, mode = 'DRY_RUN'): Promise<string> {
  return ok(
    await t.gql('mutation($i: RunReconciliationInput!) { runReconciliation(input: $i) { id } }', {
      i: { sourceId, mode, ...RUN_WINDOW, idempotencyKey: key() },
    }),
  ).runReconciliation.id;
}

/** A DRY_RUN in A over one record the ledger lacks: a run with one open exception; the exception's id. */
async function exceptionIn(ledgerId: string): Promise<{ runId: string; exceptionId: string }> {
  const sourceId = await ruledSourceIn(ledgerId);
  ok(
    await t.gql('mutation($i: ImportExternalRecordsInput!) { importExternalRecords(input: $i) { inserted } }', {
      i: { sourceId, idempotencyKey: key(), records: [RECORD] },
    }),
  );
  const runId = await runOf(sourceId);
  const exceptionId = ok(
    await t.gql('query($id: ID!) { reconciliationRun(id: $id) { exceptions(first: 1) { edges { node { id } } } } }', {
      id: runId,
    }),
  ).reconciliationRun.exceptions.edges[0].node.id;
  return { runId, exceptionId };
}

/** The source the last reconciliationUpdated request watches, so its trigger runs there. */
let watchedSource = '';

const MATRIX: Record<string, Row> = {
  // Queries.
  account: {
    allowed: [...READ_IN_SCOPE, 'tokenOwn'],
    request: (w) => ({ query: 'query($id: ID!) { account(id: $id) { id } }', variables: { id: w.x } }),
  },
  accounts: {
    allowed: READ_IN_SCOPE,
    request: (w) => ({
      query: 'query($l: ID!) { accounts(ledgerId: $l) { edges { cursor } } }',
      variables: { l: w.aId },
    }),
  },
  auditEvents: {
    allowed: ROOT_ADMIN,
    request: (w) => ({
      query: 'query($l: ID!) { auditEvents(ledgerId: $l, first: 1) { edges { cursor } } }',
      variables: { l: w.aId },
    }),
  },
  events: {
    allowed: READ_IN_SCOPE,
    request: (w) => ({
      query: 'query($l: ID!) { events(ledgerId: $l, first: 1) { edges { cursor } } }',
      variables: { l: w.aId },
    }),
  },
  externalRecords: {
    allowed: READ_IN_SCOPE,
    request: async (w) => ({
      query: 'query($s: ID!) { externalRecords(sourceId: $s, first: 1) { edges { cursor } } }',
      variables: { s: await sourceIn(w.aId) },
    }),
  },
  externalSource: {
    allowed: READ_IN_SCOPE,
    request: async (w) => ({
      query: 'query($id: ID!) { externalSource(id: $id) { id } }',
      variables: { id: await sourceIn(w.aId) },
    }),
  },
  externalSources: {
    allowed: READ_IN_SCOPE,
    request: (w) => ({
      query: 'query($l: ID!) { externalSources(ledgerId: $l, first: 1) { edges { cursor } } }',
      variables: { l: w.aId },
    }),
  },
  ledger: {
    allowed: READ_IN_SCOPE,
    request: (w) => ({ query: 'query($id: ID!) { ledger(id: $id) { id } }', variables: { id: w.aId } }),
  },
  ledgerIntegrity: {
    allowed: ROOT_ADMIN,
    request: (w) => ({ query: 'query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok } }', variables: { l: w.aId } }),
  },
  ledgers: { allowed: [...READ_IN_SCOPE, 'sibling'], request: () => ({ query: '{ ledgers { edges { cursor } } }' }) },
  me: { allowed: EVERYONE, request: () => ({ query: '{ me { id } }' }) },
  transaction: {
    allowed: [...READ_IN_SCOPE, 'tokenOwn'],
    request: async (w) => ({
      query: 'query($id: ID!) { transaction(id: $id) { id } }',
      variables: { id: await issueTo(w.x) },
    }),
  },
  transactions: {
    allowed: READ_IN_SCOPE,
    request: (w) => ({
      query: 'query($l: ID!) { transactions(ledgerId: $l, first: 1) { edges { cursor } } }',
      variables: { l: w.aId },
    }),
  },
  viewer: { allowed: EVERYONE, request: () => ({ query: '{ viewer { role } }' }) },
  webhookEndpoint: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => ({
      query: 'query($id: ID!) { webhookEndpoint(id: $id) { id } }',
      variables: { id: await webhookIn(w.aId) },
    }),
  },
  webhookEndpoints: {
    allowed: ADMIN_IN_SCOPE,
    request: (w) => ({
      query: 'query($l: ID!) { webhookEndpoints(ledgerId: $l, first: 1) { edges { cursor } } }',
      variables: { l: w.aId },
    }),
  },
  // Mutations.
  adjust: {
    allowed: ADMIN_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: AdjustInput!) { adjust(input: $i) { replayed } }',
      variables: {
        i: { accountId: w.x, asset: 'PTS', amount: '1', direction: 'CREDIT', idempotencyKey: key(), reason: 'matrix' },
      },
    }),
  },
  createAccount: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }',
      variables: { i: { ledgerId: w.aId, code: key('acct') } },
    }),
  },
  createApiKey: {
    allowed: ADMIN_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }',
      variables: { i: { name: 'matrix', role: 'READER', ledgerId: w.aId } },
    }),
  },
  createAsset: {
    allowed: ROOT_ADMIN,
    request: (w) => ({
      query: 'mutation($i: CreateAssetInput!) { createAsset(input: $i) { id } }',
      variables: {
        i: { ledgerId: w.rootId, code: `M${key('').slice(2, 12).toUpperCase()}`, name: 'x', kind: 'OTHER', scale: 0 },
      },
    }),
  },
  // Program limits (issue 13): ADMIN over the limit's ledger. Never binding, so the other rows' postings pass.
  createLimit: {
    allowed: ADMIN_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: CreateLimitInput!) { createLimit(input: $i) { id } }',
      variables: {
        i: { ledgerId: w.aId, asset: 'PTS', kind: 'EARN_PER_PERIOD', amount: '9000000000000000000', period: 'DAY' },
      },
    }),
  },
  deleteLimit: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => {
      const created = ok(
        await t.gql('mutation($i: CreateLimitInput!) { createLimit(input: $i) { id } }', {
          i: { ledgerId: w.aId, asset: 'PTS', kind: 'MAX_BALANCE', amount: '9000000000000000000' },
        }),
      );
      return { query: 'mutation($id: ID!) { deleteLimit(id: $id) { id } }', variables: { id: created.createLimit.id } };
    },
  },
  createExternalSource: {
    allowed: ADMIN_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: CreateExternalSourceInput!) { createExternalSource(input: $i) { id } }',
      variables: { i: { ledgerId: w.aId, code: key('src'), name: 'matrix' } },
    }),
  },
  createMatchRule: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($i: CreateMatchRuleInput!) { createMatchRule(input: $i) { id } }',
      variables: { i: { sourceId: await sourceIn(w.aId), priority: 1 } },
    }),
  },
  importExternalRecords: {
    allowed: OPERATE_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($i: ImportExternalRecordsInput!) { importExternalRecords(input: $i) { inserted } }',
      variables: { i: { sourceId: await sourceIn(w.aId), idempotencyKey: key(), records: [RECORD] } },
    }),
  },
  createWebhookEndpoint: {
    allowed: ADMIN_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret } }',
      variables: { i: { ledgerId: w.aId, url: 'http://127.0.0.1:9/matrix' } },
    }),
  },
  deleteWebhookEndpoint: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }',
      variables: { id: await webhookIn(w.aId) },
    }),
  },
  redeliverWebhooks: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($id: ID!, $from: DateTime!) { redeliverWebhooks(endpointId: $id, from: $from) }',
      variables: { id: await webhookIn(w.aId), from: new Date().toISOString() },
    }),
  },
  rotateWebhookSecret: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }',
      variables: { id: await webhookIn(w.aId) },
    }),
  },
  sendTestWebhook: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($id: ID!) { sendTestWebhook(endpointId: $id) { status } }',
      variables: { id: await webhookIn(w.aId) },
    }),
  },
  updateWebhookEndpoint: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { description: "matrix" }) { id } }',
      variables: { id: await webhookIn(w.aId) },
    }),
  },
  createCustomerToken: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($a: ID!) { createCustomerToken(accountId: $a) { token } }',
      variables: { a: w.x },
    }),
  },
  createLedger: {
    allowed: ADMIN_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: CreateLedgerInput!) { createLedger(input: $i) { id } }',
      variables: { i: { code: key('sub'), name: 'sub', parentId: w.aId } },
    }),
  },
  hold: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: HoldInput!) { hold(input: $i) { replayed } }',
      variables: { i: { accountId: w.x, asset: 'PTS', amount: '1', idempotencyKey: key() } },
    }),
  },
  issue: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: IssueInput!) { issue(input: $i) { replayed } }',
      variables: { i: { accountId: w.x, asset: 'PTS', amount: '1', idempotencyKey: key() } },
    }),
  },
  postPendingTransaction: {
    allowed: OPERATE_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($id: ID!, $k: String!) { postPendingTransaction(id: $id, idempotencyKey: $k) { replayed } }',
      variables: { id: await holdOn(w.x), k: key() },
    }),
  },
  postTransaction: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: PostTransactionInput!) { postTransaction(input: $i) { replayed } }',
      variables: {
        i: {
          ledgerId: w.aId,
          idempotencyKey: key(),
          entries: [
            { accountId: w.x, asset: 'PTS', direction: 'DEBIT', amount: '1' },
            { accountId: w.y, asset: 'PTS', direction: 'CREDIT', amount: '1' },
          ],
        },
      },
    }),
  },
  postTransactions: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { replayed } }',
      variables: {
        i: {
          transactions: [
            {
              ledgerId: w.aId,
              idempotencyKey: key(),
              entries: [
                { accountId: w.x, asset: 'PTS', direction: 'DEBIT', amount: '1' },
                { accountId: w.y, asset: 'PTS', direction: 'CREDIT', amount: '1' },
              ],
            },
          ],
        },
      },
    }),
  },
  redeem: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: RedeemInput!) { redeem(input: $i) { replayed } }',
      variables: { i: { accountId: w.x, asset: 'PTS', amount: '1', idempotencyKey: key() } },
    }),
  },
  reverseTransaction: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($id: ID!, $k: String!) { reverseTransaction(id: $id, idempotencyKey: $k) { replayed } }',
      variables: { id: await issueTo(w.x), k: key() },
    }),
  },
  revokeApiKey: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => {
      const created = ok(
        await t.gql(
          'mutation($l: ID!) { createApiKey(input: { name: "victim", role: READER, ledgerId: $l }) { apiKey { id } } }',
          { l: w.aId },
        ),
      );
      return {
        query: 'mutation($id: ID!) { revokeApiKey(id: $id) { id } }',
        variables: { id: created.createApiKey.apiKey.id },
      };
    },
  },
  runExpiry: {
    allowed: ADMIN_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($l: ID!) { runExpiry(ledgerId: $l) { transactionsPosted } }',
      variables: { l: w.aId },
    }),
  },
  transfer: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: TransferInput!) { transfer(input: $i) { replayed } }',
      variables: { i: { fromAccountId: w.x, toAccountId: w.z, asset: 'PTS', amount: '1', idempotencyKey: key() } },
    }),
  },
  updateAccount: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($id: ID!) { updateAccount(id: $id, input: { name: "renamed" }) { id } }',
      variables: { id: w.y },
    }),
  },
  voidPendingTransaction: {
    allowed: OPERATE_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($id: ID!, $k: String!) { voidPendingTransaction(id: $id, idempotencyKey: $k) { replayed } }',
      variables: { id: await holdOn(w.x), k: key() },
    }),
  },
  // Conversions and gift cards.
  exchangeRates: {
    allowed: READ_IN_SCOPE,
    request: (w) => ({
      query: 'query($l: ID!) { exchangeRates(ledgerId: $l, fromAsset: "PTS", toAsset: "CASH") { id } }',
      variables: { l: w.aId },
    }),
  },
  setExchangeRate: {
    allowed: ROOT_ADMIN,
    request: (w) => ({
      query: 'mutation($i: SetExchangeRateInput!) { setExchangeRate(input: $i) { id } }',
      variables: {
        i: {
          ledgerId: w.rootId,
          fromAsset: 'PTS',
          toAsset: 'CASH',
          numerator: '1',
          denominator: '1',
          validFrom: new Date(Date.UTC(2026, 0, 2 + rateDay++)).toISOString(),
        },
      },
    }),
  },
  convert: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: ConvertInput!) { convert(input: $i) { replayed } }',
      variables: { i: { accountId: w.x, fromAsset: 'PTS', toAsset: 'CASH', amount: '1', idempotencyKey: key() } },
    }),
  },
  issueGiftCard: {
    allowed: OPERATE_IN_SCOPE,
    request: (w) => ({
      query: 'mutation($i: IssueGiftCardInput!) { issueGiftCard(input: $i) { replayed } }',
      variables: { i: { ledgerId: w.aId, asset: 'PTS', amount: '1', idempotencyKey: key() } },
    }),
  },
  giftCard: {
    allowed: OPERATE_IN_SCOPE,
    request: async (w) => ({
      query: 'query($id: ID!) { giftCard(id: $id) { status } }',
      variables: { id: (await giftCardInA(w)).id },
    }),
  },
  giftCardBalance: {
    allowed: OPERATE_IN_SCOPE,
    refusedAs: { sibling: 'NOT_FOUND' },
    request: async (w) => {
      const card = await giftCardInA(w);
      return {
        query: 'query($c: String!, $p: String!) { giftCardBalance(code: $c, pin: $p) { posted } }',
        variables: { c: card.code, p: card.pin },
      };
    },
  },
  redeemGiftCard: {
    allowed: OPERATE_IN_SCOPE,
    refusedAs: { sibling: 'NOT_FOUND' },
    request: async (w) => {
      const card = await giftCardInA(w);
      return {
        query: 'mutation($i: RedeemGiftCardInput!) { redeemGiftCard(input: $i) { replayed } }',
        variables: { i: { code: card.code, pin: card.pin, amount: '1', idempotencyKey: key() } },
      };
    },
  },
  unlockGiftCard: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($id: ID!) { unlockGiftCard(id: $id) { status } }',
      variables: { id: (await giftCardInA(w)).id },
    }),
  },
  // Subscriptions, over graphql-ws.
  reconciliationRun: {
    allowed: READ_IN_SCOPE,
    request: async (w) => ({
      query: 'query($id: ID!) { reconciliationRun(id: $id) { id summary { matched } } }',
      variables: { id: (await exceptionIn(w.aId)).runId },
    }),
  },
  reconciliationRuns: {
    allowed: READ_IN_SCOPE,
    request: async (w) => ({
      query: 'query($s: ID!) { reconciliationRuns(sourceId: $s, first: 1) { edges { cursor } } }',
      variables: { s: await ruledSourceIn(w.aId) },
    }),
  },
  reconciliationException: {
    allowed: READ_IN_SCOPE,
    request: async (w) => ({
      query: 'query($id: ID!) { reconciliationException(id: $id) { id kind } }',
      variables: { id: (await exceptionIn(w.aId)).exceptionId },
    }),
  },
  runReconciliation: {
    allowed: OPERATE_IN_SCOPE,
    request: async (w) => ({
      query: 'mutation($i: RunReconciliationInput!) { runReconciliation(input: $i) { id } }',
      variables: { i: { sourceId: await ruledSourceIn(w.aId), mode: 'DRY_RUN', ...RUN_WINDOW, idempotencyKey: key() } },
    }),
  },
  resolveReconciliationException: {
    allowed: ADMIN_IN_SCOPE,
    request: async (w) => ({
      query:
        'mutation($id: ID!, $i: ResolveReconciliationExceptionInput!) { resolveReconciliationException(id: $id, input: $i) { id } }',
      variables: {
        id: (await exceptionIn(w.aId)).exceptionId,
        i: { resolution: 'EXPLAIN', note: 'matrix', idempotencyKey: key() },
      },
    }),
  },
  reconciliationUpdated: {
    allowed: READ_IN_SCOPE,
    request: async (w) => {
      watchedSource = await ruledSourceIn(w.aId);
      return {
        query: 'subscription($s: ID!) { reconciliationUpdated(sourceId: $s) { id status } }',
        variables: { s: watchedSource },
      };
    },
    trigger: () => runOf(watchedSource),
  },
  balanceUpdated: {
    allowed: [...READ_IN_SCOPE, 'tokenOwn'],
    request: (w) => ({
      query: 'subscription($a: ID!) { balanceUpdated(accountId: $a, asset: "PTS") { version } }',
      variables: { a: w.x },
    }),
  },
  transactionPosted: {
    allowed: [...READ_IN_SCOPE, 'tokenOwn'],
    request: (w) => ({
      query: 'subscription($a: ID!) { transactionPosted(accountId: $a) { id } }',
      variables: { a: w.x },
    }),
  },
};

function schemaOperations(): Array<{ type: 'Query' | 'Mutation' | 'Subscription'; name: string }> {
  const schema = buildSchema(readFileSync(path.resolve(__dirname, '../schema.graphql'), 'utf8'));
  return (['Query', 'Mutation', 'Subscription'] as const).flatMap((type) =>
    Object.keys(schema.getType(type) ? (schema.getType(type) as any).getFields() : {}).map((name) => ({ type, name })),
  );
}

const craftToken = (accountId: string, exp: number) =>
  new SignJWT({ rl: world.rootId, lg: world.aId })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(accountId)
    .setIssuedAt(exp - 60)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(TOKEN_SECRET));

beforeAll(async () => {
  t = await startTestServer();
  const root = await createLedger(t);
  ok(
    await t.gql(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "PTS", name: "Points", kind: POINTS, scale: 0 }) { id } }`,
      { l: root.id },
    ),
  );
  ok(
    await t.gql(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "CASH", name: "Cashback", kind: CASHBACK, scale: 2 }) { id } }`,
      { l: root.id },
    ),
  );
  ok(
    await t.gql(
      `mutation($l: ID!) { setExchangeRate(input: { ledgerId: $l, fromAsset: "PTS", toAsset: "CASH", numerator: "1", denominator: "1", validFrom: "2026-01-01T00:00:00Z" }) { id } }`,
      { l: root.id },
    ),
  );
  const a = await createLedger(t, { parentId: root.id, code: 'region-a' });
  const b = await createLedger(t, { parentId: root.id, code: 'region-b' });
  const [x, y, z] = [await createAccount(t, a.id), await createAccount(t, a.id), await createAccount(t, a.id)];
  world = { rootId: root.id, aId: a.id, x: x.id, y: y.id, z: z.id };
  await issueTo(x.id, '1000000');
  await issueTo(y.id, '1000000');

  const keyFor = async (role: string, ledgerId: string) =>
    ok(
      await t.gql(
        `mutation($l: ID!, $r: ApiKeyRole!) { createApiKey(input: { name: "m", role: $r, ledgerId: $l }) { secret apiKey { id } } }`,
        { l: ledgerId, r: role },
      ),
    ).createApiKey;
  secrets.none = null;
  secrets.malformed = 'Basic abc';
  secrets.wrong = 'not-a-real-key-but-long-enough-0000000';
  const revoked = await keyFor('ADMIN', a.id);
  ok(await t.gql('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: revoked.apiKey.id }));
  secrets.revoked = revoked.secret;
  secrets.expiredToken = await craftToken(x.id, Math.floor(Date.now() / 1000) - 30);
  secrets.reader = (await keyFor('READER', a.id)).secret;
  secrets.operator = (await keyFor('OPERATOR', a.id)).secret;
  secrets.admin = (await keyFor('ADMIN', a.id)).secret;
  secrets.sibling = (await keyFor('ADMIN', b.id)).secret;
  secrets.parent = (await keyFor('ADMIN', root.id)).secret;
  secrets.tokenOwn = ok(
    await t.gql('mutation($a: ID!) { createCustomerToken(accountId: $a) { token } }', { a: x.id }),
  ).createCustomerToken.token;
  secrets.tokenOther = ok(
    await t.gql('mutation($a: ID!) { createCustomerToken(accountId: $a) { token } }', { a: y.id }),
  ).createCustomerToken.token;
});
afterAll(async () => {
  await t.stop();
});

function expected(row: Row, credential: Credential): Outcome | 'UNAUTHENTICATED' {
  if (UNAUTHENTICATED.includes(credential)) return 'UNAUTHENTICATED';
  return row.allowed.includes(credential) ? 'ok' : (row.refusedAs?.[credential] ?? 'FORBIDDEN');
}

async function overHttp(
  credential: Credential,
  request: { query: string; variables?: Record<string, unknown> },
): Promise<string> {
  const secret = secrets[credential];
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret !== null) headers.authorization = secret.startsWith('Basic') ? secret : `Bearer ${secret}`;
  const response = await fetch(t.url, { method: 'POST', headers, body: JSON.stringify(request) });
  const body = (await response.json()) as any;
  return body.errors?.length ? body.errors[0].extensions.code : 'ok';
}

async function overWebSocket(
  credential: Credential,
  request: { query: string; variables?: Record<string, unknown> },
  trigger: () => Promise<unknown> = () => issueTo(world.x, '1'),
): Promise<string> {
  const secret = secrets[credential];
  const client = connect(wsUrl(t), secret === null ? null : secret.startsWith('Basic') ? secret : `Bearer ${secret}`);
  try {
    const subscription = client.subscribe(request.query, request.variables);
    // An allowed subscription sees the next posting to X; a refused one ends, or its connection closes.
    const first = Promise.race([
      subscription.next().then((result) => (result.errors?.length ? result.errors[0]!.extensions.code : 'ok')),
      subscription.ended.then((end) =>
        'error' in end
          ? Array.isArray(end.error)
            ? ((end.error as any)[0]?.extensions?.code ?? 'ERROR')
            : `closed ${(end.error as any)?.code}`
          : 'completed',
      ),
      client.closed.then((closed) => `closed ${closed.code}`),
    ]);
    const triggering = setInterval(() => void trigger(), 100);
    try {
      const outcome = await first;
      if (outcome === 'closed 4401' || outcome === 'closed 4403') return 'UNAUTHENTICATED';
      return outcome;
    } finally {
      clearInterval(triggering);
    }
  } finally {
    await client.dispose();
  }
}

it('has a row for every query, mutation and subscription in the schema', () => {
  const missing = schemaOperations().filter((operation) => !(operation.name in MATRIX));
  expect(missing).toEqual([]);
});

const cells = Object.entries(MATRIX).flatMap(([name, row]) =>
  CREDENTIALS.map((credential) => ({ name, row, credential })),
);

it(`answers all ${Object.keys(MATRIX).length} operations × ${CREDENTIALS.length} credentials as the table says`, async () => {
  const subscriptions = new Set(
    schemaOperations()
      .filter((operation) => operation.type === 'Subscription')
      .map((operation) => operation.name),
  );
  const wrong: string[] = [];
  for (const { name, row, credential } of cells) {
    const request = await row.request(world);
    const actual = subscriptions.has(name)
      ? await overWebSocket(credential, request, row.trigger)
      : await overHttp(credential, request);
    const want = expected(row, credential);
    if (actual !== want) wrong.push(`${name} as ${credential}: expected ${want}, got ${actual}`);
  }
  expect(wrong).toEqual([]);
}, 180_000);

it('runs COMMIT reconciliations for ADMIN in scope only, and DRY_RUN for OPERATOR too', async () => {
  const wrong: string[] = [];
  for (const credential of CREDENTIALS) {
    const actual = await overHttp(credential, {
      query: 'mutation($i: RunReconciliationInput!) { runReconciliation(input: $i) { id } }',
      variables: {
        i: { sourceId: await ruledSourceIn(world.aId), mode: 'COMMIT', ...RUN_WINDOW, idempotencyKey: key() },
      },
    });
    const want = expected({ allowed: ADMIN_IN_SCOPE, request: () => ({ query: '' }) }, credential);
    if (actual !== want) wrong.push(`COMMIT run as ${credential}: expected ${want}, got ${actual}`);
  }
  expect(wrong).toEqual([]);
});

it('answers the CSV report of a run as it answers reconciliationRun', async () => {
  const wrong: string[] = [];
  const base = t.url.replace(/\/graphql$/, '');
  const { runId } = await exceptionIn(world.aId);
  for (const credential of CREDENTIALS) {
    const secret = secrets[credential];
    const headers: Record<string, string> = {};
    if (secret !== null) headers.authorization = secret.startsWith('Basic') ? secret : `Bearer ${secret}`;
    const response = await fetch(`${base}/reconciliation/runs/${runId}/report.csv`, { headers });
    const actual = response.status === 200 ? 'ok' : ((await response.json()) as any).errors[0].extensions.code;
    if (response.status === 200) await response.text();
    const want = expected(MATRIX.reconciliationRun!, credential);
    if (actual !== want) wrong.push(`report.csv as ${credential}: expected ${want}, got ${actual}`);
  }
  expect(wrong).toEqual([]);
});

it('answers the streamed HTTP import as it answers importExternalRecords', async () => {
  const wrong: string[] = [];
  const base = t.url.replace(/\/graphql$/, '');
  for (const credential of CREDENTIALS) {
    const secret = secrets[credential];
    const headers: Record<string, string> = { 'content-type': 'text/csv', 'idempotency-key': key() };
    if (secret !== null) headers.authorization = secret.startsWith('Basic') ? secret : `Bearer ${secret}`;
    const response = await fetch(`${base}/reconciliation/sources/${await sourceIn(world.aId)}/records`, {
      method: 'POST',
      headers,
      body: 'externalId,asset,amount,direction,occurredAt\nm-1,PTS,1,CREDIT,2026-11-21T09:30:00Z\n',
    });
    const body = (await response.json()) as any;
    const actual = body.errors?.length ? body.errors[0].extensions.code : 'ok';
    const want = expected(MATRIX.importExternalRecords!, credential);
    if (actual !== want) wrong.push(`HTTP import as ${credential}: expected ${want}, got ${actual}`);
  }
  expect(wrong).toEqual([]);
});
