import { BadInputError } from '../platform/errors.js';

/** Rules of sources and match rules: pure, no I/O. The migration's CHECKs say the same again. */
export const SOURCE_CODE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const RULE_PRIORITY_MIN = 1;
export const RULE_PRIORITY_MAX = 1_000;
/** 366 days: a window wider than a year matches nothing a close would want. */
export const DATE_WINDOW_SECONDS_MAX = 31_622_400;
export const REFERENCE_FIELD = /^(idempotencyKey|metadata\.[A-Za-z0-9_-]{1,64})$/;

export interface RuleSpec {
  priority: number;
  referenceField: string;
  matchAccount: boolean;
  amountTolerance: bigint;
  dateWindowSeconds: number;
}

export function checkSourceCode(code: string): string {
  if (!SOURCE_CODE.test(code))
    throw new BadInputError(
      `code must be 1 to 64 characters of A–Z, a–z, 0–9 and . _ : - (starting with a letter or digit); got ${JSON.stringify(code.slice(0, 80))}`,
    );
  return code;
}

export function checkRule(spec: RuleSpec): RuleSpec {
  if (!Number.isInteger(spec.priority) || spec.priority < RULE_PRIORITY_MIN || spec.priority > RULE_PRIORITY_MAX)
    throw new BadInputError(`priority must be an integer from ${RULE_PRIORITY_MIN} to ${RULE_PRIORITY_MAX}`);
  if (!REFERENCE_FIELD.test(spec.referenceField))
    throw new BadInputError(
      `referenceField must be "idempotencyKey" or "metadata.<key>" (key: 1 to 64 of A–Z, a–z, 0–9, _ and -); got ${JSON.stringify(spec.referenceField.slice(0, 80))}`,
    );
  if (spec.amountTolerance < 0n) throw new BadInputError('amountTolerance must not be negative');
  if (
    !Number.isInteger(spec.dateWindowSeconds) ||
    spec.dateWindowSeconds < 0 ||
    spec.dateWindowSeconds > DATE_WINDOW_SECONDS_MAX
  )
    throw new BadInputError(`dateWindowSeconds must be an integer from 0 to ${DATE_WINDOW_SECONDS_MAX}`);
  return spec;
}
