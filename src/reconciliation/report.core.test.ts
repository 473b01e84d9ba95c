import { csvNumber, csvRow, csvText } from './report.core';

describe('report CSV', () => {
  it('quotes fields with commas, quotes, line breaks or surrounding spaces, doubling quotes', () => {
    expect(csvText('plain')).toBe('plain');
    expect(csvText('a,b')).toBe('"a,b"');
    expect(csvText('say "hi"')).toBe('"say ""hi"""');
    expect(csvText('two\nlines')).toBe('"two\nlines"');
    expect(csvText(' padded ')).toBe('" padded "');
    expect(csvText(null)).toBe('');
  });

  it('prefixes text a spreadsheet would run as a formula', () => {
    for (const start of ['=', '+', '-', '@', '\t', '\r'])
      expect(csvText(`${start}1+1`).includes(`'${start}`)).toBe(true);
    expect(csvText('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
  });

  it('leaves the ledger’s own numbers as numbers, negative ones included', () => {
    expect(csvNumber(-75n)).toBe('-75');
    expect(csvNumber(null)).toBe('');
    expect(csvRow(['a', '1'])).toBe('a,1\r\n');
  });
});
