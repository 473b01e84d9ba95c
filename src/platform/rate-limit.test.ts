import { RateLimiter } from './rate-limit';

describe('RateLimiter', () => {
  it('allows a burst, then refuses with a retry-after hint, then refills at the rate', () => {
    let now = 0;
    const limiter = new RateLimiter(2, 3, () => now);
    expect([1, 2, 3].map(() => limiter.take('key').allowed)).toEqual([true, true, true]);
    expect(limiter.take('key')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    now += 500;
    expect(limiter.take('key').allowed).toBe(true);
    expect(limiter.take('key').allowed).toBe(false);
  });

  it('keeps one bucket per key', () => {
    const limiter = new RateLimiter(1, 1, () => 0);
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
    expect(limiter.take('b').allowed).toBe(true);
  });

  it('grants a lease of several requests up to what the bucket holds', () => {
    let now = 0;
    const limiter = new RateLimiter(2, 5, () => now);
    expect(limiter.takeUpTo('key', 3)).toEqual({ granted: 3, retryAfterSeconds: 0 });
    expect(limiter.takeUpTo('key', 3)).toEqual({ granted: 2, retryAfterSeconds: 0 });
    expect(limiter.takeUpTo('key', 3)).toEqual({ granted: 0, retryAfterSeconds: 1 });
    now += 1_000;
    expect(limiter.takeUpTo('key', 3)).toEqual({ granted: 2, retryAfterSeconds: 0 });
    expect(limiter.take('key').allowed).toBe(false);
  });

  it('allows everything when the rate is 0 (off)', () => {
    const limiter = new RateLimiter(0, 0);
    expect(Array.from({ length: 100 }, () => limiter.take('k').allowed).every(Boolean)).toBe(true);
  });
});
