import { canonicalJson, checkRecord, readInstant, RejectionList, REJECTIONS_KEPT_MAX } from './record.core.js';

const ASSETS = new Map([['PTS', 'asset-pts']]);
const good = {
  externalId: 'e-1',
  asset: 'PTS',
  amount: '125',
  direction: 'CREDIT',
  occurredAt: '2026-11-21T09:30:00.123+02:00',
  reference: 'order-1',
  accountCode: '',
};

function messageOf(fields: Record<string, unknown>): string {
  const checked = checkRecord({ ...good, ...fields }, 7, ASSETS);
  if (checked.ok) throw new Error('expected a rejection');
  expect(checked.rejection.line).toBe(7);
  return checked.rejection.message;
}

describe('checkRecord', () => {
  it('accepts a record and normalizes it', () => {
    const checked = checkRecord(good, 2, ASSETS);
    expect(checked).toEqual({
      ok: true,
      record: {
        line: 2,
        externalId: 'e-1',
        assetId: 'asset-pts',
        amount: 125n,
        direction: 'CREDIT',
        occurredAt: new Date('2026-11-21T07:30:00.123Z'),
        reference: 'order-1',
        accountCode: null,
        metadata: '{}',
      },
    });
  });

  it.each([
    [{ amount: '+5' }, /base-10 integer/],
    [{ amount: '05' }, /base-10 integer/],
    [{ amount: '1.5' }, /base-10 integer/],
    [{ amount: '0' }, /positive/],
    [{ amount: '-3' }, /positive/],
    [{ amount: '9223372036854775808' }, /64-bit/],
    [{ amount: 1.5 }, /integer/],
    [{ amount: undefined }, /required/],
    [{ asset: 'pts' }, /asset code/],
    [{ asset: 'USD' }, /does not exist/],
    [{ direction: 'credit' }, /DEBIT or CREDIT/],
    [{ occurredAt: '2026-11-21' }, /ISO-8601/],
    [{ occurredAt: '2026-11-21T09:30:00' }, /ISO-8601/],
    [{ occurredAt: '2026-02-29T00:00:00Z' }, /not a real instant/],
    [{ occurredAt: '2026-11-21T24:00:00Z' }, /not a real instant/],
    [{ externalId: '' }, /externalId is required/],
    [{ externalId: 'x'.repeat(256) }, /at most 255/],
    [{ externalId: 'a\tb' }, /control characters/],
    [{ reference: 'r'.repeat(256) }, /at most 255/],
    [{ accountCode: 5 }, /must be a string/],
    [{ metadata: [1] }, /JSON object/],
    [{ metadata: { big: 'x'.repeat(16_384) } }, /16384 bytes/],
  ])('rejects %j', (fields, message) => {
    expect(messageOf(fields)).toMatch(message);
  });

  it('accepts the largest int64 amount, a bigint and a JSON integer', () => {
    expect(checkRecord({ ...good, amount: '9223372036854775807' }, 1, ASSETS).ok).toBe(true);
    expect(checkRecord({ ...good, amount: 5n }, 1, ASSETS).ok).toBe(true);
    expect(checkRecord({ ...good, amount: 5 }, 1, ASSETS).ok).toBe(true);
  });

  it('names the externalId of a rejected record when it has one', () => {
    const checked = checkRecord({ ...good, amount: 'x' }, 3, ASSETS);
    expect(checked).toMatchObject({ ok: false, rejection: { line: 3, externalId: 'e-1' } });
  });

  it('reads a leap day as a real instant', () => {
    expect(readInstant('2028-02-29T00:00:00Z').toISOString()).toBe('2028-02-29T00:00:00.000Z');
  });
});

describe('RejectionList', () => {
  it('keeps the first rejections by line and counts them all', () => {
    const list = new RejectionList();
    for (let line = 1; line <= 2 * REJECTIONS_KEPT_MAX + 10; line += 2)
      list.add({ line, externalId: null, message: 'm' });
    list.merge([{ line: 2, externalId: 'dup', message: 'again' }], 3);
    expect(list.count).toBe(REJECTIONS_KEPT_MAX + 5 + 3);
    expect(list.list).toHaveLength(REJECTIONS_KEPT_MAX);
    expect(list.list.slice(0, 3).map((r) => r.line)).toEqual([1, 2, 3]);
  });
});

describe('canonicalJson', () => {
  it('writes one text for one content, whatever the key order', () => {
    expect(canonicalJson({ b: [1, { d: 2, c: 'x' }], a: null })).toBe('{"a":null,"b":[1,{"c":"x","d":2}]}');
    expect(canonicalJson({ y: 1, x: 2 })).toBe(canonicalJson({ x: 2, y: 1 }));
  });
});
