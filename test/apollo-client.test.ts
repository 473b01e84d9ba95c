import { ApolloClient, HttpLink, InMemoryCache, gql, split, type TypedDocumentNode } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createAccount, createProgram, issue } from './support/builders';
import { ok, startTestServer, type TestServer } from './support/server';
import { wsUrl } from './support/ws';

/**
 * Apollo Client 4 as a web app sets it up: an InMemoryCache with no type policies, queries over HTTP and
 * subscriptions over graphql-ws (GraphQLWsLink). Balances carry a stable id, so a subscription event
 * lands on the object every cached query points at.
 */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

type LiveBalance = { id: string; available: string; version: number };

const ME: TypedDocumentNode<{ me: { id: string; code: string; balance: LiveBalance } }> = gql`
  query Me {
    me {
      id
      code
      balance(asset: "PTS") {
        id
        available
        version
      }
    }
  }
`;

const LIVE: TypedDocumentNode<{ balanceUpdated: LiveBalance }, { accountId: string }> = gql`
  subscription Live($accountId: ID!) {
    balanceUpdated(accountId: $accountId, asset: "PTS", includeCurrent: true) {
      id
      available
      version
    }
  }
`;

function apolloClient(token: string) {
  const ws = createClient({
    url: wsUrl(t),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
  });
  const link = split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(ws),
    new HttpLink({ uri: t.url, headers: { authorization: `Bearer ${token}` } }),
  );
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), ws };
}

async function customer(): Promise<{ accountId: string; token: string }> {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const token = ok(
    await t.gql(`mutation($accountId: ID!) { createCustomerToken(accountId: $accountId) { token } }`, {
      accountId: account.id,
    }),
  ).createCustomerToken.token as string;
  return { accountId: account.id, token };
}

it('updates a cached query with the balance a subscription delivers, with no cache configuration', async () => {
  const { accountId, token } = await customer();
  await issue(t, accountId, '500');
  const { client, ws } = apolloClient(token);
  try {
    const first = await client.query({ query: ME });
    expect(first.data?.me.balance).toMatchObject({ available: '500', version: 1 });

    const seen: Array<{ available: string; version: number }> = [];
    let wake: () => void = () => undefined;
    const subscription = client.subscribe({ query: LIVE, variables: { accountId } }).subscribe({
      next: ({ data }) => {
        seen.push(data!.balanceUpdated);
        wake();
      },
    });
    const seenCount = (count: number) =>
      new Promise<void>((resolve) => {
        wake = () => seen.length >= count && resolve();
        wake();
      });
    // includeCurrent: the first event is sent once the subscription is in place, so nothing is missed.
    await seenCount(1);
    await issue(t, accountId, '25');
    await seenCount(2);
    subscription.unsubscribe();

    expect(seen.map((balance) => [balance.available, balance.version])).toEqual([
      ['500', 1],
      ['525', 2],
    ]);
    // The earlier query, read from the cache alone: it answers the balance the event delivered.
    expect(client.readQuery({ query: ME })?.me.balance).toMatchObject({ available: '525', version: 2 });
  } finally {
    client.stop();
    await ws.dispose();
  }
});

it('keeps a past balance (asOf) apart from the live one in the cache', async () => {
  const { accountId, token } = await customer();
  await issue(t, accountId, '100');
  const before = new Date().toISOString();
  await issue(t, accountId, '50');
  const { client, ws } = apolloClient(token);
  try {
    await client.query({ query: ME });
    const PAST: TypedDocumentNode<
      { me: { id: string; balance: { id: string; available: string } } },
      { asOf: string }
    > = gql`
      query Past($asOf: DateTime!) {
        me {
          id
          balance(asset: "PTS", asOf: $asOf) {
            id
            available
          }
        }
      }
    `;
    const past = await client.query({ query: PAST, variables: { asOf: before } });
    expect(past.data?.me.balance.available).toBe('100');
    expect(past.data?.me.balance.id).not.toBe(client.readQuery({ query: ME })?.me.balance.id);
    expect(client.readQuery({ query: ME })?.me.balance).toMatchObject({ available: '150', version: 2 });
  } finally {
    client.stop();
    await ws.dispose();
  }
});
