import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createAccount, createProgram, issue, key } from './support/builders';
import { ADMIN_KEY, ok, startTestServer, type TestServer } from './support/server';
import { snapshotLedger } from './support/snapshot';

/**
 * Hostile requests, generated. Every one must get a 4xx or a GraphQL error carrying a catalog code
 * other than INTERNAL_SERVER_ERROR: never a 500, never a crash, never a change to the database, and the
 * server's memory must not grow with repetition.
 */

let t: TestServer;
let ledgerId: string;
let accountId: string;
beforeAll(async () => {
  t = await startTestServer();
  ({ ledgerId } = await createProgram(t));
  accountId = (await createAccount(t, ledgerId)).id;
  await issue(t, accountId, '1000');
  // Assets and rates for the conversion cases: CASH (1:1), TINY (converts 1 to nothing), HUGE (overflows).
  for (const [code, numerator, denominator] of [
    ['CASH', '1', '1'],
    ['TINY', '1', '1000'],
    ['HUGE', '9223372036854775807', '1'],
  ]) {
    ok(
      await t.gql(
        `mutation($l: ID!, $c: String!) { createAsset(input: { ledgerId: $l, code: $c, name: "x", kind: CASHBACK, scale: 0 }) { id } }`,
        { l: ledgerId, c: code },
      ),
    );
    ok(
      await t.gql(
        `mutation($l: ID!, $c: String!, $n: Amount!, $d: Amount!) { setExchangeRate(input: { ledgerId: $l, fromAsset: "PTS", toAsset: $c, numerator: $n, denominator: $d, validFrom: "2026-01-01T00:00:00Z" }) { id } }`,
        { l: ledgerId, c: code, n: numerator, d: denominator },
      ),
    );
  }
});
afterAll(async () => {
  await t.stop();
});

interface Hostile {
  name: string;
  body: string;
  contentType?: string;
  method?: 'GET' | 'POST';
  path?: string;
}

const json = (value: unknown) => JSON.stringify(value);
const gqlBody = (query: string, variables?: unknown) => json({ query, variables });
const REDEEM = 'mutation($i: RedeemInput!) { redeem(input: $i) { transaction { id } } }';
const POST = 'mutation($i: PostTransactionInput!) { postTransaction(input: $i) { transaction { id } } }';
const redeemWith = (overrides: Record<string, unknown>) =>
  gqlBody(REDEEM, { i: { accountId: '$ACCOUNT', asset: 'PTS', amount: '1', idempotencyKey: 'hostile', ...overrides } });

function hostileRequests(): Hostile[] {
  const requests: Hostile[] = [];
  const add = (name: string, body: string, extra: Partial<Hostile> = {}) => requests.push({ name, body, ...extra });

  // Malformed JSON.
  for (const [index, body] of [
    '{',
    '}',
    '{"query":',
    '{"query": "{ ledgers { edges { cursor } } }"',
    'null',
    '[',
    '"just a string"',
    '{"query": undefined}',
    "{'query': '{}'}",
    '{"query":"{}"}}',
    '\u0000',
    '{"query": "\\u"}',
    'NaN',
    '{"query": 1e309}',
    '{"a":'.repeat(50),
  ].entries()) {
    add(`malformed JSON #${index}`, body);
  }
  // Wrong or missing content types.
  for (const contentType of [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    'image/png',
    '',
  ]) {
    add(`content type "${contentType}"`, gqlBody('{ ledgers { edges { cursor } } }'), { contentType });
  }
  // Bodies over the limit.
  add(
    'body of 2 MiB',
    json({ query: '{ ledgers { edges { cursor } } }', variables: { pad: 'x'.repeat(2 * 1024 * 1024) } }),
  );
  add('1 MB metadata', redeemWith({ metadata: { blob: 'm'.repeat(1_000_000) } }));
  add('17 KiB metadata', redeemWith({ metadata: { blob: 'm'.repeat(17_000) } }));
  // Depth, aliases, tokens, directives.
  for (const depth of [13, 50, 200])
    add(
      `query depth ${depth}`,
      gqlBody(
        `{ ${'ledgers { edges { node { '.repeat(Math.ceil(depth / 3))}id${' } } }'.repeat(Math.ceil(depth / 3))} }`,
      ),
    );
  add(
    '10,000 aliases',
    gqlBody(`{ ${Array.from({ length: 10_000 }, (_, index) => `a${index}: ledgers { edges { cursor } }`).join(' ')} }`),
  );
  add(
    '3,000 aliases',
    gqlBody(`{ ${Array.from({ length: 3_000 }, (_, index) => `a${index}: __typename`).join(' ')} }`),
  );
  add('fragment cycle', gqlBody('query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }'));
  for (const count of [2, 10, 500])
    add(
      `@include repeated ${count} times`,
      gqlBody(`{ ledgers ${'@include(if: true) '.repeat(count)}{ edges { cursor } } }`),
    );
  add('unknown directive', gqlBody('{ ledgers @evil { edges { cursor } } }'));
  // Huge lists.
  add(
    '10,000 entries',
    gqlBody(POST, {
      i: {
        ledgerId: '$LEDGER',
        idempotencyKey: 'h',
        entries: Array.from({ length: 10_000 }, () => ({
          accountId: '$ACCOUNT',
          asset: 'PTS',
          direction: 'DEBIT',
          amount: '1',
        })),
      },
    }),
  );
  add(
    '1,001-item batch',
    gqlBody('mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { error { code } } }', {
      i: {
        transactions: Array.from({ length: 1001 }, (_, index) => ({
          ledgerId: '$LEDGER',
          idempotencyKey: `b${index}`,
          entries: [],
        })),
      },
    }),
  );
  add(
    'page size 100,000',
    gqlBody('query($l: ID!) { accounts(ledgerId: $l, first: 100000) { edges { cursor } } }', { l: '$LEDGER' }),
  );
  add(
    'negative page size',
    gqlBody('query($l: ID!) { accounts(ledgerId: $l, first: -1) { edges { cursor } } }', { l: '$LEDGER' }),
  );
  // Amounts.
  for (const amount of [
    '1.5',
    '-5',
    '0',
    '1e3',
    ' 12',
    '',
    '9223372036854775808',
    '-9223372036854775809',
    2.5,
    'abc',
    '0x10',
    '١٢',
    1e21,
    Number.MAX_SAFE_INTEGER + 2,
    true,
    null,
    [],
    {},
    '٣',
    '+1',
    '00',
    '1_000',
    '1,000',
  ]) {
    add(`redeem amount ${JSON.stringify(amount)}`, redeemWith({ amount }));
    add(
      `issue amount ${JSON.stringify(amount)}`,
      gqlBody('mutation($i: IssueInput!) { issue(input: $i) { replayed } }', {
        i: { accountId: '$ACCOUNT', asset: 'PTS', amount, idempotencyKey: 'hostile-issue' },
      }),
    );
    add(
      `entry amount ${JSON.stringify(amount)}`,
      gqlBody(POST, {
        i: {
          ledgerId: '$LEDGER',
          idempotencyKey: 'hostile-entry',
          entries: [
            { accountCode: 'system:issuance', asset: 'PTS', direction: 'DEBIT', amount },
            { accountId: '$ACCOUNT', asset: 'PTS', direction: 'CREDIT', amount },
          ],
        },
      }),
    );
  }
  add(
    'amount literal 99999999999999999999',
    gqlBody(
      `mutation { redeem(input: { accountId: "$ACCOUNT", asset: "PTS", amount: 99999999999999999999, idempotencyKey: "x" }) { replayed } }`,
    ),
  );
  add(
    'amount literal float',
    gqlBody(
      `mutation { redeem(input: { accountId: "$ACCOUNT", asset: "PTS", amount: 1.0, idempotencyKey: "x" }) { replayed } }`,
    ),
  );
  // NUL bytes and invalid Unicode, in every kind of string.
  for (const [label, text] of [
    ['NUL', 'a\u0000b'],
    ['lone high surrogate', 'a\ud800b'],
    ['lone low surrogate', '\udfffb'],
  ] as const) {
    add(`${label} in idempotencyKey`, redeemWith({ idempotencyKey: text }));
    add(`${label} in description`, redeemWith({ description: text }));
    add(`${label} in metadata value`, redeemWith({ metadata: { note: text } }));
    add(`${label} in metadata key`, redeemWith({ metadata: { [text]: 1 } }));
    add(
      `${label} in account code`,
      gqlBody('mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }', {
        i: { ledgerId: '$LEDGER', code: text },
      }),
    );
    add(
      `${label} in ledger name`,
      gqlBody('mutation($i: CreateLedgerInput!) { createLedger(input: $i) { id } }', {
        i: { code: 'ok-code', name: text },
      }),
    );
    add(`${label} in query text`, json({ query: `{ ledgers { edges { cursor } } } # ${text}` }));
    add(`${label} in asset code`, redeemWith({ asset: text }));
  }
  // Over-long strings.
  add('idempotency key of 256 characters', redeemWith({ idempotencyKey: 'k'.repeat(256) }));
  add('idempotency key of 100,000 characters', redeemWith({ idempotencyKey: 'k'.repeat(100_000) }));
  add('description of 1,001 characters', redeemWith({ description: 'd'.repeat(1001) }));
  add(
    'account code of 129 characters',
    gqlBody('mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }', {
      i: { ledgerId: '$LEDGER', code: 'c'.repeat(129) },
    }),
  );
  add(
    'ledger name of 201 characters',
    gqlBody('mutation($i: CreateLedgerInput!) { createLedger(input: $i) { id } }', {
      i: { code: 'fine', name: 'n'.repeat(201) },
    }),
  );
  // Wrong variable types.
  for (const [field, value] of [
    ['accountId', 42],
    ['accountId', null],
    ['accountId', 'not-a-uuid'],
    ['accountId', ['x']],
    ['asset', 7],
    ['asset', null],
    ['idempotencyKey', 1],
    ['idempotencyKey', null],
    ['metadata', 'string'],
    ['metadata', [1, 2]],
    ['metadata', 5],
    ['description', {}],
    ['dryRun', 'yes'],
  ] as const) {
    add(`variable ${field} = ${JSON.stringify(value)}`, redeemWith({ [field]: value }));
  }
  add('variables as a string', json({ query: REDEEM, variables: 'nope' }));
  add('missing required variable', gqlBody(REDEEM, {}));
  add('extra unknown input field', redeemWith({ evil: true }));
  add(
    'enum given as a wrong value',
    gqlBody(POST, {
      i: {
        ledgerId: '$LEDGER',
        idempotencyKey: 'x',
        entries: [{ accountId: '$ACCOUNT', asset: 'PTS', direction: 'SIDEWAYS', amount: '1' }],
      },
    }),
  );
  add(
    'DateTime without a zone',
    gqlBody(POST, { i: { ledgerId: '$LEDGER', idempotencyKey: 'x', effectiveAt: '2026-01-01T00:00:00', entries: [] } }),
  );
  add(
    'DateTime not a date',
    gqlBody(POST, {
      i: { ledgerId: '$LEDGER', idempotencyKey: 'x', effectiveAt: '2026-13-45T99:00:00Z', entries: [] },
    }),
  );
  // Batched HTTP arrays and operation selection.
  add(
    'batched HTTP array',
    json([{ query: '{ ledgers { edges { cursor } } }' }, { query: '{ ledgers { edges { cursor } } }' }]),
  );
  add('empty batched array', '[]');
  add(
    'two operations, none named',
    gqlBody('query A { ledgers { edges { cursor } } } query B { ledgers { edges { cursor } } }'),
  );
  add('unknown operation name', json({ query: 'query A { ledgers { edges { cursor } } }', operationName: 'Z' }));
  add('empty query', json({ query: '' }));
  add('no query', json({ variables: {} }));
  add('query is a number', json({ query: 42 }));
  add('mutation over GET', '', {
    method: 'GET',
    path: `?query=${encodeURIComponent('mutation { createLedger(input: { code: "get", name: "x" }) { id } }')}`,
  });
  add('subscription over HTTP', gqlBody('subscription { __typename }'));
  // Identifiers, cursors, codes.
  for (const id of [
    '',
    'x',
    '00000000-0000-0000-0000-00000000000Z',
    "1' OR '1'='1",
    '../../etc/passwd',
    'a'.repeat(1000),
  ]) {
    add(
      `account id ${JSON.stringify(id.slice(0, 20))}`,
      gqlBody('query($id: ID!) { account(id: $id) { code } }', { id }),
    );
    add(
      `ledger id ${JSON.stringify(id.slice(0, 20))} for a posting`,
      gqlBody(POST, { i: { ledgerId: id, idempotencyKey: 'x', entries: [] } }),
    );
  }
  // A well-formed id that names nothing: a lookup answers null, but a write must be refused.
  add(
    'unknown ledger id for a posting',
    gqlBody(POST, { i: { ledgerId: '01a1fc9e-0000-7000-8000-000000000000', idempotencyKey: 'x', entries: [] } }),
  );
  add('unknown account id for a redemption', redeemWith({ accountId: '01a1fc9e-0000-7000-8000-000000000000' }));
  for (const cursor of ['', 'garbage', 'aWQ6bm90LWEtdXVpZA', 'x'.repeat(500), '%%%']) {
    add(
      `cursor ${JSON.stringify(cursor.slice(0, 12))}`,
      gqlBody('query($l: ID!, $a: String) { accounts(ledgerId: $l, after: $a) { edges { cursor } } }', {
        l: '$LEDGER',
        a: cursor,
      }),
    );
  }
  for (const code of ['', ' ', 'system:issuance', 'x y', 'ü', '-leading']) {
    add(
      `account code ${JSON.stringify(code)}`,
      gqlBody('mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }', {
        i: { ledgerId: '$LEDGER', code },
      }),
    );
  }
  for (const scale of [-1, 19, 1.5, 2147483648]) {
    add(
      `asset scale ${scale}`,
      gqlBody('mutation($i: CreateAssetInput!) { createAsset(input: $i) { id } }', {
        i: { ledgerId: '$LEDGER', code: 'NEWCOIN', name: 'x', kind: 'OTHER', scale },
      }),
    );
  }
  for (const withinDays of [-1, 3651, 1e9]) {
    add(
      `expiring withinDays ${withinDays}`,
      gqlBody('query($id: ID!, $d: Int!) { account(id: $id) { expiring(asset: "PTS", withinDays: $d) { amount } } }', {
        id: '$ACCOUNT',
        d: withinDays,
      }),
    );
  }
  for (const timeoutSeconds of [0, -5, 2_592_001]) {
    add(
      `hold timeoutSeconds ${timeoutSeconds}`,
      gqlBody('mutation($i: HoldInput!) { hold(input: $i) { transaction { id } } }', {
        i: { accountId: '$ACCOUNT', asset: 'PTS', amount: '1', idempotencyKey: key(), timeoutSeconds },
      }),
    );
  }
  // Program limits (issue 13): every field of createLimit and deleteLimit, and reverseTransaction's allowDebt.
  const CREATE_LIMIT = 'mutation($i: CreateLimitInput!) { createLimit(input: $i) { id } }';
  const limit = { ledgerId: '$LEDGER', asset: 'PTS', kind: 'EARN_PER_PERIOD', amount: '10', period: 'DAY' };
  for (const [field, value] of [
    ['ledgerId', 'not-a-uuid'],
    ['ledgerId', '00000000-0000-7000-8000-000000000000'],
    ['ledgerId', null],
    ['asset', 'NOPE'],
    ['asset', 'x'.repeat(10_000)],
    ['asset', 12],
    ['kind', 'SPEND_PER_PERIOD'],
    ['kind', 'earn_per_period'],
    ['amount', '-1'],
    ['amount', '1.5'],
    ['amount', '9223372036854775808'],
    ['amount', 1e300],
    ['amount', ''],
    ['period', 'HOUR'],
    ['period', null],
    ['timeZone', 'Mars/Olympus'],
    ['timeZone', '+05:00'],
    ['timeZone', 'UTC+5'],
    ['timeZone', ''],
    ['timeZone', 'x'.repeat(1000)],
    ['timeZone', '\u0000'],
    ['timeZone', 7],
  ] as const) {
    add(
      `createLimit ${field} ${JSON.stringify(value)?.slice(0, 20)}`,
      gqlBody(CREATE_LIMIT, { i: { ...limit, [field]: value } }),
    );
  }
  add(
    'createLimit MAX_BALANCE with a period',
    gqlBody(CREATE_LIMIT, { i: { ...limit, kind: 'MAX_BALANCE', period: 'DAY' } }),
  );
  for (const id of ['', 'not-a-uuid', '00000000-0000-7000-8000-000000000000', 'x'.repeat(5000)]) {
    add(
      `deleteLimit id ${JSON.stringify(id.slice(0, 20))}`,
      gqlBody('mutation($id: ID!) { deleteLimit(id: $id) { id } }', { id }),
    );
  }
  for (const allowDebt of ['yes', 1, null, {}]) {
    add(
      `reverseTransaction allowDebt ${JSON.stringify(allowDebt)}`,
      gqlBody(
        'mutation($d: Boolean!) { reverseTransaction(id: "00000000-0000-7000-8000-000000000000", idempotencyKey: "h", allowDebt: $d) { replayed } }',
        {
          d: allowDebt,
        },
      ),
    );
  }
  // Reconciliation runs and resolutions: every field refused before anything is written.
  const RUN = 'mutation($i: RunReconciliationInput!) { runReconciliation(input: $i) { id } }';
  const runWith = (overrides: Record<string, unknown>) =>
    gqlBody(RUN, {
      i: {
        sourceId: '$LEDGER',
        mode: 'DRY_RUN',
        from: '2026-11-01T00:00:00Z',
        to: '2026-11-30T00:00:00Z',
        idempotencyKey: 'hostile-run',
        ...overrides,
      },
    });
  for (const idempotencyKey of ['', 'k'.repeat(256), 'k'.repeat(100_000), 'a\u0000b', 'tab\there']) {
    add(`run idempotencyKey of ${idempotencyKey.length} characters`, runWith({ idempotencyKey }));
  }
  add('run window backwards', runWith({ from: '2026-12-01T00:00:00Z' }));
  add('run window of 1,000 days', runWith({ from: '2024-01-01T00:00:00Z' }));
  add('run from not a date', runWith({ from: 'last tuesday' }));
  add('run to out of range', runWith({ to: '+275760-09-13T00:00:01Z' }));
  add('run mode unknown', runWith({ mode: 'DELETE_EVERYTHING' }));
  for (const sourceId of ['', 'x', "1' OR '1'='1", 'a'.repeat(1000)]) {
    add(`run sourceId ${JSON.stringify(sourceId.slice(0, 20))}`, runWith({ sourceId }));
  }
  add('run of a source that does not exist', runWith({ sourceId: '01a1fc9e-0000-7000-8000-000000000000' }));
  const RESOLVE =
    'mutation($id: ID!, $i: ResolveReconciliationExceptionInput!) { resolveReconciliationException(id: $id, input: $i) { id } }';
  const resolveWith = (id: string, overrides: Record<string, unknown>) =>
    gqlBody(RESOLVE, { id, i: { resolution: 'EXPLAIN', note: 'n', idempotencyKey: 'hostile-resolve', ...overrides } });
  for (const id of ['', 'x', '../../etc/passwd', 'a'.repeat(1000), '01a1fc9e-0000-7000-8000-000000000000']) {
    add(`resolve exception id ${JSON.stringify(id.slice(0, 20))}`, resolveWith(id, {}));
  }
  for (const note of ['', '   ', 'n'.repeat(2001), 'a\u0000b', 'bell\u0007']) {
    add(`resolve note ${JSON.stringify(note.slice(0, 8))} (${note.length})`, resolveWith('$LEDGER', { note }));
  }
  add('resolve idempotencyKey of 256 characters', resolveWith('$LEDGER', { idempotencyKey: 'k'.repeat(256) }));
  add('resolve transactionId not an id', resolveWith('$LEDGER', { resolution: 'MATCH_MANUALLY', transactionId: 'x' }));
  add('resolve resolution unknown', resolveWith('$LEDGER', { resolution: 'FORGIVE' }));
  add(
    'runs page size 501',
    gqlBody('query($id: ID!) { reconciliationRuns(sourceId: $id, first: 501) { edges { cursor } } }', {
      id: '$LEDGER',
    }),
  );
  add('reconciliationRun id not an id', gqlBody('query { reconciliationRun(id: "nope") { id } }'));
  // Subscriptions over HTTP, which run over WebSocket only.
  for (const [index, subscription] of [
    'subscription { balanceUpdated(accountId: "$ACCOUNT") { available version } }',
    'subscription Live { transactionPosted { id } }',
    'subscription { balanceUpdated(accountId: "$ACCOUNT", asset: "PTS", includeCurrent: true) { available } }',
    'subscription { __typename }',
    'query Q { ledgers { edges { cursor } } } subscription S { transactionPosted(ledgerId: "$LEDGER") { id } }',
  ].entries()) {
    add(
      `subscription over POST #${index}`,
      json({ query: subscription, operationName: index === 4 ? 'S' : undefined }),
    );
    add(`subscription over GET #${index}`, '', {
      method: 'GET',
      path: `?query=${encodeURIComponent(subscription)}${index === 4 ? '&operationName=S' : ''}`,
    });
  }
  // Conversions and gift cards: every field of every new operation.
  const SET_RATE = 'mutation($i: SetExchangeRateInput!) { setExchangeRate(input: $i) { id } }';
  const CONVERT = 'mutation($i: ConvertInput!) { convert(input: $i) { replayed } }';
  const ISSUE_CARD = 'mutation($i: IssueGiftCardInput!) { issueGiftCard(input: $i) { code } }';
  const REDEEM_CARD = 'mutation($i: RedeemGiftCardInput!) { redeemGiftCard(input: $i) { replayed } }';
  const CARD_BALANCE = 'query($c: String!, $p: String!) { giftCardBalance(code: $c, pin: $p) { posted } }';
  const rate = { ledgerId: '$LEDGER', fromAsset: 'PTS', toAsset: 'CASH', numerator: '1', denominator: '1' };
  const conversion = { accountId: '$ACCOUNT', fromAsset: 'PTS', toAsset: 'CASH', amount: '1', idempotencyKey: 'hc' };
  const card = { ledgerId: '$LEDGER', asset: 'PTS', amount: '1', idempotencyKey: 'hg' };
  const till = { code: '0000000000000000000', pin: '123456', amount: '1', idempotencyKey: 'hr' };
  const badAmounts = ['0', '-1', '1.5', '9223372036854775808', 'abc', '', null, 2.5, true, {}];
  const badTexts = ['', 'a\u0000b', 'a\ud800b', 'x'.repeat(100_000), 7, null, ['PTS']];
  const badIds = ['', 'not-a-uuid', "1' OR '1'='1", 'a'.repeat(1000), '01a1fc9e-0000-7000-8000-000000000000', 42, null];
  const badInstants = ['2026-01-01T00:00:00', '2026-13-45T99:00:00Z', 'yesterday', 1_700_000_000, ''];
  for (const value of badAmounts) {
    add(`setExchangeRate numerator ${JSON.stringify(value)}`, gqlBody(SET_RATE, { i: { ...rate, numerator: value } }));
    add(
      `setExchangeRate denominator ${JSON.stringify(value)}`,
      gqlBody(SET_RATE, { i: { ...rate, denominator: value } }),
    );
    add(`convert amount ${JSON.stringify(value)}`, gqlBody(CONVERT, { i: { ...conversion, amount: value } }));
    add(`issueGiftCard amount ${JSON.stringify(value)}`, gqlBody(ISSUE_CARD, { i: { ...card, amount: value } }));
    add(`redeemGiftCard amount ${JSON.stringify(value)}`, gqlBody(REDEEM_CARD, { i: { ...till, amount: value } }));
  }
  add('convert to nothing', gqlBody(CONVERT, { i: { ...conversion, toAsset: 'TINY' } }));
  add('convert more than the 64-bit range', gqlBody(CONVERT, { i: { ...conversion, toAsset: 'HUGE', amount: '3' } }));
  add('convert more than the balance', gqlBody(CONVERT, { i: { ...conversion, amount: '1000000' } }));
  add('convert without a rate', gqlBody(CONVERT, { i: { ...conversion, fromAsset: 'CASH', toAsset: 'PTS' } }));
  for (const value of badTexts) {
    const label = JSON.stringify(typeof value === 'string' ? value.slice(0, 12) : value);
    add(`setExchangeRate fromAsset ${label}`, gqlBody(SET_RATE, { i: { ...rate, fromAsset: value } }));
    add(`setExchangeRate toAsset ${label}`, gqlBody(SET_RATE, { i: { ...rate, toAsset: value } }));
    add(`convert fromAsset ${label}`, gqlBody(CONVERT, { i: { ...conversion, fromAsset: value } }));
    add(`convert toAsset ${label}`, gqlBody(CONVERT, { i: { ...conversion, toAsset: value } }));
    add(
      `convert idempotencyKey ${label}`,
      gqlBody(CONVERT, { i: { ...conversion, amount: '0', idempotencyKey: value } }),
    );
    add(`issueGiftCard asset ${label}`, gqlBody(ISSUE_CARD, { i: { ...card, asset: value } }));
    add(`issueGiftCard idempotencyKey ${label}`, gqlBody(ISSUE_CARD, { i: { ...card, idempotencyKey: value } }));
    add(`redeemGiftCard code ${label}`, gqlBody(REDEEM_CARD, { i: { ...till, code: value } }));
    add(`redeemGiftCard pin ${label}`, gqlBody(REDEEM_CARD, { i: { ...till, pin: value } }));
    add(`redeemGiftCard idempotencyKey ${label}`, gqlBody(REDEEM_CARD, { i: { ...till, idempotencyKey: value } }));
    add(`giftCardBalance code ${label}`, gqlBody(CARD_BALANCE, { c: value, p: '123456' }));
    add(`giftCardBalance pin ${label}`, gqlBody(CARD_BALANCE, { c: till.code, p: value }));
    add(
      `exchangeRates fromAsset ${label}`,
      gqlBody('query($l: ID!, $f: String!) { exchangeRates(ledgerId: $l, fromAsset: $f, toAsset: "CASH") { id } }', {
        l: '$LEDGER',
        f: value,
      }),
    );
  }
  for (const code of [
    '1234 5678 9012 3456 7890',
    '١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨',
    '-'.repeat(19),
    '+123456789012345678',
    '1e18',
  ]) {
    add(`giftCardBalance code ${JSON.stringify(code.slice(0, 12))}`, gqlBody(CARD_BALANCE, { c: code, p: '123456' }));
  }
  for (const pin of ['12', '١٢٣٤', '12 34', '-1234', '1'.repeat(13)]) {
    add(`giftCardBalance pin ${JSON.stringify(pin)}`, gqlBody(CARD_BALANCE, { c: till.code, p: pin }));
  }
  for (const value of badIds) {
    const label = JSON.stringify(typeof value === 'string' ? value.slice(0, 12) : value);
    add(`setExchangeRate ledgerId ${label}`, gqlBody(SET_RATE, { i: { ...rate, ledgerId: value } }));
    add(`convert accountId ${label}`, gqlBody(CONVERT, { i: { ...conversion, accountId: value } }));
    add(`issueGiftCard ledgerId ${label}`, gqlBody(ISSUE_CARD, { i: { ...card, ledgerId: value } }));
    add(`unlockGiftCard id ${label}`, gqlBody('mutation($id: ID!) { unlockGiftCard(id: $id) { id } }', { id: value }));
    add(`giftCard id ${label}`, gqlBody('query($id: ID!) { giftCard(id: $id) { id } }', { id: value }));
  }
  for (const value of badInstants) {
    add(`setExchangeRate validFrom ${JSON.stringify(value)}`, gqlBody(SET_RATE, { i: { ...rate, validFrom: value } }));
    add(`issueGiftCard expiresAt ${JSON.stringify(value)}`, gqlBody(ISSUE_CARD, { i: { ...card, expiresAt: value } }));
  }
  add(
    'issueGiftCard expiresAt in the past',
    gqlBody(ISSUE_CARD, { i: { ...card, expiresAt: '2020-01-01T00:00:00Z' } }),
  );
  add('setExchangeRate from an asset to itself', gqlBody(SET_RATE, { i: { ...rate, toAsset: 'PTS' } }));
  add(
    'setExchangeRate with a used validFrom',
    gqlBody(SET_RATE, { i: { ...rate, validFrom: '2026-01-01T00:00:00Z' } }),
  );
  // Credentials.
  for (const authorization of [
    'Bearer',
    'Bearer ',
    'Basic abc',
    `Bearer ${'x'.repeat(600)}`,
    'bearer lowercase-scheme-xxxxxxxxxxxxxxx',
    `Bearer ${ADMIN_KEY}\u00e9`,
  ]) {
    requests.push({
      name: `authorization ${JSON.stringify(authorization.slice(0, 16))}`,
      body: gqlBody('{ ledgers { edges { cursor } } }'),
      contentType: `auth:${authorization}`,
    });
  }
  return requests;
}

async function send(request: Hostile): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  let authorization = `Bearer ${ADMIN_KEY}`;
  if (request.contentType?.startsWith('auth:')) authorization = request.contentType.slice(5);
  else if (request.contentType !== '') headers['content-type'] = request.contentType ?? 'application/json';
  headers.authorization = authorization;
  headers['apollo-require-preflight'] = 'true';
  const body = request.body.replaceAll('$ACCOUNT', accountId).replaceAll('$LEDGER', ledgerId);
  const response = await fetch(t.url + (request.path ?? ''), {
    method: request.method ?? 'POST',
    headers,
    body: request.method === 'GET' ? undefined : body,
  });
  const text = await response.text();
  let parsed: any = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
}

const ACCEPTED_CODES = new Set([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'INSUFFICIENT_FUNDS',
  'UNBALANCED_TRANSACTION',
  'IDEMPOTENCY_CONFLICT',
  'ACCOUNT_NOT_ACTIVE',
  'ASSET_NOT_FOUND',
  'QUERY_TOO_COMPLEX',
  'TRANSACTION_NOT_PENDING',
  'ALREADY_REVERSED',
  'EXCHANGE_RATE_NOT_FOUND',
  'GIFT_CARD_LOCKED',
  'GIFT_CARD_EXPIRED',
]);

function verdict(result: { status: number; body: any }): string {
  if (result.status >= 500) return `HTTP ${result.status}`;
  if (result.status >= 400 && result.status < 500) {
    const code = result.body?.errors?.[0]?.extensions?.code;
    return code === undefined || ACCEPTED_CODES.has(code) ? 'refused' : `4xx with code ${code}`;
  }
  const errors = result.body?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return 'accepted';
  const codes: string[] = errors.map((error: any) => error.extensions?.code);
  const stack = JSON.stringify(errors).includes('    at ');
  if (stack) return 'stack trace leaked';
  return codes.every((code) => ACCEPTED_CODES.has(code)) ? 'refused' : `codes ${codes.join(',')}`;
}

it('answers over 200 hostile requests with a 4xx or a coded error, changing nothing and leaking nothing', async () => {
  const requests = hostileRequests();
  expect(requests.length).toBeGreaterThanOrEqual(200);
  if (process.env.HOSTILE_REPORT) process.stdout.write(`hostile requests: ${requests.length}\n`);
  const before = await snapshotLedger(t.db);
  const failures: string[] = [];
  for (const request of requests) {
    const outcome = verdict(await send(request));
    if (outcome !== 'refused') failures.push(`${request.name}: ${outcome}`);
  }
  expect(failures).toEqual([]);
  expect(await snapshotLedger(t.db)).toEqual(before);
  // Still serving ordinary requests afterwards.
  expect((await t.gql('{ ledgers { edges { cursor } } }')).errors).toBeUndefined();
}, 120_000);

describe('a subscription sent over HTTP', () => {
  const LIVE = 'subscription Live($id: ID!) { balanceUpdated(accountId: $id) { available version } }';

  it('is refused with BAD_USER_INPUT naming the WebSocket address, and logs no error', async () => {
    const logLines: string[] = [];
    const logged = await startTestServer({ logLines });
    try {
      const { ledgerId: ledger } = await createProgram(logged);
      const account = await createAccount(logged, ledger);
      const response = await logged.gql(LIVE, { id: account.id });
      expect(response.status).toBe(400);
      expect(response.data).toBeUndefined();
      expect(response.errors).toEqual([
        {
          message: expect.stringContaining(`ws://127.0.0.1:${logged.server.port}/graphql`),
          extensions: { code: 'BAD_USER_INPUT', retryable: false },
        },
      ]);
      expect(response.errors![0]!.message).toMatch(/^subscriptions run over WebSocket, not HTTP/);
      // Behind a TLS-terminating proxy the address is wss://, at the host the client called.
      // (fetch sets Host itself, so node:http sends this one.)
      const proxied = await new Promise<string>((resolve, reject) => {
        const request = http.request(
          logged.url,
          {
            method: 'POST',
            headers: {
              authorization: `Bearer ${ADMIN_KEY}`,
              'content-type': 'application/json',
              host: 'ledger.example.com',
              'x-forwarded-proto': 'https',
            },
          },
          (response) => {
            let text = '';
            response.on('data', (chunk) => (text += chunk));
            response.on('end', () => resolve(text));
          },
        );
        request.on('error', reject);
        request.end(JSON.stringify({ query: LIVE, variables: { id: account.id } }));
      });
      expect(JSON.parse(proxied).errors[0].message).toContain('wss://ledger.example.com/graphql');
      const errorLines = logLines.filter(
        (line) => ['error', 'fatal'].includes(JSON.parse(line).level) || line.includes('    at '),
      );
      expect(errorLines).toEqual([]);
      expect(logLines.some((line) => line.includes('"outcome":"BAD_USER_INPUT"'))).toBe(true);
    } finally {
      await logged.stop();
    }
  });
});

it('keeps server memory flat while hostile requests repeat', async () => {
  const requests = hostileRequests().filter((request) => request.body.length < 200_000);
  const round = async () => {
    for (const request of requests) await send(request);
  };
  // A full collection before each reading, so what is measured is what the server keeps, not garbage.
  v8.setFlagsFromString('--expose_gc');
  const collect = vm.runInNewContext('gc') as () => void;
  const heapMb = () => {
    collect();
    return process.memoryUsage().heapUsed / 1024 / 1024;
  };
  await round();
  const settled = heapMb();
  for (let repeat = 0; repeat < 3; repeat += 1) await round();
  // Three more rounds (~600 requests) must leave nothing behind per request.
  expect(heapMb() - settled).toBeLessThan(10);
}, 180_000);
