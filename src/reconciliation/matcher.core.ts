import { createHash } from 'node:crypto';
import { BadInputError } from '../platform/errors.js';

/**
 * The pure rules of reconciliation runs: what a run takes as input, how amounts are signed and compared,
 * and what a run's summary counts. The matching itself is set-based SQL (matcher.repository.ts) that
 * follows these definitions.
 */

export type RunMode = 'DRY_RUN' | 'COMMIT';
export type RunStatus = 'RUNNING' | 'COMPLETED' | 'FAILED';
export type ExceptionKind =
  | 'MISSING_IN_LEDGER'
  | 'MISSING_EXTERNALLY'
  | 'AMOUNT_MISMATCH'
  | 'DUPLICATE_EXTERNAL'
  | 'AMBIGUOUS';
export type ExceptionStatus = 'OPEN' | 'RESOLVED';
export type Resolution = 'POST_ADJUSTMENT' | 'MATCH_MANUALLY' | 'EXPLAIN';

/** The widest window one run may cover: a year and a day, so a yearly close fits in one run. */
export const RUN_WINDOW_DAYS_MAX = 366;
export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;
export const NOTE_LENGTH_MAX = 2000;

/** One rule as the matcher applies it (a row of reconciliation_rules that is not retired). */
export interface MatchRuleSpec {
  id: string;
  priority: number;
  referenceField: string;
  matchAccount: boolean;
  amountTolerance: bigint;
  dateWindowSeconds: number;
}

export function checkRunWindow(from: Date, to: Date): void {
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()))
    throw new BadInputError('from and to must be instants');
  if (from.getTime() > to.getTime()) throw new BadInputError('from must not be after to');
  if (to.getTime() - from.getTime() > RUN_WINDOW_DAYS_MAX * 86_400_000)
    throw new BadInputError(`a run covers at most ${RUN_WINDOW_DAYS_MAX} days; split the period`);
}

export function checkKey(key: string, field = 'idempotencyKey'): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a key with control characters is what this refuses.
  if (key.length < 1 || key.length > IDEMPOTENCY_KEY_LENGTH_MAX || /[\u0000-\u001f\u007f]/.test(key))
    throw new BadInputError(`${field} must be 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} printable characters`);
  return key;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: tabs and newlines are allowed in a note, other controls are not.
const NOTE_CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export function checkNote(note: string): string {
  const trimmed = note.trim();
  if (trimmed.length < 1 || trimmed.length > NOTE_LENGTH_MAX || NOTE_CONTROLS.test(trimmed))
    throw new BadInputError(`note must be 1 to ${NOTE_LENGTH_MAX} printable characters`);
  return trimmed;
}

/** What makes two runReconciliation calls with one key the same request. */
export function runRequestHash(input: { sourceId: string; mode: RunMode; from: Date; to: Date }): string {
  return createHash('sha256')
    .update(JSON.stringify([input.sourceId, input.mode, input.from.toISOString(), input.to.toISOString()]))
    .digest('hex');
}

/**
 * Amounts are compared signed, from the account's side: positive when the account gained value (a record
 * with direction CREDIT), negative when it lost it (DEBIT).
 */
export function signedAmount(direction: 'CREDIT' | 'DEBIT', amount: bigint): bigint {
  return direction === 'CREDIT' ? amount : -amount;
}

/** Expected minus ledger, an absent side counting as zero. */
export function differenceOf(expected: bigint | null, ledger: bigint | null): bigint {
  return (expected ?? 0n) - (ledger ?? 0n);
}

/**
 * The ledger side is read wider than the run's window by the widest date window of its rules, so a record
 * at 23:59 on the last day matches a posting effective at 00:01 the next; only postings inside [from, to]
 * that nothing matched are reported missing externally.
 */
export function ledgerWindow(from: Date, to: Date, rules: readonly MatchRuleSpec[]): { from: Date; to: Date } {
  const widestMs = Math.max(0, ...rules.map((rule) => rule.dateWindowSeconds)) * 1000;
  return { from: new Date(from.getTime() - widestMs), to: new Date(to.getTime() + widestMs) };
}

/** The metadata key a `metadata.<key>` reference names, or null for `idempotencyKey`. */
export function metadataKeyOf(referenceField: string): string | null {
  if (referenceField === 'idempotencyKey') return null;
  const match = /^metadata\.([A-Za-z0-9_-]{1,64})$/.exec(referenceField);
  if (match === null) throw new Error(`reference field ${referenceField} is neither idempotencyKey nor metadata.<key>`);
  return match[1]!;
}

/** A run's counts. Each record in the window is exactly one of matched, missing, mismatched, duplicate, ambiguous. */
export interface RunSummary {
  externalRecords: number;
  ledgerTransactions: number;
  matched: number;
  missingInLedger: number;
  missingExternally: number;
  amountMismatch: number;
  duplicates: number;
  ambiguous: number;
}

/** The record side of a summary adds up: every record in the window is accounted for once. */
export function recordSideBalances(summary: RunSummary): boolean {
  return (
    summary.externalRecords ===
    summary.matched + summary.missingInLedger + summary.amountMismatch + summary.duplicates + summary.ambiguous
  );
}

/**
 * Which resolutions an exception kind takes. POST_ADJUSTMENT posts what makes the ledger agree with the
 * partner: the difference (AMOUNT_MISMATCH), the record's movement (MISSING_IN_LEDGER, DUPLICATE_EXTERNAL)
 * or the undoing of the posting (MISSING_EXTERNALLY). MATCH_MANUALLY links the exception's record to a
 * named transaction, so it needs a record. An AMBIGUOUS record is resolved by choosing (MATCH_MANUALLY)
 * or explaining, never by posting.
 */
export function checkResolutionAllowed(kind: ExceptionKind, resolution: Resolution, hasTransactionId: boolean): void {
  if (resolution === 'MATCH_MANUALLY') {
    if (kind === 'MISSING_EXTERNALLY')
      throw new BadInputError('a MISSING_EXTERNALLY exception has no record to link; use EXPLAIN or POST_ADJUSTMENT');
    if (!hasTransactionId) throw new BadInputError('MATCH_MANUALLY needs transactionId: the transaction to link');
    return;
  }
  if (hasTransactionId) throw new BadInputError(`transactionId is only for MATCH_MANUALLY, not ${resolution}`);
  if (resolution === 'POST_ADJUSTMENT' && kind === 'AMBIGUOUS')
    throw new BadInputError('an AMBIGUOUS exception is resolved by MATCH_MANUALLY (choosing) or EXPLAIN');
}

/**
 * The movement a POST_ADJUSTMENT posts on the exception's account, signed from the account's side
 * (positive: the account gains), or null when there is nothing to post.
 */
export function adjustmentOf(kind: ExceptionKind, expected: bigint | null, ledger: bigint | null): bigint | null {
  switch (kind) {
    case 'AMOUNT_MISMATCH':
      return differenceOf(expected, ledger);
    case 'MISSING_IN_LEDGER':
    case 'DUPLICATE_EXTERNAL':
      return expected;
    case 'MISSING_EXTERNALLY':
      return ledger === null ? null : -ledger;
    case 'AMBIGUOUS':
      return null;
  }
}

/**
 * The journal high-water mark a run records: the snapshot (`xmin:xmax:xip,...`, pg_current_snapshot) of
 * the statement that read the ledger side. A transaction is in the run exactly when its writer is visible
 * in that snapshot, which is commit-consistent (unlike a posted_at bound, which a slow committer crosses).
 */
export function parseHighWater(mark: string): { xmin: bigint; xmax: bigint; inProgress: bigint[] } {
  const match = /^(\d+):(\d+):([\d,]*)$/.exec(mark);
  if (match === null) throw new Error(`not a snapshot: ${mark}`);
  return {
    xmin: BigInt(match[1]!),
    xmax: BigInt(match[2]!),
    inProgress: match[3] === '' ? [] : match[3]!.split(',').map((xid) => BigInt(xid)),
  };
}

/** Whether a writer's transaction id was committed in the snapshot a high-water mark names. */
export function visibleIn(mark: string, xid: bigint): boolean {
  const { xmin, xmax, inProgress } = parseHighWater(mark);
  if (xid < xmin) return true;
  if (xid >= xmax) return false;
  return !inProgress.includes(xid);
}
