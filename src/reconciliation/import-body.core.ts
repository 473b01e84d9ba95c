import { BadInputError, ImportTooLargeError } from '../platform/errors.js';
import type { RecordFields } from './record.core.js';

/**
 * The body of a streamed import, read incrementally: text arrives in chunks, complete records leave, and
 * only the record being read is held (at most IMPORT_LINE_CHARS_MAX). Pure: no streams, no I/O.
 *
 * Two kinds of failure. A row that breaks a rule is one rejection (its line, its externalId when it has
 * one) and reading goes on. A body that cannot be read as records at all — NUL bytes, a wrong CSV header,
 * a line beyond the limit, more rows than an import may hold — refuses the whole import: it throws.
 */
export const IMPORT_BODY_BYTES_MAX = 256 * 1024 * 1024;
export const IMPORT_ROWS_MAX = 1_000_000;
/** One CSV record (its quoted line breaks included) or one NDJSON line, in characters. */
export const IMPORT_LINE_CHARS_MAX = 65_536;
/** Records one importExternalRecords call (GraphQL) may carry. */
export const IMPORT_RECORDS_PER_CALL_MAX = 1_000;

export type BodyFormat = 'csv' | 'ndjson';

export type ParsedRow =
  | { line: number; fields: RecordFields }
  | { line: number; fields: null; externalId: string | null; error: string };

export interface BodyParser {
  /** The records completed by this chunk of text. */
  push(text: string): ParsedRow[];
  /** The records left when the body ends. */
  end(): ParsedRow[];
}

export const CSV_COLUMNS = [
  'externalId',
  'asset',
  'amount',
  'direction',
  'occurredAt',
  'reference',
  'accountCode',
] as const;
type CsvColumn = (typeof CSV_COLUMNS)[number];
const REQUIRED_COLUMNS: readonly CsvColumn[] = ['externalId', 'asset', 'amount', 'direction', 'occurredAt'];
const JSON_FIELDS = new Set<string>([...CSV_COLUMNS, 'metadata']);

export function bodyParser(format: BodyFormat): BodyParser {
  return format === 'csv' ? new CsvParser() : new NdjsonParser();
}

function refuseNul(text: string): void {
  if (text.includes('\u0000')) throw new BadInputError('the body contains a NUL byte: it is not a text file');
}

function lineTooLong(): ImportTooLargeError {
  return new ImportTooLargeError(
    `a line (a CSV record or an NDJSON line) exceeds ${IMPORT_LINE_CHARS_MAX} characters`,
    {
      limit: 'lineChars',
      max: String(IMPORT_LINE_CHARS_MAX),
    },
  );
}

function tooManyRows(): ImportTooLargeError {
  return new ImportTooLargeError(`an import holds at most ${IMPORT_ROWS_MAX} rows; split the file`, {
    limit: 'rows',
    max: String(IMPORT_ROWS_MAX),
  });
}

function countNewlines(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) count += 1;
  return count;
}

interface CsvRecord {
  fields: string[];
  /** Set when the record is malformed; fields are what was read before. */
  error: string | null;
  /** Where the next record starts. */
  next: number;
  /** Line breaks the record spans, its own terminator included. */
  newlines: number;
}

/**
 * One RFC 4180 record from `start`, or null when the buffer ends before the record does (and more may
 * come). Quoted fields may hold commas, line breaks and doubled quotes; CRLF and LF both end a record.
 */
function readCsvRecord(buffer: string, start: number, final: boolean): CsvRecord | null {
  const fields: string[] = [];
  let pos = start;
  let newlines = 0;
  for (;;) {
    if (buffer.charCodeAt(pos) === 34) {
      let value = '';
      let from = pos + 1;
      for (;;) {
        const quote = buffer.indexOf('"', from);
        if (quote === -1) {
          if (!final) return null;
          return { fields, error: 'a quoted field is not closed', next: buffer.length, newlines: 0 };
        }
        if (quote + 1 >= buffer.length && !final) return null;
        if (buffer.charCodeAt(quote + 1) === 34) {
          value += buffer.slice(from, quote + 1);
          from = quote + 2;
          continue;
        }
        value += buffer.slice(from, quote);
        pos = quote + 1;
        break;
      }
      newlines += countNewlines(value);
      fields.push(value);
    } else {
      const newline = buffer.indexOf('\n', pos);
      const comma = buffer.indexOf(',', pos);
      if (newline === -1 && comma === -1 && !final) return null;
      const end =
        comma !== -1 && (newline === -1 || comma < newline) ? comma : newline === -1 ? buffer.length : newline;
      let value = buffer.slice(pos, end);
      if (end === newline && value.endsWith('\r')) value = value.slice(0, -1);
      fields.push(value);
      pos = end;
    }
    const after = buffer.charCodeAt(pos);
    if (after === 44) {
      pos += 1;
      // A record ending in a comma has an empty last field, which needs the terminator to be seen.
      if (pos >= buffer.length && !final) return null;
      continue;
    }
    if (after === 10) return { fields, error: null, next: pos + 1, newlines: newlines + 1 };
    if (after === 13 && buffer.charCodeAt(pos + 1) === 10)
      return { fields, error: null, next: pos + 2, newlines: newlines + 1 };
    if (pos >= buffer.length) {
      if (!final) return null;
      return { fields, error: null, next: pos, newlines };
    }
    // Text after a closing quote: the record is malformed; skip to the end of its line.
    const newline = buffer.indexOf('\n', pos);
    if (newline === -1 && !final) return null;
    return {
      fields,
      error: 'a quoted field must be followed by a comma or the end of the line',
      next: newline === -1 ? buffer.length : newline + 1,
      newlines: newlines + (newline === -1 ? 0 : 1),
    };
  }
}

class CsvParser implements BodyParser {
  private buffer = '';
  /** The line the buffer starts at. */
  private line = 1;
  private columns: CsvColumn[] | null = null;
  private rows = 0;
  private started = false;

  push(text: string): ParsedRow[] {
    refuseNul(text);
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.buffer = this.buffer.length === 0 ? text : this.buffer + text;
    return this.drain(false);
  }

  end(): ParsedRow[] {
    const rows = this.drain(true);
    if (this.columns === null)
      throw new BadInputError(`the CSV body is empty: it needs the header row ${CSV_COLUMNS.join(',')}`);
    return rows;
  }

  private drain(final: boolean): ParsedRow[] {
    const out: ParsedRow[] = [];
    const buffer = this.buffer;
    let pos = 0;
    while (pos < buffer.length) {
      const record = readCsvRecord(buffer, pos, final);
      if (record === null) break;
      if (record.next - pos > IMPORT_LINE_CHARS_MAX) throw lineTooLong();
      const line = this.line;
      this.line += record.newlines;
      pos = record.next;
      const blank = record.error === null && record.fields.length === 1 && record.fields[0] === '';
      if (blank) continue;
      if (this.columns === null) {
        this.columns = readHeader(record);
        continue;
      }
      this.rows += 1;
      if (this.rows > IMPORT_ROWS_MAX) throw tooManyRows();
      out.push(this.toRow(record, line));
    }
    this.buffer = pos >= buffer.length ? '' : buffer.slice(pos);
    if (this.buffer.length > IMPORT_LINE_CHARS_MAX) throw lineTooLong();
    return out;
  }

  private toRow(record: CsvRecord, line: number): ParsedRow {
    const columns = this.columns!;
    const idAt = columns.indexOf('externalId');
    const externalId = record.fields[idAt] ? record.fields[idAt]!.slice(0, 255) : null;
    if (record.error !== null) return { line, fields: null, externalId, error: record.error };
    if (record.fields.length !== columns.length) {
      return {
        line,
        fields: null,
        externalId,
        error: `expected ${columns.length} fields (${columns.join(',')}), got ${record.fields.length}`,
      };
    }
    const fields: RecordFields = {};
    for (let i = 0; i < columns.length; i += 1) fields[columns[i]!] = record.fields[i];
    return { line, fields };
  }
}

function readHeader(record: CsvRecord): CsvColumn[] {
  const expected = `the header row must name the columns ${CSV_COLUMNS.join(',')} (reference and accountCode may be left out)`;
  if (record.error !== null) throw new BadInputError(`${expected}: ${record.error}`);
  const seen = new Set<string>();
  for (const name of record.fields) {
    if (!(CSV_COLUMNS as readonly string[]).includes(name))
      throw new BadInputError(`${expected}; unknown column ${JSON.stringify(name.slice(0, 64))}`);
    if (seen.has(name)) throw new BadInputError(`${expected}; column ${name} appears twice`);
    seen.add(name);
  }
  const missing = REQUIRED_COLUMNS.filter((name) => !seen.has(name));
  if (missing.length > 0) throw new BadInputError(`${expected}; missing ${missing.join(', ')}`);
  return record.fields as CsvColumn[];
}

class NdjsonParser implements BodyParser {
  private buffer = '';
  private line = 1;
  private rows = 0;

  push(text: string): ParsedRow[] {
    refuseNul(text);
    this.buffer = this.buffer.length === 0 ? text : this.buffer + text;
    return this.drain(false);
  }

  end(): ParsedRow[] {
    return this.drain(true);
  }

  private drain(final: boolean): ParsedRow[] {
    const out: ParsedRow[] = [];
    const buffer = this.buffer;
    let pos = 0;
    while (pos < buffer.length) {
      let newline = buffer.indexOf('\n', pos);
      if (newline === -1) {
        if (!final) break;
        newline = buffer.length;
      }
      if (newline - pos > IMPORT_LINE_CHARS_MAX) throw lineTooLong();
      const line = this.line;
      this.line += 1;
      const text = buffer.slice(pos, newline).trim();
      pos = newline + 1;
      if (text === '') continue;
      this.rows += 1;
      if (this.rows > IMPORT_ROWS_MAX) throw tooManyRows();
      out.push(readJsonRow(text, line));
    }
    this.buffer = pos >= buffer.length ? '' : buffer.slice(pos);
    if (this.buffer.length > IMPORT_LINE_CHARS_MAX) throw lineTooLong();
    return out;
  }
}

function readJsonRow(text: string, line: number): ParsedRow {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { line, fields: null, externalId: null, error: 'the line is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { line, fields: null, externalId: null, error: 'the line must be a JSON object (one record)' };
  const object = value as Record<string, unknown>;
  const externalId = typeof object.externalId === 'string' ? object.externalId.slice(0, 255) : null;
  const unknown = Object.keys(object).find((name) => !JSON_FIELDS.has(name));
  if (unknown !== undefined)
    return { line, fields: null, externalId, error: `unknown field ${JSON.stringify(unknown.slice(0, 64))}` };
  return { line, fields: object as RecordFields };
}
