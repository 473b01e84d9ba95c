import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { ADMIN_KEY, startTestServer, type TestServer } from './support/server';

/**
 * The contract of POST /graphql's fast path (src/platform/graphql-http.ts): two servers on one database,
 * one answering through node:http directly, one through express as before (graphqlFastPath: false), get
 * the same requests; every answer (status, headers, body, log line) must be the same. The requests cover
 * the plain shape the fast path takes and the unusual ones it hands to express.
 */

interface Sent {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Sends the body with Transfer-Encoding: chunked, in pieces of this many bytes. */
  chunked?: number;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(port: number, request: Sent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const headers: Record<string, string | number> = { ...request.headers };
    if (body !== undefined && request.chunked === undefined) headers['content-length'] = body.length;
    const outgoing = http.request(
      { host: '127.0.0.1', port, method: request.method ?? 'POST', path: request.path ?? '/graphql', headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode!,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    outgoing.on('error', reject);
    if (body !== undefined && request.chunked !== undefined) {
      for (let at = 0; at < body.length; at += request.chunked) outgoing.write(body.subarray(at, at + request.chunked));
    } else if (body !== undefined) outgoing.write(body);
    outgoing.end();
  });
}

const JSON_TYPE = 'application/json';
const AUTH = `Bearer ${ADMIN_KEY}`;
const json = (value: unknown) => JSON.stringify(value);
const post = (body: string | Buffer, headers: Record<string, string> = {}): Sent => ({
  body,
  headers: { 'content-type': JSON_TYPE, authorization: AUTH, ...headers },
});

// 1 MiB is the test servers' body limit (test/support/server.ts).
const OVERSIZED = json({ query: '{ __typename }', variables: { pad: 'x'.repeat(1_100_000) } });
let nested: unknown = 'deep';
for (let level = 0; level < 70; level++) nested = { n: nested };

const CASES: Array<[string, Sent]> = [
  ['a query', post(json({ query: '{ __typename }' }))],
  [
    'a query with variables and an operation name',
    post(json({ query: 'query Q($n: Int) { ledgers(first: $n) { edges { cursor } } }', variables: { n: 2 } })),
  ],
  [
    'a mutation',
    post(json({ query: 'mutation { createLedger(input: { code: "$CODE", name: "Fast path" }) { code name } }' })),
  ],
  [
    'a mutation refused by a domain rule',
    post(
      json({
        query:
          'mutation { createAccount(input: { ledgerId: "00000000-0000-4000-8000-000000000000", code: "a", type: CUSTOMER }) { id } }',
      }),
    ),
  ],
  ['a GraphQL syntax error', post(json({ query: '{ ledgers ' }))],
  ['a validation error', post(json({ query: '{ noSuchField }' }))],
  ['a query too deep', post(json({ query: `{ ${'ledgers { edges { node { '.repeat(12)}id${' } } }'.repeat(12)} }` }))],
  ['a subscription over HTTP', post(json({ query: 'subscription { balanceUpdated(accountId: "x") { version } }' }))],
  ['malformed JSON', post('{"query": ')],
  ['JSON that is a string', post('"{ __typename }"')],
  ['JSON that is a number after spaces', post('  42')],
  ['a body of spaces', post('   ')],
  ['an empty body', post('')],
  ['no query in the body', post(json({ variables: {} }))],
  ['a byte order mark before the JSON', post(`\ufeff${json({ query: '{ __typename }' })}`)],
  [
    'bytes that are not UTF-8',
    post(
      Buffer.concat([
        Buffer.from('{"query":"{ __typename }","operationName":"'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"}'),
      ]),
    ),
  ],
  ['a NUL in a variable', post(json({ query: 'query($s: String) { __typename }', variables: { s: 'a\u0000b' } }))],
  ['JSON nested too deep', post(json({ query: '{ __typename }', variables: nested }))],
  ['a NUL in the query string', { ...post(json({ query: '{ __typename }' })), path: '/graphql?x=%00' }],
  ['a query string', { ...post(json({ query: '{ __typename }' })), path: '/graphql?trace=1' }],
  ['an oversized body', post(OVERSIZED)],
  ['an oversized chunked body', { ...post(OVERSIZED), chunked: 65_536 }],
  ['a chunked body', { ...post(json({ query: '{ __typename }' })), chunked: 5 }],
  ['a batch (array body)', post(json([{ query: '{ __typename }' }, { query: '{ __typename }' }]))],
  ['no credential', { body: json({ query: '{ __typename }' }), headers: { 'content-type': JSON_TYPE } }],
  ['a wrong credential', post(json({ query: '{ ledgers { edges { cursor } } }' }), { authorization: 'Bearer nope' })],
  ['a Basic credential', post(json({ query: '{ __typename }' }), { authorization: 'Basic abc' })],
  ['a request id offered', post(json({ query: '{ __typename }' }), { 'x-request-id': 'client-id.1:2' })],
  ['an unusable request id', post(json({ query: '{ __typename }' }), { 'x-request-id': 'bad id!' })],
  ['an upper-case content type', post(json({ query: '{ __typename }' }), { 'content-type': 'Application/JSON' })],
  ['a UTF-8 charset', post(json({ query: '{ __typename }' }), { 'content-type': 'application/json; charset=UTF-8' })],
  [
    'a Latin-1 charset',
    post(json({ query: '{ __typename }' }), { 'content-type': 'application/json; charset=latin1' }),
  ],
  ['a text/plain body (CSRF)', post(json({ query: '{ __typename }' }), { 'content-type': 'text/plain' })],
  [
    'a text/plain body with a preflight header',
    post(json({ query: '{ __typename }' }), { 'content-type': 'text/plain', 'apollo-require-preflight': '1' }),
  ],
  ['no content type', { body: json({ query: '{ __typename }' }), headers: { authorization: AUTH } }],
  [
    'a GraphQL response content type',
    post(json({ query: '{ __typename }' }), { 'content-type': 'application/graphql-response+json' }),
  ],
  ['a gzip body', post(gzipSync(json({ query: '{ __typename }' })), { 'content-encoding': 'gzip' })],
  ['an unknown content encoding', post(json({ query: '{ __typename }' }), { 'content-encoding': 'snappy' })],
  ['a POST without a body', { headers: { 'content-type': JSON_TYPE, authorization: AUTH } }],
  [
    'an Accept for the GraphQL response type',
    post(json({ query: '{ __typename }' }), { accept: 'application/graphql-response+json' }),
  ],
  ['a trailing slash', { ...post(json({ query: '{ __typename }' })), path: '/graphql/' }],
  ['an upper-case path', { ...post(json({ query: '{ __typename }' })), path: '/GRAPHQL' }],
  [
    'GET /graphql with a query',
    { method: 'GET', path: '/graphql?query=%7B__typename%7D', headers: { authorization: AUTH } },
  ],
  ['GET /graphql from a browser', { method: 'GET', path: '/graphql', headers: { accept: 'text/html' } }],
  ['GET /healthz', { method: 'GET', path: '/healthz' }],
  ['OPTIONS /graphql', { method: 'OPTIONS', path: '/graphql', headers: { origin: 'http://example.com' } }],
];

/** Headers that differ between any two answers by nature: the clock and a generated request id. */
function comparable(answer: Answer, server: string, port: number): unknown {
  const { date: _date, 'x-request-id': requestId, ...headers } = answer.headers;
  return {
    status: answer.status,
    headers,
    requestId: typeof requestId === 'string' && /^[0-9a-f-]{36}$/.test(requestId) ? 'generated' : requestId,
    // A mutation's own code, and the server's port in messages that name the address, differ by design.
    body: (server === '' ? answer.body : answer.body.replaceAll(server, '$CODE')).replaceAll(`:${port}/`, ':PORT/'),
  };
}

let fast: TestServer;
let viaExpress: TestServer;
const fastLines: string[] = [];
const expressLines: string[] = [];

beforeAll(async () => {
  fast = await startTestServer({ logLines: fastLines });
  viaExpress = await startTestServer({
    graphqlFastPath: false,
    logLines: expressLines,
    database: { url: fast.databaseUrl, drop: async () => {} },
  });
}, 60_000);
afterAll(async () => {
  await viaExpress?.stop();
  await fast?.stop();
});

async function both(request: Sent): Promise<[unknown, unknown]> {
  const withCode = (code: string): Sent =>
    typeof request.body === 'string' ? { ...request, body: request.body.replaceAll('$CODE', code) } : request;
  const fastAnswer = await send(fast.server.port, withCode('pathfast'));
  const expressAnswer = await send(viaExpress.server.port, withCode('pathexpr'));
  return [
    comparable(fastAnswer, 'pathfast', fast.server.port),
    comparable(expressAnswer, 'pathexpr', viaExpress.server.port),
  ];
}

it.each(CASES)('answers %s as the express path does', async (_name, request) => {
  const [fastAnswer, expressAnswer] = await both(request);
  expect(fastAnswer).toEqual(expressAnswer);
});

it('writes the same request log lines on both paths', async () => {
  const normalise = (lines: string[]) =>
    lines
      .filter((line) => line.includes('"graphql request"'))
      .map((line) => {
        const { time: _time, durationMs: _duration, requestId, ...rest } = JSON.parse(line);
        return { ...rest, requestId: /^[0-9a-f-]{36}$/.test(requestId ?? '') ? 'generated' : requestId };
      });
  // Most cases reach Apollo and log a line; body and hygiene refusals never do.
  expect(normalise(fastLines).length).toBeGreaterThan(15);
  expect(normalise(fastLines)).toEqual(normalise(expressLines));
});

it('answers a query with the exact headers and body clients rely on', async () => {
  const answer = await send(fast.server.port, post(json({ query: '{ __typename }' }), { 'x-request-id': 'r-1' }));
  expect(answer).toMatchObject({
    status: 200,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(answer.body)),
      'x-request-id': 'r-1',
    },
  });
  expect(JSON.parse(answer.body)).toEqual({ data: { __typename: 'Query' } });
  expect(answer.headers['x-powered-by']).toBeUndefined();
  expect(answer.headers.etag).toBeUndefined();
});

it('refuses an oversized body with 413 and a coded error, as the body limit says', async () => {
  const answer = await send(fast.server.port, post(OVERSIZED));
  expect(answer.status).toBe(413);
  expect(JSON.parse(answer.body)).toEqual({
    errors: [{ message: 'request entity too large', extensions: { code: 'BAD_USER_INPUT', retryable: false } }],
  });
});

it('masks an internal error the same way on both paths, and logs it on both', async () => {
  // The ledgers table gone for a moment: an unexpected database error behind an ordinary query.
  await fast.db.pool.query('ALTER TABLE ledgers RENAME TO ledgers_hidden_by_test');
  try {
    const [fastAnswer, expressAnswer] = await both(post(json({ query: '{ ledgers { edges { cursor } } }' })));
    expect(fastAnswer).toEqual(expressAnswer);
    expect(JSON.stringify(fastAnswer)).toContain('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(fastAnswer)).not.toContain('ledgers_hidden_by_test');
  } finally {
    await fast.db.pool.query('ALTER TABLE ledgers_hidden_by_test RENAME TO ledgers');
  }
  const unexpected = (lines: string[]) => lines.filter((line) => line.includes('"unexpected error"')).length;
  expect(unexpected(fastLines)).toBe(unexpected(expressLines));
  expect(unexpected(fastLines)).toBeGreaterThan(0);
});

describe('rate limits', () => {
  let limitedFast: TestServer;
  let limitedExpress: TestServer;
  beforeAll(async () => {
    limitedFast = await startTestServer({ rateLimitPerSecond: 1, rateLimitBurst: 2 });
    limitedExpress = await startTestServer({
      rateLimitPerSecond: 1,
      rateLimitBurst: 2,
      graphqlFastPath: false,
      database: { url: limitedFast.databaseUrl, drop: async () => {} },
    });
  }, 60_000);
  afterAll(async () => {
    await limitedExpress?.stop();
    await limitedFast?.stop();
  });

  it('answers 429 with Retry-After on both paths once the burst is spent', async () => {
    const request = post(json({ query: '{ __typename }' }));
    const answers: Array<[unknown, unknown]> = [];
    for (let sent = 0; sent < 3; sent++) {
      answers.push([
        comparable(await send(limitedFast.server.port, request), '', limitedFast.server.port),
        comparable(await send(limitedExpress.server.port, request), '', limitedExpress.server.port),
      ]);
    }
    for (const [fastAnswer, expressAnswer] of answers) expect(fastAnswer).toEqual(expressAnswer);
    expect(answers[2]![0]).toMatchObject({ status: 429, headers: { 'retry-after': expect.any(String) } });
  });
});
