import {
  ATTEMPTS_MAX,
  classify,
  failedTooLong,
  FAILING_ENDPOINT_DISABLE_MS,
  nextDelayMs,
  parseRetryAfter,
  RETRY_SCHEDULE_MS,
} from './retry.core';

const now = new Date('2026-12-04T00:00:00.000Z');
const response = (status: number, retryAfter: string | null = null, body = '') =>
  classify({ kind: 'response', status, retryAfter, body }, now);

describe('classify', () => {
  it('succeeds on every 2xx', () => {
    for (const status of [200, 201, 202, 204, 299]) expect(response(status).action).toBe('succeeded');
  });

  it('retries 408, 429, 5xx, timeouts and connection errors', () => {
    for (const status of [408, 429, 500, 502, 503, 599]) expect(response(status).action).toBe('retry');
    expect(classify({ kind: 'timeout' }, now)).toEqual({ action: 'retry', error: 'timed out', retryAfterMs: null });
    expect(classify({ kind: 'network', message: 'ECONNREFUSED: refused' }, now).action).toBe('retry');
  });

  it('fails for good on other 4xx and on redirects, and marks 410 as gone', () => {
    for (const status of [400, 401, 403, 404, 409, 413, 422, 301, 302, 307, 100]) {
      expect(response(status).action).toBe('failed');
    }
    expect(response(410, null, 'gone')).toEqual({ action: 'gone', error: 'HTTP 410: gone' });
  });

  it('keeps a short, one-line error from the body', () => {
    const verdict = response(500, null, `line one\n\tline two ${'x'.repeat(2000)}`);
    expect(verdict.action === 'retry' && verdict.error.startsWith('HTTP 500: line one line two x')).toBe(true);
    expect(verdict.action === 'retry' && verdict.error.length).toBe(500);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and ignores the rest', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(new Date(now.getTime() + 30_000).toUTCString(), now)).toBe(30_000);
    expect(parseRetryAfter(new Date(now.getTime() - 30_000).toUTCString(), now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe('nextDelayMs', () => {
  it('follows 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h within ±10 %, then gives up', () => {
    expect(RETRY_SCHEDULE_MS).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(ATTEMPTS_MAX).toBe(8);
    RETRY_SCHEDULE_MS.forEach((step, index) => {
      expect(nextDelayMs(index + 1, 1, 0, null)).toBe(Math.round(step * 0.9));
      expect(nextDelayMs(index + 1, 1, 0.5, null)).toBe(step);
      expect(nextDelayMs(index + 1, 1, 0.999999, null)).toBeLessThanOrEqual(Math.round(step * 1.1));
    });
    expect(nextDelayMs(8, 1, 0.5, null)).toBeNull();
    expect(nextDelayMs(0, 1, 0.5, null)).toBeNull();
  });

  it('scales the schedule', () => {
    expect(nextDelayMs(1, 0.001, 0.5, null)).toBe(5);
    expect(nextDelayMs(7, 0.5, 0.5, null)).toBe(18_000_000);
  });

  it('lets Retry-After lengthen a wait up to twice the step, never shorten it', () => {
    expect(nextDelayMs(1, 1, 0.5, 7_000)).toBe(7_000);
    expect(nextDelayMs(1, 1, 0.5, 3_600_000)).toBe(10_000);
    expect(nextDelayMs(1, 1, 0.5, 1_000)).toBe(5_000);
  });
});

it('disables an endpoint failing for five days, scaled', () => {
  const since = new Date(now.getTime() - FAILING_ENDPOINT_DISABLE_MS);
  expect(failedTooLong(since, now, 1)).toBe(true);
  expect(failedTooLong(new Date(since.getTime() + 1), now, 1)).toBe(false);
  expect(failedTooLong(new Date(now.getTime() - 432_000), now, 0.001)).toBe(true);
});
