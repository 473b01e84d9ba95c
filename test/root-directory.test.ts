import { randomUUID } from 'node:crypto';
import { RootDirectory } from '../src/platform/root-directory';
import { createAccount, createProgram } from './support/builders';
import { startTestServer, type TestServer } from './support/server';

/** The id → root directory every lookup by id goes through (docs/citus-routing.md). */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.stop();
});

it('finds roots with one statement for the misses of a tick, then remembers them', async () => {
  const { ledgerId } = await createProgram(t);
  const [a, b] = [await createAccount(t, ledgerId), await createAccount(t, ledgerId)];
  const directory = new RootDirectory(t.db.pool);
  const before = t.db.statementCount();
  const [first, second] = await Promise.all([
    directory.rootsOf('accounts', [a.id]),
    directory.rootsOf('accounts', [b.id, randomUUID()]),
  ]);
  expect(t.db.statementCount() - before).toBe(1);
  expect([...first]).toEqual([[a.id, ledgerId]]);
  expect([...second]).toEqual([[b.id, ledgerId]]);

  const again = t.db.statementCount();
  expect(await directory.rootOf('accounts', a.id.toUpperCase())).toBe(ledgerId);
  expect(await directory.byRoot('accounts', [b.id, a.id])).toEqual([[ledgerId, [b.id, a.id]]]);
  expect(t.db.statementCount() - again).toBe(0);
});

it('answers absent, without a statement, for what is not a UUID, and per table', async () => {
  const { ledgerId } = await createProgram(t);
  const account = await createAccount(t, ledgerId);
  const directory = new RootDirectory(t.db.pool);
  const before = t.db.statementCount();
  expect(await directory.rootOf('accounts', "x' OR 1=1 --")).toBeNull();
  expect(t.db.statementCount() - before).toBe(0);
  // An account's id is no ledger's: the table is part of the question.
  expect(await directory.rootOf('ledgers', account.id)).toBeNull();
  expect(await directory.rootOf('ledgers', ledgerId)).toBe(ledgerId);
});

it('forgets the oldest id first past its bound, and finds it again with one statement', async () => {
  const { ledgerId } = await createProgram(t);
  const accounts = [
    await createAccount(t, ledgerId),
    await createAccount(t, ledgerId),
    await createAccount(t, ledgerId),
  ];
  const directory = new RootDirectory(t.db.pool, 2);
  for (const account of accounts) directory.remember('accounts', account.id, ledgerId);
  const before = t.db.statementCount();
  expect(await directory.rootOf('accounts', accounts[2]!.id)).toBe(ledgerId);
  expect(await directory.rootOf('accounts', accounts[1]!.id)).toBe(ledgerId);
  expect(t.db.statementCount() - before).toBe(0);
  expect(await directory.rootOf('accounts', accounts[0]!.id)).toBe(ledgerId);
  expect(t.db.statementCount() - before).toBe(1);
});
