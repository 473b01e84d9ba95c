import { Client, fetchExchange, gql } from '@urql/core';
import { createAccount, createProgram, issue } from './support/builders';
import { ADMIN_KEY, ok, startTestServer, type TestServer } from './support/server';

/**
 * urql as a web app installs it: its default fetch exchange sends queries as GET (a URL within 2,048
 * characters), with the customer's Authorization header and nothing else. Apollo's CSRF guard must let
 * those through, because Authorization already forces a CORS preflight, while still refusing a simple
 * cross-site GET that carries no such header.
 */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

const MY_POINTS = gql`
  query MyPoints($asset: String!) {
    me {
      code
      balance(asset: $asset) {
        available
        version
      }
    }
  }
`;

/** urql with its defaults and the credential in fetchOptions; `sent` records each request, unchanged. */
function urqlClient(secret: string) {
  const sent: Array<{ method: string; headers: Record<string, string> }> = [];
  const client = new Client({
    url: t.url,
    exchanges: [fetchExchange],
    fetchOptions: () => ({ headers: { authorization: `Bearer ${secret}` } }),
    fetch: (input, init) => {
      sent.push({ method: init?.method ?? 'GET', headers: { ...(init?.headers as Record<string, string>) } });
      return fetch(input, init);
    },
  });
  return { client, sent };
}

it("answers a customer's query sent as a GET with urql's defaults", async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  await issue(t, account.id, '70');
  const token = ok(
    await t.gql(`mutation($accountId: ID!) { createCustomerToken(accountId: $accountId) { token } }`, {
      accountId: account.id,
    }),
  ).createCustomerToken.token as string;

  const { client, sent } = urqlClient(token);

  const result = await client.query(MY_POINTS, { asset: 'PTS' }).toPromise();
  expect(result.error).toBeUndefined();
  expect(result.data).toEqual({ me: { code: account.code, balance: { available: '70', version: 1 } } });
  expect(sent).toHaveLength(1);
  expect(sent[0]!.method).toBe('GET');
  expect(Object.keys(sent[0]!.headers).sort()).toEqual(['accept', 'authorization']);
});

it('answers an API key query sent as a GET by urql, and its mutation sent as a POST', async () => {
  const { client, sent } = urqlClient(ADMIN_KEY);
  const created = await client
    .mutation(
      gql`
        mutation ($input: CreateLedgerInput!) {
          createLedger(input: $input) {
            id
            code
          }
        }
      `,
      { input: { code: 'urql-ledger', name: 'Made by urql' } },
    )
    .toPromise();
  expect(created.error).toBeUndefined();
  const read = await client
    .query(
      gql`
        query ($code: String!) {
          ledger(code: $code) {
            name
          }
        }
      `,
      { code: 'urql-ledger' },
    )
    .toPromise();
  expect(read.error).toBeUndefined();
  expect(read.data).toEqual({ ledger: { name: 'Made by urql' } });
  expect(sent.map((request) => request.method)).toEqual(['POST', 'GET']);
});

it('still refuses a simple GET that carries no preflight-forcing header (CSRF)', async () => {
  const response = await fetch(`${t.url}?query=${encodeURIComponent('{ viewer { role } }')}`, {
    headers: { accept: 'application/json' },
  });
  expect(response.status).toBe(400);
  expect(await response.text()).toMatch(/Cross-Site Request Forgery/);
  // An empty Authorization header forces a preflight no less, yet proves nothing: Apollo asks for a value.
  const empty = await fetch(`${t.url}?query=${encodeURIComponent('{ viewer { role } }')}`, {
    headers: { accept: 'application/json', authorization: '' },
  });
  expect(empty.status).toBe(400);
});
