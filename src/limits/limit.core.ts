/**
 * Program limits as data: pure rules, no I/O. A limit bounds, for every customer account in a ledger
 * subtree and one asset, what it may earn or redeem in a calendar period, or how high its posted balance may
 * go. The posting functions enforce them under the balance locks (migration 20261206010000); these rules
 * validate a limit and read its usage.
 */
import { BadInputError } from '../platform/errors.js';
import { CALENDAR_PERIODS, canonicalTimeZone, type CalendarPeriod } from '../platform/calendar.core.js';

export type LimitKind = 'EARN_PER_PERIOD' | 'REDEEM_PER_PERIOD' | 'MAX_BALANCE';
export const LIMIT_KINDS: readonly LimitKind[] = ['EARN_PER_PERIOD', 'REDEEM_PER_PERIOD', 'MAX_BALANCE'];

/** Active limits per ledger tree: each one is looked up by every posting of the tree. */
export const LIMITS_PER_TREE_MAX = 100;

export interface LimitRequest {
  kind: LimitKind;
  amount: bigint;
  period?: CalendarPeriod | null;
  timeZone?: string | null;
}

export interface LimitRule {
  kind: LimitKind;
  amount: bigint;
  period: CalendarPeriod | null;
  timeZone: string;
}

/**
 * A limit as stored, or BAD_USER_INPUT: per-period kinds need a period and MAX_BALANCE takes none; the amount
 * is zero or more (zero forbids the movement); the zone is an IANA name, stored as its canonical spelling.
 */
export function requireLimitRule(request: LimitRequest): LimitRule {
  if (!LIMIT_KINDS.includes(request.kind)) throw new BadInputError(`kind must be one of ${LIMIT_KINDS.join(', ')}`);
  if (request.amount < 0n) throw new BadInputError('amount must be zero or more minor units');
  const period = request.period ?? null;
  if (period !== null && !CALENDAR_PERIODS.includes(period))
    throw new BadInputError(`period must be one of ${CALENDAR_PERIODS.join(', ')}`);
  if (request.kind === 'MAX_BALANCE' && period !== null)
    throw new BadInputError('a MAX_BALANCE limit bounds the balance at every moment, so it takes no period');
  if (request.kind !== 'MAX_BALANCE' && period === null)
    throw new BadInputError(`a ${request.kind} limit needs a period: DAY, WEEK, MONTH or YEAR`);
  const requested = request.timeZone ?? 'UTC';
  const timeZone = canonicalTimeZone(requested);
  // Named zones only: an offset such as "+05:00" reads with opposite signs in ECMAScript and in PostgreSQL.
  if (timeZone === null || !/^[A-Za-z]/.test(requested) || !/^[A-Za-z]/.test(timeZone))
    throw new BadInputError(
      `timeZone must be an IANA time zone name such as "Asia/Manila"; got ${JSON.stringify(requested.slice(0, 64))}`,
    );
  if (request.kind === 'MAX_BALANCE' && request.timeZone != null && timeZone !== 'UTC')
    throw new BadInputError('a MAX_BALANCE limit has no period, so it takes no timeZone');
  return { kind: request.kind, amount: request.amount, period, timeZone };
}

/** What is left of a limit once `used` of it is taken; never negative (a ceiling may be lowered below a balance). */
export function remainingOf(amount: bigint, used: bigint): bigint {
  return used >= amount ? 0n : amount - used;
}
