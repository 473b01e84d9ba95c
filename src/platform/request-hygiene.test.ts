import { findUnacceptableText, JSON_DEPTH_MAX } from './request-hygiene';

describe('findUnacceptableText', () => {
  it('accepts ordinary text, emoji and nested data', () => {
    expect(
      findUnacceptableText({ query: '{ a }', variables: { name: 'Zoë 🎉', list: ['x', { y: 'ok' }] } }),
    ).toBeNull();
  });

  it.each([
    ['a NUL byte', { name: 'a\u0000b' }],
    ['a lone high surrogate', { name: 'a\ud800' }],
    ['a lone low surrogate', ['\udc00z']],
    ['a NUL in a key', { 'k\u0000': 1 }],
  ])('refuses %s', (_label, value) => {
    expect(findUnacceptableText(value)).toMatch(/NUL byte or invalid Unicode/);
  });

  it('refuses nesting deeper than the limit', () => {
    let value: unknown = 'leaf';
    for (let level = 0; level <= JSON_DEPTH_MAX + 1; level += 1) value = [value];
    expect(findUnacceptableText(value)).toMatch(/nests deeper/);
  });
});
