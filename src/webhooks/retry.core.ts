/**
 * What to do after a delivery attempt, pure: the published retry schedule and the classification of
 * responses. Times are in milliseconds and already multiplied by WEBHOOK_RETRY_SCALE by the caller's
 * `scale` argument.
 */

/** Delays after the 1st, 2nd, … failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; then FAILED. */
export const RETRY_SCHEDULE_MS = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
] as const;

/** The first attempt and one per step of the schedule. */
export const ATTEMPTS_MAX = RETRY_SCHEDULE_MS.length + 1;

/** ±10 % around each step, so that endpoints that failed together do not retry together. */
export const JITTER_FRACTION = 0.1;

/**
 * A Retry-After may ask for longer than the schedule, but at most twice the step it replaces: a partner
 * can slow its retries down, not park a delivery for days.
 */
export const RETRY_AFTER_CAP_FACTOR = 2;

/** An endpoint whose every attempt has failed for this long is disabled (times the scale). */
export const FAILING_ENDPOINT_DISABLE_MS = 5 * 86_400_000;

/** The most of a response body kept, in the delivery's last error. */
export const RESPONSE_BODY_BYTES_MAX = 4_096;
export const LAST_ERROR_LENGTH_MAX = 500;

/** How one attempt ended. */
export type AttemptOutcome =
  | { kind: 'response'; status: number; retryAfter: string | null; body: string }
  | { kind: 'timeout' }
  | { kind: 'network'; message: string };

export type Verdict =
  | { action: 'succeeded' }
  /** Try again after `delayMs`; unless the schedule is spent, then FAILED. */
  | { action: 'retry'; error: string; retryAfterMs: number | null }
  /** FAILED now, for good. */
  | { action: 'failed'; error: string }
  /** FAILED, and the endpoint is disabled: the receiver said 410 Gone. */
  | { action: 'gone'; error: string };

function describeResponse(status: number, body: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  return (text.length > 0 ? `HTTP ${status}: ${text}` : `HTTP ${status}`).slice(0, LAST_ERROR_LENGTH_MAX);
}

/**
 * 2xx succeeds. 410 fails and disables the endpoint. 408, 429 and 5xx are retried, like timeouts and
 * connection errors. Every other status fails for good: the request will not get better by repeating it.
 * That includes 3xx: redirects are never followed (a redirect could point anywhere, past the address
 * checks), and a receiver that moved must be given its new URL, so repeating would only repeat the miss.
 */
export function classify(outcome: AttemptOutcome, now: Date): Verdict {
  if (outcome.kind === 'timeout') return { action: 'retry', error: 'timed out', retryAfterMs: null };
  if (outcome.kind === 'network')
    return { action: 'retry', error: outcome.message.slice(0, LAST_ERROR_LENGTH_MAX), retryAfterMs: null };
  const { status, body } = outcome;
  if (status >= 200 && status < 300) return { action: 'succeeded' };
  const error = describeResponse(status, body);
  if (status === 410) return { action: 'gone', error };
  if (status === 408 || status === 429 || (status >= 500 && status < 600)) {
    return { action: 'retry', error, retryAfterMs: parseRetryAfter(outcome.retryAfter, now) };
  }
  return { action: 'failed', error };
}

/** Retry-After as seconds or as an HTTP date; null when absent, unreadable or in the past. */
export function parseRetryAfter(header: string | null, now: Date): number | null {
  if (header === null) return null;
  const trimmed = header.trim();
  if (/^[0-9]{1,9}$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  const ms = at - now.getTime();
  return ms > 0 ? ms : null;
}

/**
 * The delay before the next attempt after `attempts` attempts have failed, or null when the schedule is
 * spent. `random` is in [0, 1).
 */
export function nextDelayMs(
  attempts: number,
  scale: number,
  random: number,
  retryAfterMs: number | null,
): number | null {
  if (attempts < 1 || attempts >= ATTEMPTS_MAX) return null;
  const step = RETRY_SCHEDULE_MS[attempts - 1]! * scale;
  const jittered = step * (1 - JITTER_FRACTION + 2 * JITTER_FRACTION * random);
  if (retryAfterMs === null) return Math.round(jittered);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs, step * RETRY_AFTER_CAP_FACTOR)));
}

/** Whether an endpoint failing since `failingSince` has failed for long enough to be disabled. */
export function failedTooLong(failingSince: Date, now: Date, scale: number): boolean {
  return now.getTime() - failingSince.getTime() >= FAILING_ENDPOINT_DISABLE_MS * scale;
}
