import { differingFields, type RecordedEntry, type RecordedPosting } from './idempotency.core';

const at = new Date('2026-01-01T00:00:00Z');
const posting: RecordedPosting = {
  ledgerId: 'L',
  kind: 'ISSUE',
  description: null,
  metadata: { a: 1, b: [1, 2] },
  effectiveAt: at,
};
const lines: RecordedEntry[] = [
  { accountId: 'x', assetId: 'P', direction: 'CREDIT', amount: 5n },
  { accountId: 's', assetId: 'P', direction: 'DEBIT', amount: 5n },
];

describe('differingFields', () => {
  it('finds nothing when only key order and line order differ', () => {
    const reordered = { ...posting, metadata: { b: [1, 2], a: 1 } };
    expect(differingFields(posting, lines, reordered, [...lines].reverse(), true)).toEqual([]);
  });

  it('tells a change of amount from a change of lines, and ignores an effectiveAt the retry did not name', () => {
    const more = lines.map((line) => ({ ...line, amount: 6n }));
    const later = { ...posting, effectiveAt: new Date(at.getTime() + 1) };
    expect(differingFields(posting, lines, later, more, false)).toEqual(['amount']);
    expect(differingFields(posting, lines, later, more, true)).toEqual(['amount', 'effectiveAt']);
    const elsewhere = [{ ...lines[0]!, accountId: 'y' }, lines[1]!];
    expect(differingFields(posting, lines, { ...posting, kind: 'GENERIC' }, elsewhere, false)).toEqual([
      'entries',
      'kind',
    ]);
  });
});
