import {
  adjustmentOf,
  checkKey,
  checkNote,
  checkResolutionAllowed,
  checkRunWindow,
  differenceOf,
  ledgerWindow,
  metadataKeyOf,
  recordSideBalances,
  runRequestHash,
  signedAmount,
  visibleIn,
} from './matcher.core';

const rule = (dateWindowSeconds: number) => ({
  id: 'r',
  priority: 1,
  referenceField: 'idempotencyKey',
  matchAccount: true,
  amountTolerance: 0n,
  dateWindowSeconds,
});

describe('run input', () => {
  it('takes a window of at most 366 days, from before to', () => {
    const from = new Date('2026-01-01T00:00:00Z');
    expect(() => checkRunWindow(from, new Date('2027-01-02T00:00:00Z'))).not.toThrow();
    expect(() => checkRunWindow(from, new Date('2027-01-03T00:00:01Z'))).toThrow(/366 days/);
    expect(() => checkRunWindow(new Date('2026-02-01T00:00:00Z'), from)).toThrow(/after/);
    expect(() => checkRunWindow(new Date('nope'), from)).toThrow(/instants/);
  });

  it('refuses empty, long and control-character keys and notes', () => {
    expect(checkKey('close-2026-11')).toBe('close-2026-11');
    expect(() => checkKey('')).toThrow();
    expect(() => checkKey('k'.repeat(256))).toThrow();
    expect(() => checkKey('a\u0007b')).toThrow();
    expect(checkNote('  two\nlines\tand a tab ')).toBe('two\nlines\tand a tab');
    expect(() => checkNote(' ')).toThrow();
    expect(() => checkNote('a\u0000b')).toThrow();
    expect(() => checkNote('n'.repeat(2001))).toThrow();
  });

  it('fingerprints the request by source, mode and window', () => {
    const base = { sourceId: 's', mode: 'DRY_RUN' as const, from: new Date(0), to: new Date(1000) };
    expect(runRequestHash(base)).toBe(runRequestHash({ ...base }));
    expect(runRequestHash(base)).not.toBe(runRequestHash({ ...base, mode: 'COMMIT' }));
    expect(runRequestHash(base)).not.toBe(runRequestHash({ ...base, to: new Date(1001) }));
  });
});

describe('amounts', () => {
  it('signs from the account’s side and counts an absent side as zero', () => {
    expect(signedAmount('CREDIT', 5n)).toBe(5n);
    expect(signedAmount('DEBIT', 5n)).toBe(-5n);
    expect(differenceOf(250n, 200n)).toBe(50n);
    expect(differenceOf(null, 75n)).toBe(-75n);
    expect(differenceOf(40n, null)).toBe(40n);
  });

  it('reads the ledger wider by the widest rule window', () => {
    const window = ledgerWindow(new Date(10_000), new Date(20_000), [rule(1), rule(5)]);
    expect(window).toEqual({ from: new Date(5_000), to: new Date(25_000) });
  });

  it('names the metadata key of a reference field', () => {
    expect(metadataKeyOf('idempotencyKey')).toBeNull();
    expect(metadataKeyOf('metadata.orderId')).toBe('orderId');
    expect(() => metadataKeyOf('metadata.')).toThrow();
  });

  it('accounts for every record once in a summary', () => {
    const summary = {
      externalRecords: 5,
      ledgerTransactions: 4,
      matched: 1,
      missingInLedger: 1,
      missingExternally: 2,
      amountMismatch: 1,
      duplicates: 1,
      ambiguous: 1,
    };
    expect(recordSideBalances(summary)).toBe(true);
    expect(recordSideBalances({ ...summary, externalRecords: 6 })).toBe(false);
  });
});

describe('resolutions', () => {
  it('posts what makes the ledger agree with the partner', () => {
    expect(adjustmentOf('AMOUNT_MISMATCH', 250n, 200n)).toBe(50n);
    expect(adjustmentOf('AMOUNT_MISMATCH', -30n, -20n)).toBe(-10n);
    expect(adjustmentOf('MISSING_IN_LEDGER', 40n, null)).toBe(40n);
    expect(adjustmentOf('DUPLICATE_EXTERNAL', 100n, 100n)).toBe(100n);
    expect(adjustmentOf('MISSING_EXTERNALLY', null, 75n)).toBe(-75n);
    expect(adjustmentOf('AMBIGUOUS', 5n, null)).toBeNull();
  });

  it('allows each kind only the resolutions that fit it', () => {
    expect(() => checkResolutionAllowed('MISSING_EXTERNALLY', 'MATCH_MANUALLY', true)).toThrow(/no record/);
    expect(() => checkResolutionAllowed('AMBIGUOUS', 'MATCH_MANUALLY', false)).toThrow(/transactionId/);
    expect(() => checkResolutionAllowed('AMBIGUOUS', 'POST_ADJUSTMENT', false)).toThrow(/AMBIGUOUS/);
    expect(() => checkResolutionAllowed('AMOUNT_MISMATCH', 'EXPLAIN', true)).toThrow(/only for MATCH_MANUALLY/);
    expect(() => checkResolutionAllowed('AMBIGUOUS', 'MATCH_MANUALLY', true)).not.toThrow();
    expect(() => checkResolutionAllowed('MISSING_EXTERNALLY', 'POST_ADJUSTMENT', false)).not.toThrow();
  });
});

describe('journal high-water mark', () => {
  it('is a snapshot: committed below xmin, not at or above xmax, not while in progress', () => {
    const mark = '100:110:103,105';
    expect(visibleIn(mark, 99n)).toBe(true);
    expect(visibleIn(mark, 104n)).toBe(true);
    expect(visibleIn(mark, 103n)).toBe(false);
    expect(visibleIn(mark, 110n)).toBe(false);
    expect(visibleIn('7:7:', 6n)).toBe(true);
  });
});
