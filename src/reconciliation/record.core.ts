import { AMOUNT_MAX } from '../platform/amount.js';

/**
 * What one external record must be, whichever way it arrives (GraphQL, CSV, NDJSON): pure rules, no I/O.
 * A record that breaks one is rejected with its line and the others go on; the import as a whole is
 * refused only for what makes the body unreadable or too large (import-body.core.ts).
 */
export const EXTERNAL_ID_LENGTH_MAX = 255;
export const REFERENCE_LENGTH_MAX = 255;
export const ACCOUNT_CODE_LENGTH_MAX = 255;
/** As for every metadata object of the API (the JSONObject scalar). */
export const RECORD_METADATA_BYTES_MAX = 16_384;
/** Rejections kept, with their lines, per import; the rest are only counted (`rejectedCount`). */
export const REJECTIONS_KEPT_MAX = 1_000;

export type RecordDirection = 'DEBIT' | 'CREDIT';

/** A record that passed every rule: what the import stages. */
export interface ValidRecord {
  line: number;
  externalId: string;
  assetId: string;
  amount: bigint;
  direction: RecordDirection;
  occurredAt: Date;
  reference: string | null;
  accountCode: string | null;
  /** Canonical JSON text of the metadata object (keys sorted; '{}' when none). */
  metadata: string;
}

export interface Rejection {
  line: number;
  externalId: string | null;
  message: string;
}

export type Checked = { ok: true; record: ValidRecord } | { ok: false; rejection: Rejection };

/** The asset ids of a root by code: assets are immutable, so the import reads them once. */
export type AssetCodes = ReadonlyMap<string, string>;

// As the Amount scalar: canonical base-10, no sign on zero, no leading zeros or '+', no spaces or exponent.
const CANONICAL_INTEGER = /^(0|-?[1-9][0-9]{0,18})$/;
// As the DateTime scalar: ISO-8601 with an explicit zone.
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const ASSET_CODE = /^[A-Z][A-Z0-9_]{0,31}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
const CONTROL = /[\u0000-\u001f\u007f]/;

class RuleBroken extends Error {}

function fail(message: string): never {
  throw new RuleBroken(message);
}

function readText(value: unknown, field: string, max: number, required: boolean): string | null {
  if (value === undefined || value === null || value === '') {
    if (required) fail(`${field} is required`);
    return null;
  }
  if (typeof value !== 'string') fail(`${field} must be a string`);
  if (value.length > max) fail(`${field} must be at most ${max} characters`);
  if (CONTROL.test(value)) fail(`${field} must not contain control characters`);
  return value;
}

function readAmount(value: unknown): bigint {
  let amount: bigint;
  if (typeof value === 'string') {
    if (!CANONICAL_INTEGER.test(value))
      fail(`amount must be a base-10 integer string such as "12500"; got ${JSON.stringify(value.slice(0, 40))}`);
    amount = BigInt(value);
  } else if (typeof value === 'bigint') {
    amount = value;
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) fail('amount given as a JSON number must be an integer within ±(2^53−1)');
    amount = BigInt(value);
  } else {
    fail('amount is required (a decimal string)');
  }
  if (amount > AMOUNT_MAX) fail('amount is outside the signed 64-bit range');
  if (amount <= 0n) fail('amount must be positive; direction says which way it moved');
  return amount;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Days in `month` (1 to 12) of `year`, by arithmetic: no Date made per record. Years below 100 keep the
 * answer Date.UTC gives them (it reads them as 1900 + year), which is what this rule has always applied.
 */
export function daysIn(year: number, month: number): number {
  if (year < 100) return new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month !== 2) return DAYS_IN_MONTH[month - 1]!;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

/** An ISO-8601 instant with its zone, like the DateTime scalar, and a real calendar date. */
export function readInstant(value: unknown, field = 'occurredAt'): Date {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) fail(`${field} is not a real instant`);
    return value;
  }
  const match = typeof value === 'string' ? ISO_INSTANT.exec(value) : null;
  if (match === null) fail(`${field} must be an ISO-8601 instant with a time zone, such as "2026-11-21T09:30:00Z"`);
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 7].map((i) => Number(match[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59)
    fail(`${field} ${JSON.stringify(value)} is not a real instant`);
  const date = new Date(value as string);
  if (Number.isNaN(date.getTime())) fail(`${field} ${JSON.stringify(value)} is not a real instant`);
  return date;
}

function readDirection(value: unknown): RecordDirection {
  if (value === 'DEBIT' || value === 'CREDIT') return value;
  fail('direction must be DEBIT or CREDIT');
}

function readMetadata(value: unknown): string {
  if (value === undefined || value === null) return '{}';
  if (typeof value !== 'object' || Array.isArray(value)) fail('metadata must be a JSON object');
  const text = canonicalJson(value);
  if (Buffer.byteLength(text) > RECORD_METADATA_BYTES_MAX)
    fail(`metadata must serialize to at most ${RECORD_METADATA_BYTES_MAX} bytes`);
  return text;
}

/** The fields of one record as they arrived: strings from CSV, JSON values from NDJSON, parsed GraphQL input. */
export interface RecordFields {
  externalId?: unknown;
  asset?: unknown;
  amount?: unknown;
  direction?: unknown;
  occurredAt?: unknown;
  reference?: unknown;
  accountCode?: unknown;
  metadata?: unknown;
}

/** Every rule of a record; the first one broken is the rejection's message. */
export function checkRecord(fields: RecordFields, line: number, assets: AssetCodes): Checked {
  const shownId =
    typeof fields.externalId === 'string' && fields.externalId !== ''
      ? fields.externalId.slice(0, EXTERNAL_ID_LENGTH_MAX)
      : null;
  try {
    const externalId = readText(fields.externalId, 'externalId', EXTERNAL_ID_LENGTH_MAX, true)!;
    const code = readText(fields.asset, 'asset', 32, true)!;
    if (!ASSET_CODE.test(code)) fail(`asset must be an asset code (A–Z, 0–9, _); got ${JSON.stringify(code)}`);
    const assetId = assets.get(code);
    if (assetId === undefined) fail(`asset ${code} does not exist in this ledger tree`);
    const record: ValidRecord = {
      line,
      externalId,
      assetId,
      amount: readAmount(fields.amount),
      direction: readDirection(fields.direction),
      occurredAt: readInstant(fields.occurredAt),
      reference: readText(fields.reference, 'reference', REFERENCE_LENGTH_MAX, false),
      accountCode: readText(fields.accountCode, 'accountCode', ACCOUNT_CODE_LENGTH_MAX, false),
      metadata: readMetadata(fields.metadata),
    };
    return { ok: true, record };
  } catch (error) {
    if (error instanceof RuleBroken)
      return { ok: false, rejection: { line, externalId: shownId, message: error.message } };
    throw error;
  }
}

/**
 * The rejections an import reports: the first REJECTIONS_KEPT_MAX by line, and how many there were in all.
 * Rows arrive in line order, so keeping the first ones is enough while streaming; rejections found later
 * by the database (a repeated external id) are merged in by line.
 */
export class RejectionList {
  private readonly kept: Rejection[] = [];
  private total = 0;

  add(rejection: Rejection): void {
    this.total += 1;
    if (this.kept.length < REJECTIONS_KEPT_MAX) this.kept.push(rejection);
  }

  /** Merges rejections found after streaming (any line order), keeping the first by line. */
  merge(more: readonly Rejection[], moreTotal: number): void {
    this.total += moreTotal;
    this.kept.push(...more);
    this.kept.sort((a, b) => a.line - b.line);
    this.kept.length = Math.min(this.kept.length, REJECTIONS_KEPT_MAX);
  }

  get count(): number {
    return this.total;
  }

  get list(): readonly Rejection[] {
    return this.kept;
  }
}

/** JSON text of a value with every object's keys sorted: one text for one content, whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object)
    .filter((key) => object[key] !== undefined)
    .sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`).join(',')}}`;
}

/**
 * What a record's content hash is taken of: everything but its externalId, the instant in epoch
 * milliseconds (as stored), metadata with sorted keys. Same text, same content: `unchanged`.
 */
export function contentText(record: ValidRecord): string {
  // The text of JSON.stringify([assetId, amount, direction, ms, reference, accountCode]) + metadata, put
  // together by hand: the id, the digits and the direction never need escaping, and building the array for
  // JSON.stringify was a tenth of an import's time in Node. record.core.test.ts holds the two to the same text.
  return `["${record.assetId}","${record.amount}","${record.direction}",${record.occurredAt.getTime()},${jsonOrNull(record.reference)},${jsonOrNull(record.accountCode)}]${record.metadata}`;
}

function jsonOrNull(value: string | null): string {
  return value === null ? 'null' : JSON.stringify(value);
}
