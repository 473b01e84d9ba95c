import { getIntrospectionQuery, parse, validate } from 'graphql';
import { renderGraphiQLPage } from '../src/graphiql/graphiql.routes';
import { buildLedgerSchema } from '../src/schema';
import { createAccount, createProgram, issue } from './support/builders';
import { ADMIN_KEY, ok, startTestServer, type TestServer } from './support/server';

/** The browser IDE the API serves itself: offline assets, safe headers, and off when GRAPHIQL=false. */
let t: TestServer;
let base: string;
beforeAll(async () => {
  t = await startTestServer();
  base = t.url.replace(/\/graphql$/, '');
});
afterAll(async () => {
  await t.stop();
});

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

function config(html: string): { endpoint: string; headers: string; prefilled: boolean; defaultQuery: string } {
  return JSON.parse(/<script id="graphiql-config" type="application\/json">(.*?)<\/script>/s.exec(html)![1]!);
}

it('serves GraphiQL at /graphiql, and at /graphql to a browser, from its own assets only', async () => {
  for (const url of [`${base}/graphiql`, t.url]) {
    const response = await fetch(url, { headers: { accept: BROWSER_ACCEPT } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await response.text();
    const references = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    expect(references.sort()).toEqual([
      '/graphiql/assets/graphiql.css',
      '/graphiql/assets/graphiql.js',
      '/graphiql/favicon.svg',
    ]);
    expect(config(html)).toEqual({
      endpoint: '/graphql',
      headers: expect.stringContaining('Bearer <your API key or customer token>'),
      prefilled: false,
      defaultQuery: expect.stringContaining('Replace the placeholder in the Headers tab'),
    });
  }
});

it('bundles the IDE with the graphql-ws client, so subscriptions run in the browser', async () => {
  const script = await fetch(`${base}/graphiql/assets/graphiql.js`);
  expect(script.status).toBe(200);
  expect(script.headers.get('content-type')).toMatch(/javascript/);
  const source = await script.text();
  expect(source).toContain('graphql-transport-ws');
  expect(source).not.toMatch(/https?:\/\/(unpkg|cdn|esm\.sh|fonts\.googleapis)/);
  expect((await fetch(`${base}/graphiql/assets/graphiql.css`)).status).toBe(200);
  expect((await fetch(`${base}/graphiql/assets/missing.js`)).status).toBe(404);
});

describe('the default document', () => {
  async function servedDocument(): Promise<string> {
    const html = await (await fetch(`${base}/graphiql`, { headers: { accept: BROWSER_ACCEPT } })).text();
    return config(html).defaultQuery;
  }

  it('is one operation that the bundled IDE opens with', async () => {
    const document = parse(await servedDocument());
    expect(document.definitions.map((definition) => definition.kind)).toEqual(['OperationDefinition']);
    // The bundle takes the document from the page's settings rather than carrying a copy of its own.
    const bundle = await (await fetch(`${base}/graphiql/assets/graphiql.js`)).text();
    expect(bundle).toContain('.defaultQuery');
    expect(bundle).not.toContain('me { credential role');
  });

  it('validates against the schema, and so do the next steps its comments suggest', async () => {
    const schema = await buildLedgerSchema();
    const text = await servedDocument();
    expect(validate(schema, parse(text))).toEqual([]);
    // Each suggested step is a commented-out operation: uncommented, it must be valid too.
    const steps = text
      .split('\n# Next steps')[1]!
      .split(/\n#\n/)
      .map((chunk) =>
        chunk
          .split('\n')
          .filter((line) => line.startsWith('#   '))
          .map((line) => line.slice(4))
          .join('\n'),
      )
      .filter((step) => step !== '');
    expect(steps).toHaveLength(3);
    for (const step of steps) expect(validate(schema, parse(step))).toEqual([]);
  });

  it('runs as is, with no errors, for an admin key, a reader key and a customer token', async () => {
    const text = await servedDocument();
    const { ledgerId } = await createProgram(t);
    const account = await createAccount(t, ledgerId);
    await issue(t, account.id, '40');
    const reader = ok(
      await t.gql(`mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }`, {
        input: { name: 'graphiql reader', role: 'READER', ledgerId },
      }),
    ).createApiKey.secret as string;
    const token = ok(
      await t.gql(`mutation($accountId: ID!) { createCustomerToken(accountId: $accountId) { token } }`, {
        accountId: account.id,
      }),
    ).createCustomerToken.token as string;

    const admin = ok(await t.gql(text));
    expect(admin.viewer).toMatchObject({ credential: 'BOOTSTRAP_ADMIN', role: 'ADMIN', ledger: null, account: null });
    expect(ok(await t.gql(text, undefined, reader)).viewer).toMatchObject({
      credential: 'API_KEY',
      role: 'READER',
      ledger: { code: expect.any(String) },
    });
    expect(ok(await t.gql(text, undefined, token)).viewer).toMatchObject({
      credential: 'CUSTOMER_TOKEN',
      role: 'CUSTOMER',
      account: { code: account.code, balances: [{ asset: { code: 'PTS' }, available: '40', version: 1 }] },
    });
  });
});

it('has a tab icon, also at /favicon.ico, so a browser asking for one gets no 404', async () => {
  for (const url of [`${base}/graphiql/favicon.svg`, `${base}/favicon.ico`]) {
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(await response.text()).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  }
});

it('still answers GraphQL clients at GET /graphql', async () => {
  // Apollo's CSRF guard asks a GET query for a preflight-forcing header.
  const response = await fetch(`${t.url}?query=${encodeURIComponent('{ viewer { role } }')}`, {
    headers: { accept: 'application/json', authorization: `Bearer ${ADMIN_KEY}`, 'apollo-require-preflight': 'true' },
  });
  expect(await response.json()).toEqual({ data: { viewer: { role: 'ADMIN' } } });
  // A browser-like Accept with a query is a GraphQL request, not a page view.
  const withQuery = await fetch(`${t.url}?query=${encodeURIComponent('{ viewer { role } }')}`, {
    headers: { accept: BROWSER_ACCEPT, authorization: `Bearer ${ADMIN_KEY}`, 'apollo-require-preflight': 'true' },
  });
  expect(withQuery.headers.get('content-type')).toMatch(/json/);
});

it("answers the IDE's introspection query, whose type references nest past the depth limit", async () => {
  const query = getIntrospectionQuery({
    descriptions: true,
    inputValueDeprecation: true,
    schemaDescription: true,
    directiveIsRepeatable: true,
    specifiedByUrl: true,
  });
  const response = await t.gql(query);
  expect(response.errors).toBeUndefined();
  expect(response.data!.__schema.subscriptionType).toMatchObject({ name: 'Subscription' });
  // The limit still holds for data: twelve levels of ledger.parent is one too many.
  const deep = `{ ledgers { edges { node ${'{ parent '.repeat(10)}{ id }${' }'.repeat(10)} } } }`;
  const refused = await t.gql(deep);
  expect([refused.errors![0]!.extensions.code, refused.errors![0]!.message]).toEqual([
    'QUERY_TOO_COMPLEX',
    expect.stringContaining('depth'),
  ]);
});

it('never lets configured headers break out of the page', () => {
  const html = renderGraphiQLPage({ Authorization: '</script><script>alert(1)</script>' });
  expect(html).not.toContain('<script>alert(1)');
  expect(config(html).headers).toContain('</script><script>alert(1)</script>');
});

describe('pre-filled and disabled', () => {
  it('starts with the headers it is given (the embedded development server gives its admin key)', async () => {
    const prefilled = await startTestServer({ graphiqlHeaders: { Authorization: `Bearer ${ADMIN_KEY}` } });
    try {
      const html = await (await fetch(prefilled.url.replace('/graphql', '/graphiql'))).text();
      expect(config(html)).toEqual({
        endpoint: '/graphql',
        headers: JSON.stringify({ Authorization: `Bearer ${ADMIN_KEY}` }, null, 2),
        prefilled: true,
        defaultQuery: expect.stringContaining('already holds this server'),
      });
      expect(config(html).defaultQuery).not.toContain('Replace the placeholder');
    } finally {
      await prefilled.stop();
    }
  });

  it('is not served when GRAPHIQL=false', async () => {
    const off = await startTestServer({ graphiql: false });
    try {
      expect((await fetch(off.url.replace('/graphql', '/graphiql'))).status).toBe(404);
      const page = await fetch(off.url, { headers: { accept: BROWSER_ACCEPT } });
      expect(page.headers.get('content-type')).not.toMatch(/^text\/html/);
    } finally {
      await off.stop();
    }
  });
});
