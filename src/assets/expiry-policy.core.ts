import { BadInputError } from '../platform/errors.js';
import { CALENDAR_PERIODS, canonicalTimeZone, type CalendarPeriod } from '../platform/calendar.core.js';

/**
 * How long value of an asset lasts once earned: pure rules, no I/O. An asset without a policy never
 * expires. The lot arithmetic that applies a policy is in `lots/lots.core.ts`.
 */
export type ExpiryPolicyKind = 'ROLLING' | 'END_OF_PERIOD' | 'INACTIVITY';

export type ExpiryPolicy =
  /** Each lot lapses `days` × 24 h after it was earned. */
  | { kind: 'ROLLING'; days: number }
  /** Each lot lapses at the end of the `periods`-th period after the one it was earned in (0: that one). */
  | { kind: 'END_OF_PERIOD'; period: CalendarPeriod; periods: number; timeZone: string }
  /** Every open lot of a balance lapses `days` × 24 h after the balance's last activity. */
  | { kind: 'INACTIVITY'; days: number };

export const EXPIRY_DAYS_MAX = 36_500;
export const EXPIRY_PERIODS_MAX = 1_200;

/** What a caller may send: `createAsset(expiryPolicy)`, or the older `expiresAfterDays` alone. */
export interface ExpiryPolicyRequest {
  kind: ExpiryPolicyKind;
  days?: number | null;
  period?: CalendarPeriod | null;
  periods?: number | null;
  timeZone?: string | null;
}

/** Validates a requested policy; `expiresAfterDays` is the older spelling of a ROLLING one. */
export function requireExpiryPolicy(
  request: ExpiryPolicyRequest | null | undefined,
  expiresAfterDays: number | null | undefined,
): ExpiryPolicy | null {
  if (request == null) {
    if (expiresAfterDays == null) return null;
    return { kind: 'ROLLING', days: requireDays(expiresAfterDays, 'expiresAfterDays') };
  }
  if (expiresAfterDays != null)
    throw new BadInputError('give expiryPolicy or expiresAfterDays, not both (expiresAfterDays is ROLLING days)');
  switch (request.kind) {
    case 'ROLLING':
    case 'INACTIVITY':
      refuseFields(request, ['period', 'periods', 'timeZone']);
      if (request.days == null) throw new BadInputError(`expiryPolicy.days is required for ${request.kind}`);
      return { kind: request.kind, days: requireDays(request.days, 'expiryPolicy.days') };
    case 'END_OF_PERIOD': {
      refuseFields(request, ['days']);
      if (request.period == null || !CALENDAR_PERIODS.includes(request.period))
        throw new BadInputError(`expiryPolicy.period is required for END_OF_PERIOD: ${CALENDAR_PERIODS.join(', ')}`);
      const periods = request.periods ?? 1;
      if (!Number.isInteger(periods) || periods < 0 || periods > EXPIRY_PERIODS_MAX)
        throw new BadInputError(`expiryPolicy.periods must be an integer from 0 to ${EXPIRY_PERIODS_MAX}`);
      const zone = request.timeZone ?? 'UTC';
      const timeZone = canonicalTimeZone(zone);
      if (timeZone === null)
        throw new BadInputError(`expiryPolicy.timeZone ${JSON.stringify(zone)} is not an IANA time zone`);
      return { kind: 'END_OF_PERIOD', period: request.period, periods, timeZone };
    }
    default:
      throw new BadInputError('expiryPolicy.kind must be ROLLING, END_OF_PERIOD or INACTIVITY');
  }
}

function requireDays(days: number, field: string): number {
  if (!Number.isInteger(days) || days < 1 || days > EXPIRY_DAYS_MAX)
    throw new BadInputError(`${field} must be an integer from 1 to ${EXPIRY_DAYS_MAX}`);
  return days;
}

function refuseFields(request: ExpiryPolicyRequest, fields: Array<keyof ExpiryPolicyRequest>): void {
  const given = fields.filter((field) => request[field] != null);
  if (given.length > 0) throw new BadInputError(`expiryPolicy.${given.join(', ')} does not apply to ${request.kind}`);
}

/** The asset columns that hold a policy (see migration 20261205030000_expiry_policies). */
export interface ExpiryPolicyColumns {
  expiryKind: string | null;
  expiresAfterDays: number | null;
  expiryPeriod: string | null;
  expiryPeriods: number | null;
  expiryTimeZone: string | null;
}

export function policyColumns(policy: ExpiryPolicy | null): ExpiryPolicyColumns {
  return {
    expiryKind: policy?.kind ?? null,
    expiresAfterDays: policy !== null && policy.kind !== 'END_OF_PERIOD' ? policy.days : null,
    expiryPeriod: policy?.kind === 'END_OF_PERIOD' ? policy.period : null,
    expiryPeriods: policy?.kind === 'END_OF_PERIOD' ? policy.periods : null,
    expiryTimeZone: policy?.kind === 'END_OF_PERIOD' ? policy.timeZone : null,
  };
}

export function policyOfColumns(columns: ExpiryPolicyColumns): ExpiryPolicy | null {
  switch (columns.expiryKind) {
    case null:
      return null;
    case 'ROLLING':
    case 'INACTIVITY':
      return { kind: columns.expiryKind, days: columns.expiresAfterDays! };
    case 'END_OF_PERIOD':
      return {
        kind: 'END_OF_PERIOD',
        period: columns.expiryPeriod as CalendarPeriod,
        periods: columns.expiryPeriods!,
        timeZone: columns.expiryTimeZone!,
      };
    default:
      throw new Error(`unknown expiry policy ${columns.expiryKind}`);
  }
}
