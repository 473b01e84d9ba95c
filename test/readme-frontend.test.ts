import { readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { createAccount, createProgram, issue } from './support/builders';
import { ok, startTestServer, type TestServer } from './support/server';
import { eventually, wsUrl } from './support/ws';

/**
 * The README's frontend example, run as printed: the customer-token mutation a backend sends, and the
 * browser code that shows one customer's live balance, here with `ws` standing in for the browser's
 * WebSocket. The first token lives about two seconds, so the example's reconnect-on-expiry runs too.
 */
const readme = readFileSync(path.resolve(__dirname, '../README.md'), 'utf8');

function block(marker: string, language: string): string {
  const match = new RegExp(`<!-- readme-frontend: ${marker} -->\\s*\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(
    readme,
  );
  if (!match) throw new Error(`README has no ${language} block after <!-- readme-frontend: ${marker} -->`);
  return match[1]!;
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

type WatchActivity = (options: {
  url: string;
  getToken: () => Promise<string>;
  accountId: string;
  storage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  onTransaction: (transaction: { id: string; cursor: string }) => void;
  onError?: (error: unknown) => void;
}) => () => void;

/** An ES module of the README as a function: its one import becomes a require, its export a return value. */
function loadExample<T>(name: string): T {
  const source = block(name, 'js');
  const commonJs = source
    .replace("import { createClient } from 'graphql-ws';", "const { createClient } = require('graphql-ws');")
    .replace(`export function ${name}`, `function ${name}`);
  expect(commonJs).not.toMatch(/^\s*(import|export)\b/m);
  return new Function('require', `${commonJs}\nreturn ${name};`)(require) as T;
}

function loadWatchBalance(): WatchBalance {
  return loadExample<WatchBalance>('watchBalance');
}

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

it("shows a customer's live balance with a customer token, across the token's expiry", async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const mint = block('mint', 'graphql');
  const mints: number[] = [];
  let reminted: () => void;
  const secondToken = new Promise<void>((resolve) => (reminted = resolve));
  // The app's backend: the README's mutation, with a two-second token first and the README's 900 s after.
  const getToken = async () => {
    const ttlSeconds = mints.length === 0 ? 2 : 900;
    mints.push(ttlSeconds);
    if (mints.length === 2) reminted();
    return ok(await t.gql(mint, { accountId: account.id, ttlSeconds })).createCustomerToken.token as string;
  };

  const shown: Balance[] = [];
  const waiters: Array<() => void> = [];
  const shownCount = (count: number) =>
    new Promise<void>((resolve) =>
      shown.length >= count ? resolve() : waiters.push(() => shown.length >= count && resolve()),
    );
  const errors: unknown[] = [];
  const stop = loadWatchBalance()({
    url: wsUrl(t),
    getToken,
    accountId: account.id,
    asset: 'PTS',
    onBalance: (balance) => {
      shown.push(balance);
      for (const wake of waiters) wake();
    },
    onError: (error) => errors.push(error),
  });

  await shownCount(1);
  await issue(t, account.id, '25');
  await shownCount(2);
  // The first token expires while connected; the example reconnects with a new one and catches up.
  await secondToken;
  await issue(t, account.id, '5');
  await shownCount(3);
  stop();

  expect(shown).toEqual([
    { available: '0', version: 0 },
    { available: '25', version: 1 },
    { available: '30', version: 2 },
  ]);
  expect(mints).toEqual([2, 900]);
  expect(errors).toEqual([]);
});

it("keeps a customer's activity list whole across an expired token and a page reload", async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const mint = block('mint', 'graphql');
  const mints: number[] = [];
  let reconnecting: () => void;
  const secondToken = new Promise<void>((resolve) => (reconnecting = resolve));
  // A two-second token first, so the example's reconnect after 4401 runs; the README's 900 s after.
  const getToken = async () => {
    const ttlSeconds = mints.length === 0 ? 2 : 900;
    mints.push(ttlSeconds);
    if (mints.length === 2) reconnecting();
    return ok(await t.gql(mint, { accountId: account.id, ttlSeconds })).createCustomerToken.token as string;
  };
  // localStorage, as far as the example uses it: it outlives each watchActivity, as it outlives a page.
  const stored = new Map<string, string>();
  const storage = {
    getItem: (key: string) => stored.get(key) ?? null,
    setItem: (key: string, value: string) => void stored.set(key, value),
  };

  const shown: string[] = [];
  const waiters: Array<() => void> = [];
  const shownCount = (count: number) =>
    new Promise<void>((resolve) =>
      shown.length >= count ? resolve() : waiters.push(() => shown.length >= count && resolve()),
    );
  const errors: unknown[] = [];
  const watch = () =>
    loadExample<WatchActivity>('watchActivity')({
      url: wsUrl(t),
      getToken,
      accountId: account.id,
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
  const posted = [await issue(t, account.id, '1'), await issue(t, account.id, '2')];
  await shownCount(2);
  // The token expires while connected; this posting commits while the example reconnects with a new one.
  await secondToken;
  posted.push(await issue(t, account.id, '3'));
  await shownCount(3);
  stop();

  // The page is closed: a posting meanwhile; the page opens again with what it stored.
  posted.push(await issue(t, account.id, '4'));
  ready = listening();
  stop = watch();
  await ready();
  posted.push(await issue(t, account.id, '5'));
  await shownCount(5);
  stop();

  expect(shown).toEqual(posted);
  expect(mints).toEqual([2, 900, 900]);
  expect(errors).toEqual([]);
});
