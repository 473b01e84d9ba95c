/**
 * CSV for spreadsheets (RFC 4180): a field is quoted when it holds a comma, a quote, a line break or
 * surrounding spaces, with quotes doubled. Text that came from outside (external ids, references, notes)
 * and starts with a character a spreadsheet reads as a formula (= + - @, tab, carriage return) is prefixed
 * with an apostrophe, so opening the report never runs a partner's formula. Numbers the ledger wrote are
 * left alone, so a negative difference stays a number.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvText(value: string | null | undefined): string {
  if (value === null || value === undefined) return '';
  return csvQuote(FORMULA_START.test(value) ? `'${value}` : value);
}

export function csvNumber(value: bigint | number | null | undefined): string {
  return value === null || value === undefined ? '' : value.toString();
}

function csvQuote(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvRow(fields: string[]): string {
  return `${fields.join(',')}\r\n`;
}

export const REPORT_COLUMNS = [
  'row',
  'kind',
  'status',
  'externalId',
  'recordId',
  'transactionId',
  'reference',
  'accountCode',
  'asset',
  'expectedAmount',
  'ledgerAmount',
  'difference',
  'resolution',
  'note',
  'exceptionId',
] as const;
