import { checkRule, checkSourceCode } from './source.core.js';

const rule = {
  priority: 1,
  referenceField: 'idempotencyKey',
  matchAccount: true,
  amountTolerance: 0n,
  dateWindowSeconds: 0,
};

describe('source and rule rules', () => {
  it('accepts the documented shapes', () => {
    expect(checkSourceCode('pos.store-1:eu_2')).toBe('pos.store-1:eu_2');
    expect(
      checkRule({ ...rule, referenceField: 'metadata.order_id-2', priority: 1000, dateWindowSeconds: 31_622_400 }),
    ).toBeTruthy();
  });

  it.each([
    [{ priority: 0 }, /priority/],
    [{ priority: 1001 }, /priority/],
    [{ priority: 1.5 }, /priority/],
    [{ referenceField: 'metadata.' }, /referenceField/],
    [{ referenceField: 'metadata.a.b' }, /referenceField/],
    [{ referenceField: 'reference' }, /referenceField/],
    [{ amountTolerance: -1n }, /amountTolerance/],
    [{ dateWindowSeconds: -1 }, /dateWindowSeconds/],
    [{ dateWindowSeconds: 31_622_401 }, /dateWindowSeconds/],
  ])('refuses %j', (change, message) => {
    expect(() => checkRule({ ...rule, ...change })).toThrow(message);
  });

  it('refuses codes outside the pattern', () => {
    for (const code of ['', '-lead', 'has space', 'x'.repeat(65), 'émoji'])
      expect(() => checkSourceCode(code)).toThrow(/code must be/);
  });
});
