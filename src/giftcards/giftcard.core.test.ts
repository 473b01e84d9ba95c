import {
  CODE_LENGTH,
  generateCode,
  generatePin,
  groupedCode,
  isLuhnValid,
  last4Of,
  luhnCheckDigit,
  maskedCode,
  normalizeCode,
  requirePinShape,
} from './giftcard.core';

const digits = (text: string) => {
  let next = 0;
  return () => Number(text[next++ % text.length]);
};

describe('the Luhn check digit', () => {
  it('matches known card numbers', () => {
    expect(luhnCheckDigit('7992739871')).toBe(3);
    expect(isLuhnValid('79927398713')).toBe(true);
    expect(isLuhnValid('4111111111111111')).toBe(true);
    expect(isLuhnValid('4111111111111112')).toBe(false);
  });

  it('catches every single mistyped digit and every swap of two different neighbours', () => {
    const code = generateCode(digits('314159265358979323'));
    expect(isLuhnValid(code)).toBe(true);
    for (let index = 0; index < code.length; index++) {
      for (let digit = 0; digit <= 9; digit++) {
        if (String(digit) === code[index]) continue;
        expect(isLuhnValid(code.slice(0, index) + digit + code.slice(index + 1))).toBe(false);
      }
    }
    for (let index = 0; index + 1 < code.length; index++) {
      const [a, b] = [code[index]!, code[index + 1]!];
      // Luhn's one blind spot is 09 <-> 90.
      if (a === b || `${a}${b}` === '09' || `${a}${b}` === '90') continue;
      expect(isLuhnValid(code.slice(0, index) + b + a + code.slice(index + 2))).toBe(false);
    }
  });
});

describe('codes and PINs', () => {
  it('makes 19-digit codes and 6-digit PINs from the random digits given', () => {
    const code = generateCode(digits('1234567890'));
    expect(code).toHaveLength(CODE_LENGTH);
    expect(code.slice(0, 18)).toBe('123456789012345678');
    expect(isLuhnValid(code)).toBe(true);
    expect(generatePin(digits('908172'))).toBe('908172');
  });

  it('reads a code with spaces or dashes between groups and refuses another shape', () => {
    const code = generateCode(digits('271828182845904523'));
    expect(normalizeCode(groupedCode(code))).toBe(code);
    expect(normalizeCode(groupedCode(code).replace(/ /g, '-'))).toBe(code);
    expect(() => normalizeCode(code.slice(1))).toThrow(/19 digits/);
    expect(() => normalizeCode(`${code.slice(1)}x`)).toThrow(/19 digits/);
    expect(() => normalizeCode('1'.repeat(100))).toThrow(/19 digits/);
  });

  it('refuses a PIN that is not 4 to 12 digits', () => {
    expect(requirePinShape('0000')).toBe('0000');
    expect(() => requirePinShape('123')).toThrow(/4 to 12/);
    expect(() => requirePinShape('12345a')).toThrow(/4 to 12/);
    expect(() => requirePinShape('1'.repeat(13))).toThrow(/4 to 12/);
  });

  it('masks all but the last four digits', () => {
    const code = generateCode(digits('5'));
    expect(maskedCode(last4Of(code))).toBe(`${'*'.repeat(15)}${code.slice(-4)}`);
    expect(groupedCode('1234567890123456789')).toBe('1234 5678 9012 3456 789');
  });
});
