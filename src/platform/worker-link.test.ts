import { RateLimiter } from './rate-limit';
import { RETRY_AFTER_FAILURE_MS } from './shared-rate-limit';
import { IpcTimeoutError, leaseSize } from './worker-ipc.core';
import { PrimaryRateLimiter } from './worker-link';

/** The primary's side of rate leases, in process: one bucket, as workers.ts keeps it. */
function primaryWith(buckets: RateLimiter) {
  const asked: number[] = [];
  let failing = false;
  return {
    asked,
    fail: (value: boolean) => (failing = value),
    link: {
      request: async (request: { kind: string; key: string; wanted: number }) => {
        asked.push(request.wanted);
        // An answer comes back on a later turn, as over IPC.
        await new Promise((resolve) => setImmediate(resolve));
        if (failing) throw new IpcTimeoutError('rateLease', 1_000);
        return buckets.takeUpTo(request.key, request.wanted);
      },
    } as never,
  };
}

describe('PrimaryRateLimiter', () => {
  it('spends a lease locally, asking the primary once per lease', async () => {
    const primary = primaryWith(new RateLimiter(5_000, 10_000, () => 0));
    const limiter = new PrimaryRateLimiter(primary.link, new RateLimiter(5_000, 10_000), {
      ratePerSecond: 5_000,
      burst: 10_000,
      workers: 2,
    });
    const size = leaseSize(5_000, 10_000, 2);
    for (let i = 0; i < size * 2; i += 1) expect((await limiter.take('key')).allowed).toBe(true);
    expect(primary.asked).toEqual([size, size]);
  });

  it('asks once for requests that arrive together, which share the lease', async () => {
    const primary = primaryWith(new RateLimiter(5_000, 10_000, () => 0));
    const limiter = new PrimaryRateLimiter(primary.link, new RateLimiter(5_000, 10_000), {
      ratePerSecond: 5_000,
      burst: 10_000,
      workers: 2,
    });
    const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.take('key')));
    expect(decisions.every((decision) => decision.allowed)).toBe(true);
    expect(primary.asked).toHaveLength(1);
  });

  it('never lets two workers together past the one bucket', async () => {
    const buckets = new RateLimiter(10, 7, () => 0);
    const workers = [0, 1].map(
      () =>
        new PrimaryRateLimiter(primaryWith(buckets).link, new RateLimiter(10, 7), {
          ratePerSecond: 10,
          burst: 7,
          workers: 2,
        }),
    );
    const decisions = await Promise.all(Array.from({ length: 20 }, (_, i) => workers[i % 2]!.take('key')));
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(7);
    expect(decisions.find((decision) => !decision.allowed)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it("falls back to the worker's own buckets when the primary does not answer, and tells once", async () => {
    const primary = primaryWith(new RateLimiter(1, 1, () => 0));
    primary.fail(true);
    const fallbacks: Error[] = [];
    const limiter = new PrimaryRateLimiter(
      primary.link,
      new RateLimiter(1, 2),
      { ratePerSecond: 1, burst: 2, workers: 2 },
      { onFallback: (error) => fallbacks.push(error) },
    );
    expect((await limiter.take('key')).allowed).toBe(true);
    expect((await limiter.take('key')).allowed).toBe(true);
    expect((await limiter.take('key')).allowed).toBe(false);
    expect(fallbacks).toHaveLength(1);
    // Within the retry delay the primary is not asked again.
    expect(primary.asked).toHaveLength(1);
    expect(RETRY_AFTER_FAILURE_MS).toBeGreaterThan(0);
  });
});
