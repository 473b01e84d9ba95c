import { BadInputError, ImportTooLargeError } from '../platform/errors.js';
import { bodyParser, IMPORT_LINE_CHARS_MAX, type ParsedRow } from './import-body.core.js';

const HEADER = 'externalId,asset,amount,direction,occurredAt,reference,accountCode\n';

function parseAll(format: 'csv' | 'ndjson', text: string, chunk = text.length): ParsedRow[] {
  const parser = bodyParser(format);
  const rows: ParsedRow[] = [];
  for (let at = 0; at < text.length; at += chunk) rows.push(...parser.push(text.slice(at, at + chunk)));
  rows.push(...parser.end());
  return rows;
}

describe('the CSV body', () => {
  const text =
    HEADER +
    'a,PTS,1,CREDIT,2026-11-21T09:30:00Z,"x, ""y""",acct\r\n' +
    'b,PTS,2,DEBIT,2026-11-21T09:30:00Z,"multi\nline",\n' +
    '\n' +
    'c,PTS,3,DEBIT,2026-11-21T09:30:00Z,,\n' +
    'd,PTS,4\n' +
    'e,PTS,5,DEBIT,2026-11-21T09:30:00Z,"closed"junk,\n' +
    'f,PTS,6,DEBIT,2026-11-21T09:30:00Z,,';

  it.each([1, 2, 3, 7, 64, text.length])('reads the same records whatever the chunk size (%i)', (chunk) => {
    const rows = parseAll('csv', text, chunk);
    expect(
      rows.map((row) => [row.line, row.fields?.externalId ?? (row.fields === null ? `!${row.externalId}` : '')]),
    ).toEqual([
      [2, 'a'],
      [3, 'b'],
      [6, 'c'],
      [7, '!d'],
      [8, '!e'],
      [9, 'f'],
    ]);
    expect(rows[0]!.fields).toMatchObject({ reference: 'x, "y"', accountCode: 'acct' });
    expect(rows[1]!.fields).toMatchObject({ reference: 'multi\nline', accountCode: '' });
    expect(rows[3]).toMatchObject({ error: expect.stringMatching(/expected 7 fields/) });
    expect(rows[4]).toMatchObject({ error: expect.stringMatching(/followed by a comma/) });
  });

  it('refuses a header with an unknown, repeated or missing column', () => {
    expect(() => parseAll('csv', 'externalId,asset,amount,direction,occurredAt,colour\n')).toThrow(
      /unknown column "colour"/,
    );
    expect(() => parseAll('csv', 'externalId,asset,asset,amount,direction,occurredAt\n')).toThrow(/appears twice/);
    expect(() => parseAll('csv', 'externalId,asset,amount\n')).toThrow(/missing direction, occurredAt/);
    expect(() => parseAll('csv', '')).toThrow(BadInputError);
  });

  it('skips a byte-order mark', () => {
    expect(parseAll('csv', `\ufeff${HEADER}a,PTS,1,CREDIT,2026-11-21T09:30:00Z,,\n`)).toHaveLength(1);
  });

  it('refuses NUL bytes and a record longer than the line limit', () => {
    expect(() => parseAll('csv', `${HEADER}a\u0000,PTS,1,CREDIT,2026-11-21T09:30:00Z,,\n`)).toThrow(/NUL/);
    const long = `${HEADER}a,PTS,1,CREDIT,2026-11-21T09:30:00Z,"${'x'.repeat(IMPORT_LINE_CHARS_MAX)}",\n`;
    expect(() => parseAll('csv', long, 4096)).toThrow(ImportTooLargeError);
    expect(() => parseAll('csv', `${HEADER}${'y'.repeat(IMPORT_LINE_CHARS_MAX + 1)}`, 1000)).toThrow(
      ImportTooLargeError,
    );
  });

  it('reports an unclosed quote at the end of the body', () => {
    const rows = parseAll('csv', `${HEADER}a,PTS,1,CREDIT,2026-11-21T09:30:00Z,"open,\n`);
    expect(rows).toEqual([{ line: 2, fields: null, externalId: 'a', error: 'a quoted field is not closed' }]);
  });
});

describe('the NDJSON body', () => {
  it('reads one object a line, skipping blank lines and CRs', () => {
    const rows = parseAll(
      'ndjson',
      '{"externalId":"a"}\r\n\n{"externalId":"b","metadata":{"k":1}}\n[]\nnope\n{"extra":1}',
      5,
    );
    expect(rows.map((row) => [row.line, row.fields === null ? row.error : row.fields.externalId])).toEqual([
      [1, 'a'],
      [3, 'b'],
      [4, 'the line must be a JSON object (one record)'],
      [5, 'the line is not JSON'],
      [6, 'unknown field "extra"'],
    ]);
  });

  it('refuses a line longer than the limit', () => {
    expect(() => parseAll('ndjson', `{"externalId":"${'x'.repeat(IMPORT_LINE_CHARS_MAX)}"}\n`, 8192)).toThrow(
      ImportTooLargeError,
    );
  });
});
