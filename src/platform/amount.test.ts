import { BadInputError } from './errors';
import { formatAmount, parseAmount } from './amount';

describe('parseAmount', () => {
  it.each([
    ['12500', 12500n],
    ['0', 0n],
    ['-5', -5n],
    ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n],
    [42, 42n],
    [Number.MAX_SAFE_INTEGER, 9007199254740991n],
  ])('reads %p as %p', (input, expected) => {
    expect(parseAmount(input)).toBe(expected);
  });

  it.each([
    '1.5',
    '1e3',
    ' 12',
    '12 ',
    '',
    'abc',
    '+5',
    '007',
    '-0',
    '9223372036854775808',
    '-9223372036854775809',
    '0x10',
  ])('refuses the string %p', (input) => {
    expect(() => parseAmount(input)).toThrow(BadInputError);
  });

  it.each([2.5, Number.MAX_SAFE_INTEGER + 1, NaN, Infinity, true, null, {}])('refuses the value %p', (input) => {
    expect(() => parseAmount(input)).toThrow(BadInputError);
  });

  it('writes amounts back as base-10 strings', () => {
    expect(formatAmount(-9223372036854775808n)).toBe('-9223372036854775808');
  });
});
