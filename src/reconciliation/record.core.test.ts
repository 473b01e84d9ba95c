import {
  canonicalJson,
  checkRecord,
  contentText,
  daysIn,
  readInstant,
  RejectionList,
  REJECTIONS_KEPT_MAX,
  type ValidRecord,
} from './record.core.js';

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

describe('daysIn', () => {
  it('answers as Date.UTC does for every month of years 0 to 2500', () => {
    for (let year = 0; year <= 2500; year += 1)
      for (let month = 1; month <= 12; month += 1)
        expect([year, month, daysIn(year, month)]).toEqual([
          year,
          month,
          new Date(Date.UTC(year, month, 0)).getUTCDate(),
        ]);
  });
});

describe('contentText', () => {
  const record: ValidRecord = {
    line: 1,
    externalId: 'e-1',
    assetId: '01a25354-5d2b-7000-8a70-81cac6de9f7c',
    amount: 9_223_372_036_854_775_807n,
    direction: 'DEBIT',
    occurredAt: new Date('1969-12-31T23:59:59.999Z'),
    reference: null,
    accountCode: null,
    metadata: '{"a":"\\"}',
  };
  // The text the content hash was first defined on: stored hashes of earlier imports depend on it.
  const asDefined = (r: ValidRecord) =>
    JSON.stringify([r.assetId, r.amount.toString(), r.direction, r.occurredAt.getTime(), r.reference, r.accountCode]) +
    r.metadata;

  it('is the JSON array text of the content, quotes, backslashes and non-ASCII included', () => {
    const texts = [
      null,
      '',
      'plain',
      'a "quoted" \\ back\\slash',
      'é ü 漢字 😀',
      '\u2028\u2029',
      '{"json":1}',
      '\ud800',
    ];
    for (const reference of texts)
      for (const accountCode of texts) {
        const r = { ...record, reference, accountCode };
        expect(contentText(r)).toBe(asDefined(r));
      }
    expect(contentText({ ...record, amount: 1n, direction: 'CREDIT', occurredAt: new Date(0) })).toBe(
      asDefined({ ...record, amount: 1n, direction: 'CREDIT', occurredAt: new Date(0) }),
    );
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
