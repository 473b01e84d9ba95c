import { AssetNotFoundError, BadInputError, NotFoundError, UnbalancedTransactionError } from '../platform/errors';
import {
  availableFloor,
  canonicalJson,
  checkEntryShape,
  ENTRIES_PER_TRANSACTION_MAX,
  isWithinFloor,
  planPosting,
  refusalError,
  requestFingerprint,
  reversingEntries,
  type EntryRequest,
  type PostingAccount,
} from './postings.core';

const ROOT = 'root-1';
const account = (id: string, overrides: Partial<PostingAccount> = {}): PostingAccount => ({
  id,
  rootLedgerId: ROOT,
  ledgerId: ROOT,
  code: `code:${id}`,
  normalBalance: 'CREDIT',
  allowOverdraft: false,
  overdraftLimit: null,
  isSystem: false,
  ...overrides,
});
const entry = (accountId: string, direction: 'DEBIT' | 'CREDIT', amount: bigint, assetCode = 'PTS'): EntryRequest => ({
  accountId,
  assetCode,
  direction,
  amount,
});
const assets = new Map([
  ['PTS', { id: 'asset-pts', code: 'PTS' }],
  ['USD', { id: 'asset-usd', code: 'USD' }],
]);

describe('checkEntryShape', () => {
  it('accepts a balanced two-entry transaction', () => {
    expect(() => checkEntryShape([entry('a', 'DEBIT', 5n), entry('b', 'CREDIT', 5n)])).not.toThrow();
  });

  it('refuses a single entry as unbalanced', () => {
    expect(() => checkEntryShape([entry('a', 'DEBIT', 5n)])).toThrow(UnbalancedTransactionError);
  });

  it('refuses debits that differ from credits', () => {
    expect(() => checkEntryShape([entry('a', 'DEBIT', 5n), entry('b', 'CREDIT', 4n)])).toThrow(
      UnbalancedTransactionError,
    );
  });

  it('balances each asset on its own, not the sum across assets', () => {
    const crossed = [entry('a', 'DEBIT', 5n, 'PTS'), entry('b', 'CREDIT', 5n, 'USD')];
    expect(() => checkEntryShape(crossed)).toThrow(UnbalancedTransactionError);
  });

  it.each([0n, -1n])('refuses an entry amount of %s', (amount) => {
    expect(() => checkEntryShape([entry('a', 'DEBIT', amount), entry('b', 'CREDIT', amount)])).toThrow(BadInputError);
  });

  it('refuses entry totals beyond the 64-bit range rather than wrapping', () => {
    const huge = 9223372036854775807n;
    const entries = [
      entry('a', 'DEBIT', huge),
      entry('b', 'DEBIT', 1n),
      entry('c', 'CREDIT', huge),
      entry('d', 'CREDIT', 1n),
    ];
    expect(() => checkEntryShape(entries)).toThrow(/64-bit/);
  });

  it(`refuses more than ${ENTRIES_PER_TRANSACTION_MAX} entries`, () => {
    const entries = Array.from({ length: ENTRIES_PER_TRANSACTION_MAX + 2 }, (_, index) =>
      entry(`a${index}`, index % 2 ? 'DEBIT' : 'CREDIT', 1n),
    );
    expect(() => checkEntryShape(entries)).toThrow(BadInputError);
  });
});

describe('planPosting', () => {
  const accounts = new Map([
    ['b', account('b')],
    ['a', account('a')],
    ['sys', account('sys', { isSystem: true, allowOverdraft: true })],
  ]);

  it('aggregates entries per account and asset and sorts the deltas by account id', () => {
    const plan = planPosting({
      rootLedgerId: ROOT,
      accounts,
      assets,
      entries: [entry('b', 'CREDIT', 3n), entry('a', 'DEBIT', 5n), entry('b', 'CREDIT', 2n)],
    });
    expect(plan.deltas.map((delta) => [delta.accountId, delta.debitsPosted, delta.creditsPosted])).toEqual([
      ['a', 5n, 0n],
      ['b', 0n, 5n],
    ]);
    expect(plan.entries).toHaveLength(3);
  });

  it('marks only unconstrained system accounts as shardable', () => {
    const plan = planPosting({
      rootLedgerId: ROOT,
      accounts,
      assets,
      entries: [entry('sys', 'DEBIT', 1n), entry('a', 'CREDIT', 1n)],
    });
    expect(plan.deltas.find((delta) => delta.accountId === 'sys')!.shardable).toBe(true);
    expect(plan.deltas.find((delta) => delta.accountId === 'a')!.shardable).toBe(false);
  });

  it('refuses an unknown account, an unknown asset and another root with their own errors', () => {
    const base = [entry('a', 'DEBIT', 1n), entry('b', 'CREDIT', 1n)];
    expect(() =>
      planPosting({ rootLedgerId: ROOT, accounts: new Map([['a', account('a')]]), assets, entries: base }),
    ).toThrow(NotFoundError);
    expect(() => planPosting({ rootLedgerId: ROOT, accounts, assets: new Map(), entries: base })).toThrow(
      AssetNotFoundError,
    );
    const foreign = new Map([...accounts, ['b', account('b', { rootLedgerId: 'root-2' })]]);
    expect(() => planPosting({ rootLedgerId: ROOT, accounts: foreign, assets, entries: base })).toThrow(
      /another root ledger/,
    );
  });
});

describe('balance rules', () => {
  it('sets the floor at zero without overdraft, at minus the limit with one, and nowhere without a limit', () => {
    expect(availableFloor({ allowOverdraft: false, overdraftLimit: null })).toBe(0n);
    expect(availableFloor({ allowOverdraft: true, overdraftLimit: 500n })).toBe(-500n);
    expect(availableFloor({ allowOverdraft: true, overdraftLimit: null })).toBeNull();
  });

  it('holds the floor exactly at its edge and refuses one unit beyond', () => {
    const atEdge = { debitsPosted: 100n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n };
    expect(isWithinFloor(atEdge, 'CREDIT', -100n)).toBe(true);
    expect(isWithinFloor({ ...atEdge, debitsPosted: 101n }, 'CREDIT', -100n)).toBe(false);
    expect(isWithinFloor({ ...atEdge, debitsPosted: 10n ** 15n }, 'CREDIT', null)).toBe(true);
  });
});

describe('reversals and fingerprints', () => {
  it('reverses every entry direction and keeps amounts', () => {
    expect(reversingEntries([entry('a', 'DEBIT', 5n), entry('b', 'CREDIT', 5n)])).toEqual([
      entry('a', 'CREDIT', 5n),
      entry('b', 'DEBIT', 5n),
    ]);
  });

  it('fingerprints requests independently of key order and distinguishes amounts', () => {
    expect(requestFingerprint({ b: 1, a: { y: 2n, x: 'z' } })).toBe(requestFingerprint({ a: { x: 'z', y: 2n }, b: 1 }));
    expect(requestFingerprint({ amount: 5n })).not.toBe(requestFingerprint({ amount: 6n }));
    expect(canonicalJson({ when: new Date('2026-01-01T00:00:00Z'), skip: undefined })).toBe(
      '{"when":"2026-01-01T00:00:00.000Z"}',
    );
  });
});

describe('refusals from the database', () => {
  const accounts = new Map([
    ['a-1', { code: 'customer-1' }],
    ['a-2', { code: 'customer-2' }],
  ]);
  const item = { idempotencyKey: 'key-1', settlesHold: false, accounts };

  it('names a reused key and the transaction that holds it', () => {
    const error = refusalError({ item: 0, code: 'KEY_REUSED', ids: ['t-9'], accountStatus: null }, item);
    expect(error.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(error.message).toBe('idempotencyKey key-1 was already used for a different request (transaction t-9)');
  });

  it('says a settlement lost its key to another transaction', () => {
    const error = refusalError(
      { item: 0, code: 'KEY_REUSED', ids: [], accountStatus: null },
      { ...item, settlesHold: true },
    );
    expect(error.message).toBe('idempotencyKey key-1 was already used for another transaction');
  });

  it('names an account that is not active by its code and status', () => {
    const error = refusalError({ item: 0, code: 'NOT_ACTIVE', ids: ['a-2'], accountStatus: 'FROZEN' }, item);
    expect(error.code).toBe('ACCOUNT_NOT_ACTIVE');
    expect(error.message).toBe('account customer-2 is FROZEN');
  });

  it('names every account a posting would take below its floor', () => {
    const error = refusalError({ item: 0, code: 'BELOW_FLOOR', ids: ['a-1', 'a-2'], accountStatus: null }, item);
    expect(error.code).toBe('INSUFFICIENT_FUNDS');
    expect(error.message).toBe(
      'insufficient funds: the posting would take customer-1, customer-2 below its allowed balance',
    );
  });
});
