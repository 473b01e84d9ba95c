import { readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { createAccount, createProgram, issue } from './support/builders';
import { ok, startTestServer, type TestServer } from './support/server';
import { eventually, wsUrl } from './support/ws';

/**
 * The README's frontend examples, run as printed: the customer-token mutation a backend sends, the
 * browser code that shows one customer's live balance with graphql-ws, and the Apollo Client and urql
 * set-ups, here with `ws` standing in for the browser's WebSocket. Each first gets a token that lives
 * about two seconds, so each rides through the server closing on expiry: the client reconnects by itself
 * and asks for a fresh token, with no restart loop in the app.
 */
const readme = readFileSync(path.resolve(__dirname, '../README.md'), 'utf8');

function block(marker: string, language: string): string {
  const match = new RegExp(`<!-- readme-frontend: ${marker} -->\\s*\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(
    readme,
  );
  if (!match) throw new Error(`README has no ${language} block after <!-- readme-frontend: ${marker} -->`);
  return match[1]!;
}

/** The README's ES module as a function: its imports become requires, its one export the return value. */
function loadExport<T>(marker: string): T {
  const source = block(marker, 'js');
  const exported = /^export function (\w+)/m.exec(source)?.[1];
  if (exported === undefined) throw new Error(`README block ${marker} exports no function`);
  const commonJs = source
    .replace(/^import \{([^}]+)\} from '([^']+)';$/gm, "const {$1} = require('$2');")
    .replace(/^export function /m, 'function ');
  expect(commonJs).not.toMatch(/^\s*(import|export)\b/m);
  return new Function('require', `${commonJs}\nreturn ${exported};`)(require) as T;
}

type Balance = { available: string; version: number };
type WatchBalance = (options: {
  url: string;
  getToken: () => Promise<string>;
  accountId: string;
  asset: string;
  onBalance: (balance: Balance) => void;
  onError?: (error: unknown) => void;
}) => () => void;
type ClientFactory<C> = (options: { httpUrl: string; wsUrl: string; getToken: () => Promise<string> }) => C;
type WatchActivity = (options: {
  url: string;
  getToken: () => Promise<string>;
  accountId: string;
  storage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  onTransaction: (transaction: { id: string; cursor: string }) => void;
  onError?: (error: unknown) => void;
}) => () => void;

let t: TestServer;
const hadWebSocket = 'WebSocket' in globalThis;
beforeAll(async () => {
  t = await startTestServer();
  // What a browser provides; Node 20 has no global WebSocket.
  if (!hadWebSocket) Object.assign(globalThis, { WebSocket });
});
afterAll(async () => {
  if (!hadWebSocket) delete (globalThis as { WebSocket?: unknown }).WebSocket;
  await t.stop();
});

/**
 * The app's backend, with the README's mutation: a two-second token first and the README's 900 s after.
 * `cached` keeps a token until it expires, as an app would; otherwise every call mints.
 */
function tokenSource(accountId: string, cached: boolean) {
  const mints: number[] = [];
  let reminted!: () => void;
  const secondToken = new Promise<void>((resolve) => (reminted = resolve));
  let current: { token: string; expiresAt: number } | undefined;
  const getToken = async () => {
    if (cached && current !== undefined && current.expiresAt > Date.now()) return current.token;
    const ttlSeconds = mints.length === 0 ? 2 : 900;
    mints.push(ttlSeconds);
    if (mints.length === 2) reminted();
    const minted = ok(await t.gql(block('mint', 'graphql'), { accountId, ttlSeconds })).createCustomerToken;
    current = { token: minted.token, expiresAt: Date.parse(minted.expiresAt) };
    return current.token;
  };
  return { getToken, mints, secondToken };
}

/** Balances as a client shows them, and a wait for the one of a given version. */
function shownBalances() {
  const shown: Balance[] = [];
  const waiters: Array<() => void> = [];
  return {
    shown,
    show(balance: Balance) {
      shown.push({ available: balance.available, version: balance.version });
      for (const wake of waiters) wake();
    },
    version: (version: number) =>
      new Promise<void>((resolve) => {
        const check = () => shown.some((balance) => balance.version === version) && resolve();
        waiters.push(check);
        check();
      }),
  };
}

async function customerAccount(): Promise<string> {
  const { ledgerId } = await createProgram(t);
  return (await createAccount(t, ledgerId)).id;
}

const LIVE = `subscription Live($accountId: ID!) {
  balanceUpdated(accountId: $accountId, asset: "PTS", includeCurrent: true) { id available version }
}`;
const ME = `query Me { me { id balance(asset: "PTS") { id available version } } }`;

it("shows a customer's live balance with a customer token, across the token's expiry", async () => {
  const accountId = await customerAccount();
  const { getToken, mints, secondToken } = tokenSource(accountId, false);
  const balances = shownBalances();
  const errors: unknown[] = [];
  const stop = loadExport<WatchBalance>('watchBalance')({
    url: wsUrl(t),
    getToken,
    accountId,
    asset: 'PTS',
    onBalance: (balance) => balances.show(balance),
    onError: (error) => errors.push(error),
  });

  await balances.version(0);
  await issue(t, accountId, '25');
  await balances.version(1);
  // The first token expires while connected; graphql-ws reconnects with a new one and catches up.
  await secondToken;
  await issue(t, accountId, '5');
  await balances.version(2);
  stop();

  expect(balances.shown).toEqual([
    { available: '0', version: 0 },
    { available: '25', version: 1 },
    { available: '30', version: 2 },
  ]);
  expect(mints).toEqual([2, 900]);
  expect(errors).toEqual([]);
});

it("runs the README's Apollo Client set-up across the token's expiry, its cache following the events", async () => {
  const { gql } = await import('@apollo/client');
  type Apollo = import('@apollo/client').ApolloClient;
  const accountId = await customerAccount();
  await issue(t, accountId, '500');
  const { getToken, mints, secondToken } = tokenSource(accountId, true);
  const client = loadExport<ClientFactory<Apollo>>('apollo')({ httpUrl: t.url, wsUrl: wsUrl(t), getToken });
  const balances = shownBalances();
  const errors: unknown[] = [];
  try {
    const me = gql(ME);
    expect((await client.query<{ me: { balance: Balance } }>({ query: me })).data?.me.balance).toMatchObject({
      available: '500',
      version: 1,
    });
    const subscription = client
      .subscribe<{ balanceUpdated: Balance }>({ query: gql(LIVE), variables: { accountId } })
      .subscribe({
        next: ({ data, error }) => (error ? errors.push(error) : balances.show(data!.balanceUpdated)),
        error: (error) => errors.push(error),
      });
    await balances.version(1);
    await issue(t, accountId, '25');
    await balances.version(2);
    await secondToken;
    await issue(t, accountId, '5');
    await balances.version(3);
    subscription.unsubscribe();

    expect(balances.shown.at(-1)).toEqual({ available: '530', version: 3 });
    // The query made before the reconnection, answered from the cache: the events updated it.
    expect(client.readQuery<{ me: { balance: Balance } }>({ query: me })?.me.balance).toMatchObject({
      available: '530',
      version: 3,
    });
    // And HTTP uses the fresh token too.
    const fresh = await client.query<{ me: { balance: Balance } }>({ query: me, fetchPolicy: 'network-only' });
    expect(fresh.data?.me.balance.version).toBe(3);
    expect(mints).toEqual([2, 900]);
    expect(errors).toEqual([]);
  } finally {
    client.stop();
  }
});

it("runs the README's urql set-up across the token's expiry", async () => {
  type Urql = import('@urql/core').Client;
  const accountId = await customerAccount();
  await issue(t, accountId, '70');
  const { getToken, mints, secondToken } = tokenSource(accountId, true);
  const client = loadExport<ClientFactory<Urql>>('urql')({ httpUrl: t.url, wsUrl: wsUrl(t), getToken });
  const balances = shownBalances();
  const errors: unknown[] = [];

  const first = await client.query<{ me: { balance: Balance } }>(ME, {}).toPromise();
  expect(first.error).toBeUndefined();
  expect(first.data?.me.balance).toMatchObject({ available: '70', version: 1 });
  const subscription = client
    .subscription<{ balanceUpdated: Balance }>(LIVE, { accountId })
    .subscribe((result) => (result.error ? errors.push(result.error) : balances.show(result.data!.balanceUpdated)));
  await balances.version(1);
  await issue(t, accountId, '25');
  await balances.version(2);
  await secondToken;
  await issue(t, accountId, '5');
  await balances.version(3);
  subscription.unsubscribe();

  expect(balances.shown.at(-1)).toEqual({ available: '100', version: 3 });
  const fresh = await client.query<{ me: { balance: Balance } }>(ME, {}).toPromise();
  expect(fresh.data?.me.balance).toMatchObject({ available: '100', version: 3 });
  expect(mints).toEqual([2, 900]);
  expect(errors).toEqual([]);
});

it("keeps a customer's activity list whole across an expired token and a page reload", async () => {
  const accountId = await customerAccount();
  // Minted on every connection, so the first (two-second) token expires while connected and the example
  // reconnects by itself, with the cursor it stored.
  const { getToken, mints, secondToken } = tokenSource(accountId, false);
  // localStorage, as far as the example uses it: it outlives each watchActivity, as it outlives a page.
  const stored = new Map<string, string>();
  const storage = {
    getItem: (key: string) => stored.get(key) ?? null,
    setItem: (key: string, value: string) => void stored.set(key, value),
  };
  const shown: string[] = [];
  const waiters: Array<() => void> = [];
  const shownCount = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => shown.length >= count && resolve();
      waiters.push(check);
      check();
    });
  const errors: unknown[] = [];
  const watch = () =>
    loadExport<WatchActivity>('watchActivity')({
      url: wsUrl(t),
      getToken,
      accountId,
      storage,
      onTransaction: (transaction) => {
        shown.push(transaction.id);
        for (const wake of waiters) wake();
      },
      onError: (error) => errors.push(error),
    });
  const listening = () => {
    const before = t.server.hub.listenerCount();
    return () => eventually(() => t.server.hub.listenerCount() > before);
  };

  // The first subscription starts at "now": nothing can be resumed before its first event.
  let ready = listening();
  let stop = watch();
  await ready();
  const posted = [await issue(t, accountId, '1'), await issue(t, accountId, '2')];
  await shownCount(2);
  // The token expires while connected; this posting commits while the example reconnects with a new one.
  await secondToken;
  posted.push(await issue(t, accountId, '3'));
  await shownCount(3);
  stop();

  // The page is closed: a posting meanwhile; the page opens again with what it stored.
  posted.push(await issue(t, accountId, '4'));
  ready = listening();
  stop = watch();
  await ready();
  posted.push(await issue(t, accountId, '5'));
  await shownCount(5);
  stop();

  expect(shown).toEqual(posted);
  expect(mints).toEqual([2, 900, 900]);
  expect(errors).toEqual([]);
});
